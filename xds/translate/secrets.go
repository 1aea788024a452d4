package translate

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"

	"github.com/meshgate/meshgate/discovery/model"
)

// credential is a credentialName secret some TLS context refers to.
type credential struct {
	name  string // the Secret's name
	ca    bool   // the CA part (kubernetes://<name>-cacert)
	owner model.Ref
	field string
}

// useCredential records a gateway server's credentialName reference and returns its SDS name.
func (b *builder) useCredential(s *gwServer, name string, ca bool) string {
	return b.recordCredential(name, ca, s.ref(), s.field("tls.credentialName"))
}

// useClientCredential records a DestinationRule credentialName reference.
func (b *builder) useClientCredential(name string, ca bool) string {
	return b.recordCredential(name, ca, model.Ref{Kind: model.KindDestinationRule}, "spec.trafficPolicy.tls.credentialName")
}

func (b *builder) recordCredential(name string, ca bool, owner model.Ref, field string) string {
	if name == model.BuiltinCredential { // the proxy's own identity (istiod's builtin://)
		if ca {
			return SecretRootCA
		}
		return SecretDefault
	}
	sds := credentialPrefix + name
	if _, _, ok := model.ParseGatewayCredential(name); ok {
		// a Gateway API certificateRef names its Secret's namespace (the
		// conversion checked the ReferenceGrant); istiod serves it by that name
		sds = name
	}
	if ca {
		sds += caSuffix
	}
	if _, ok := b.credentials[sds]; !ok {
		b.credentials[sds] = credential{name: name, ca: ca, owner: owner, field: field}
	}
	return sds
}

// buildSecrets resolves credentialName references against Secrets in the
// proxy's namespace (istiod's rule). A missing Secret or key is a warning: the
// listener is still built and Envoy waits for the secret, as with istiod.
func (b *builder) buildSecrets() {
	for _, sds := range model.SortedKeys(b.credentials) {
		c := b.credentials[sds]
		ns, name := b.proxy.Namespace, c.name
		if gns, gname, ok := model.ParseGatewayCredential(c.name); ok {
			ns, name = gns, gname
		}
		sec := b.ix.local.Secret(ns, name)
		if c.ca {
			ca := firstKey(sec, "ca.crt", "cacert")
			if ca == nil {
				// Istio also accepts a separate <name>-cacert Secret.
				ca = firstKey(b.ix.local.Secret(b.proxy.Namespace, c.name+caSuffix), "ca.crt", "cacert", "tls.crt")
			}
			if ca == nil {
				b.warnf("%s: %s: no CA certificate (key ca.crt) in Secret %s/%s or %s/%s%s", c.owner, c.field,
					b.proxy.Namespace, c.name, b.proxy.Namespace, c.name, caSuffix)
				continue
			}
			b.out.Secrets = append(b.out.Secrets, &tlsv3.Secret{Name: sds, Type: &tlsv3.Secret_ValidationContext{
				ValidationContext: &tlsv3.CertificateValidationContext{TrustedCa: inlineBytes(ca)},
			}})
			continue
		}
		crt, key := firstKey(sec, "tls.crt", "cert"), firstKey(sec, "tls.key", "key")
		if crt == nil || key == nil {
			b.warnf("%s: %s: Secret %s/%s not found or without tls.crt/tls.key", c.owner, c.field, ns, name)
			continue
		}
		b.out.Secrets = append(b.out.Secrets, &tlsv3.Secret{Name: sds, Type: &tlsv3.Secret_TlsCertificate{
			TlsCertificate: &tlsv3.TlsCertificate{CertificateChain: inlineBytes(crt), PrivateKey: inlineBytes(key)},
		}})
	}
}

func firstKey(s *model.Secret, keys ...string) []byte {
	if s == nil {
		return nil
	}
	for _, k := range keys {
		if v, ok := s.Data[k]; ok && len(v) > 0 {
			return v
		}
	}
	return nil
}

func inlineBytes(b []byte) *corev3.DataSource {
	return &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: b}}
}
