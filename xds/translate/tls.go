package translate

import (
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/meshgate/meshgate/discovery/model"
)

// downstreamTLS builds the DownstreamTlsContext of a TLS-terminating server,
// following istiod's BuildListenerTLSContext. File paths are given to Envoy
// directly (istiod serves them through its agent's SDS as file-cert: names;
// meshgate has no agent in the gateway pod).
func (b *builder) downstreamTLS(s *gwServer, tcpTermination bool) *tlsv3.DownstreamTlsContext {
	t := s.TLS
	mode := t.EffectiveMode()
	alpn := alpnHTTP
	if tcpTermination && mode == model.TLSIstioMutual {
		alpn = []string{"istio-peer-exchange", "h2", "http/1.1"}
	}
	ctx := &tlsv3.DownstreamTlsContext{
		CommonTlsContext:         &tlsv3.CommonTlsContext{AlpnProtocols: alpn},
		RequireClientCertificate: wrapperspb.Bool(mode == model.TLSMutual || mode == model.TLSIstioMutual),
	}
	validateClient := mode == model.TLSMutual || mode == model.TLSIstioMutual || mode == model.TLSOptionalMutual
	if !validateClient && len(t.SubjectAltNames) > 0 {
		// istiod puts them in a validation context without a trusted CA,
		// which Envoy rejects ("SAN-based verification of peer certificates
		// without trusted CA is insecure and not allowed"): the whole LDS
		// update would be NACKed. Istio's API says they need MUTUAL.
		b.out.Warnings = append(b.out.Warnings, model.Errorf(s.ref(), s.field("tls.subjectAltNames"),
			"ignored in %s mode: client certificates are checked only with MUTUAL or OPTIONAL_MUTUAL", mode))
	}
	common := ctx.CommonTlsContext
	switch {
	case mode == model.TLSIstioMutual:
		common.TlsCertificateSdsSecretConfigs = []*tlsv3.SdsSecretConfig{sdsConfig(SecretDefault)}
		vc := &tlsv3.CertificateValidationContext{}
		b.setSANs(vc, exactMatchers(t.SubjectAltNames))
		common.ValidationContextType = &tlsv3.CommonTlsContext_CombinedValidationContext{
			CombinedValidationContext: &tlsv3.CommonTlsContext_CombinedCertificateValidationContext{
				DefaultValidationContext:         vc,
				ValidationContextSdsSecretConfig: sdsConfig(SecretRootCA),
			},
		}
	case t.CredentialName != "" || len(t.CredentialNames) > 0:
		b.credentialTLS(s, common, validateClient)
	default:
		common.TlsCertificates = []*tlsv3.TlsCertificate{{
			CertificateChain: fileSource(t.ServerCertificate),
			PrivateKey:       fileSource(t.PrivateKey),
		}}
		if validateClient {
			vc := &tlsv3.CertificateValidationContext{}
			if t.CACertificates != "" {
				vc.TrustedCa = fileSource(t.CACertificates)
			}
			if t.CACRL != "" {
				vc.Crl = fileSource(t.CACRL)
			}
			b.setSANs(vc, exactMatchers(t.SubjectAltNames))
			common.ValidationContextType = &tlsv3.CommonTlsContext_ValidationContext{ValidationContext: vc}
		}
	}
	if mode == model.TLSSimple || mode == model.TLSMutual || mode == model.TLSOptionalMutual {
		applyTLSParams(t, common)
	}
	return ctx
}

// credentialTLS points the context at SDS secrets kubernetes://<name> (and
// kubernetes://<name>-cacert for client validation).
func (b *builder) credentialTLS(s *gwServer, common *tlsv3.CommonTlsContext, validateClient bool) {
	t := s.TLS
	names := t.CredentialNames
	if len(names) == 0 {
		names = []string{t.CredentialName}
	}
	for _, n := range names {
		common.TlsCertificateSdsSecretConfigs = append(common.TlsCertificateSdsSecretConfigs, sdsConfig(b.useCredential(s, n, false)))
	}
	if validateClient {
		vc := &tlsv3.CertificateValidationContext{
			VerifyCertificateSpki: t.VerifyCertificateSPKI,
			VerifyCertificateHash: t.VerifyCertificateHash,
		}
		b.setSANs(vc, exactMatchers(t.SubjectAltNames))
		common.ValidationContextType = &tlsv3.CommonTlsContext_CombinedValidationContext{
			CombinedValidationContext: &tlsv3.CommonTlsContext_CombinedCertificateValidationContext{
				DefaultValidationContext:         vc,
				ValidationContextSdsSecretConfig: sdsConfig(b.useCredential(s, names[0], true)),
			},
		}
	}
}

func applyTLSParams(t *model.ServerTLS, common *tlsv3.CommonTlsContext) {
	params := func() *tlsv3.TlsParameters {
		if common.TlsParams == nil {
			common.TlsParams = &tlsv3.TlsParameters{}
		}
		return common.TlsParams
	}
	if v, ok := tlsVersion(t.MinProtocolVersion); ok && v != tlsv3.TlsParameters_TLS_AUTO {
		params().TlsMinimumProtocolVersion = v
	}
	if len(t.CipherSuites) > 0 {
		params().CipherSuites = uniqueStrings(t.CipherSuites)
	}
	if v, ok := tlsVersion(t.MaxProtocolVersion); ok && v != tlsv3.TlsParameters_TLS_AUTO {
		params().TlsMaximumProtocolVersion = v
	}
}

// tlsVersion maps Istio's TLSV1_2 style names to Envoy's enum.
func tlsVersion(v string) (tlsv3.TlsParameters_TlsProtocol, bool) {
	switch strings.ToUpper(v) {
	case "", "TLS_AUTO":
		return tlsv3.TlsParameters_TLS_AUTO, true
	case "TLSV1_0":
		return tlsv3.TlsParameters_TLSv1_0, true
	case "TLSV1_1":
		return tlsv3.TlsParameters_TLSv1_1, true
	case "TLSV1_2":
		return tlsv3.TlsParameters_TLSv1_2, true
	case "TLSV1_3":
		return tlsv3.TlsParameters_TLSv1_3, true
	}
	return tlsv3.TlsParameters_TLS_AUTO, false
}

func fileSource(path string) *corev3.DataSource {
	return &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: path}}
}

func exactMatchers(sans []string) []*matcherv3.StringMatcher {
	var out []*matcherv3.StringMatcher
	for _, s := range sans {
		out = append(out, &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: s}})
	}
	return out
}

// setSANs sets the SAN matchers as istiod does: match_subject_alt_names,
// which Envoy checks against every SAN type (DNS, URI, email, IP) and gRPC-Go
// reads too (XDS-NOTES.md). Typed matchers would narrow each to one type.
func setSANs(vc *tlsv3.CertificateValidationContext, ms []*matcherv3.StringMatcher) {
	if len(ms) == 0 {
		return
	}
	vc.MatchSubjectAltNames = ms
}

// anySANType are the SAN types match_subject_alt_names checks.
var anySANType = []tlsv3.SubjectAltNameMatcher_SanType{
	tlsv3.SubjectAltNameMatcher_DNS, tlsv3.SubjectAltNameMatcher_EMAIL,
	tlsv3.SubjectAltNameMatcher_IP_ADDRESS, tlsv3.SubjectAltNameMatcher_URI,
}

// setSANs is setSANs for the proxy's flavour: upstream Envoy gets the
// non-deprecated typed matchers with the same meaning (each value against
// every SAN type) instead of match_subject_alt_names.
func (b *builder) setSANs(vc *tlsv3.CertificateValidationContext, ms []*matcherv3.StringMatcher) {
	if b.proxy.istioFilters() {
		setSANs(vc, ms)
		return
	}
	for _, m := range ms {
		for _, t := range anySANType {
			vc.MatchTypedSubjectAltNames = append(vc.MatchTypedSubjectAltNames, &tlsv3.SubjectAltNameMatcher{SanType: t, Matcher: m})
		}
	}
}

func uniqueStrings(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
