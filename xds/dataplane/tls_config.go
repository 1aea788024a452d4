package dataplane

import (
	"crypto/tls"
	"fmt"
	"strings"
	"sync/atomic"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	rawbufferv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/raw_buffer/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/proto"
)

// commonTLS is a validated CommonTlsContext. Certificates and validation may
// come from SDS; they are resolved against the current secrets per connection
// (and cached until the secrets change).
type commonTLS struct {
	certs     []certRef
	valStatic *tlsv3.CertificateValidationContext // inline or combined default; may be nil
	valSDS    string                              // SDS validation context; "" = none
	alpn      []string
	params    tlsParams
}

type certRef struct {
	sds    string
	inline *tls.Certificate
}

// upstreamTLS is a validated UpstreamTlsContext.
type upstreamTLS struct {
	common      commonTLS
	sni         string
	renegotiate bool
	cache       atomic.Pointer[resolvedTLS]
	socketName  string // transport socket (match) name, for errors
}

// downstreamTLS is a validated DownstreamTlsContext.
type downstreamTLS struct {
	common          commonTLS
	requireClient   bool
	requireSNI      bool
	noSessionTicket bool
	cache           atomic.Pointer[resolvedTLS]
}

// resolvedTLS caches a tls.Config built against one secret set.
type resolvedTLS struct {
	secrets *secretSet
	cfg     *tls.Config
	err     error
	logged  atomic.Bool // err was logged (once per secret set, not per connection)
}

func transportSocketType(ts *corev3.TransportSocket) (string, error) {
	if err := checkFields(ts, "name", "typed_config"); err != nil {
		return "", err
	}
	if ts.GetTypedConfig() == nil {
		return "", fmt.Errorf("%s: typed_config is missing", ts.GetName())
	}
	return string(ts.GetTypedConfig().MessageName()), nil
}

var (
	upstreamTLSType   = string((&tlsv3.UpstreamTlsContext{}).ProtoReflect().Descriptor().FullName())
	downstreamTLSType = string((&tlsv3.DownstreamTlsContext{}).ProtoReflect().Descriptor().FullName())
	rawBufferType     = string((&rawbufferv3.RawBuffer{}).ProtoReflect().Descriptor().FullName())
)

// validateUpstreamTLS validates a cluster transport socket: nil means plain
// TCP (raw_buffer).
func validateUpstreamTLS(ts *corev3.TransportSocket) (*upstreamTLS, error) {
	typ, err := transportSocketType(ts)
	if err != nil {
		return nil, err
	}
	switch typ {
	case rawBufferType:
		return nil, nil
	case upstreamTLSType:
	default:
		return nil, fmt.Errorf("unsupported transport socket %s (%s); supported: %s, %s", ts.GetName(), typ, upstreamTLSType, rawBufferType)
	}
	ctx := &tlsv3.UpstreamTlsContext{}
	if err := unpack(ts.GetTypedConfig(), ctx); err != nil {
		return nil, err
	}
	if err := pgv(ctx); err != nil {
		return nil, err
	}
	if err := checkFields(ctx, "common_tls_context", "sni", "allow_renegotiation", "max_session_keys", "enforce_rsa_key_usage"); err != nil {
		return nil, at("UpstreamTlsContext", err)
	}
	u := &upstreamTLS{sni: ctx.GetSni(), renegotiate: ctx.GetAllowRenegotiation(), socketName: ts.GetName()}
	if u.common, err = validateCommonTLS(ctx.GetCommonTlsContext()); err != nil {
		return nil, at("UpstreamTlsContext.common_tls_context", err)
	}
	return u, nil
}

// validateDownstreamTLS validates a filter chain transport socket: TLS
// termination with a DownstreamTlsContext.
func validateDownstreamTLS(ts *corev3.TransportSocket) (*downstreamTLS, error) {
	typ, err := transportSocketType(ts)
	if err != nil {
		return nil, err
	}
	switch typ {
	case rawBufferType:
		return nil, nil
	case downstreamTLSType:
	default:
		return nil, fmt.Errorf("unsupported transport socket %s (%s); supported: %s, %s", ts.GetName(), typ, downstreamTLSType, rawBufferType)
	}
	ctx := &tlsv3.DownstreamTlsContext{}
	if err := unpack(ts.GetTypedConfig(), ctx); err != nil {
		return nil, err
	}
	if err := pgv(ctx); err != nil {
		return nil, err
	}
	if err := checkFields(ctx, "common_tls_context", "require_client_certificate", "require_sni",
		"disable_stateless_session_resumption", "disable_stateful_session_resumption", "session_timeout",
		"ocsp_staple_policy", "full_scan_certs_on_sni_mismatch", "prefer_client_ciphers"); err != nil {
		return nil, at("DownstreamTlsContext", err)
	}
	d := &downstreamTLS{
		requireClient: ctx.GetRequireClientCertificate().GetValue(), requireSNI: ctx.GetRequireSni().GetValue(),
		noSessionTicket: ctx.GetDisableStatelessSessionResumption(),
	}
	if d.common, err = validateCommonTLS(ctx.GetCommonTlsContext()); err != nil {
		return nil, at("DownstreamTlsContext.common_tls_context", err)
	}
	if len(d.common.certs) == 0 {
		return nil, fmt.Errorf("DownstreamTlsContext.common_tls_context: no certificate (tls_certificates or tls_certificate_sds_secret_configs)")
	}
	if d.requireClient && d.common.valStatic == nil && d.common.valSDS == "" {
		return nil, fmt.Errorf("DownstreamTlsContext: require_client_certificate without a validation context")
	}
	return d, nil
}

func validateCommonTLS(c *tlsv3.CommonTlsContext) (commonTLS, error) {
	var out commonTLS
	if c == nil {
		return out, nil
	}
	if err := checkFields(c, "tls_params", "tls_certificates", "tls_certificate_sds_secret_configs",
		"validation_context", "validation_context_sds_secret_config", "combined_validation_context", "alpn_protocols"); err != nil {
		return out, err
	}
	var err error
	if out.params, err = compileTLSParams(c.GetTlsParams()); err != nil {
		return out, at("tls_params", err)
	}
	out.alpn = c.GetAlpnProtocols()
	for i, tc := range c.GetTlsCertificates() {
		cert, err := loadTLSCertificate(tc)
		if err != nil {
			return out, at(fmt.Sprintf("tls_certificates[%d]", i), err)
		}
		out.certs = append(out.certs, certRef{inline: cert})
	}
	for i, s := range c.GetTlsCertificateSdsSecretConfigs() {
		if err := checkSDSConfig(s); err != nil {
			return out, at(fmt.Sprintf("tls_certificate_sds_secret_configs[%d]", i), err)
		}
		out.certs = append(out.certs, certRef{sds: s.GetName()})
	}
	switch v := c.GetValidationContextType().(type) {
	case *tlsv3.CommonTlsContext_ValidationContext:
		out.valStatic = v.ValidationContext
	case *tlsv3.CommonTlsContext_ValidationContextSdsSecretConfig:
		if err := checkSDSConfig(v.ValidationContextSdsSecretConfig); err != nil {
			return out, at("validation_context_sds_secret_config", err)
		}
		out.valSDS = v.ValidationContextSdsSecretConfig.GetName()
	case *tlsv3.CommonTlsContext_CombinedValidationContext:
		cv := v.CombinedValidationContext
		if err := checkFields(cv, "default_validation_context", "validation_context_sds_secret_config"); err != nil {
			return out, at("combined_validation_context", err)
		}
		if err := checkSDSConfig(cv.GetValidationContextSdsSecretConfig()); err != nil {
			return out, at("combined_validation_context.validation_context_sds_secret_config", err)
		}
		out.valStatic, out.valSDS = cv.GetDefaultValidationContext(), cv.GetValidationContextSdsSecretConfig().GetName()
	case nil:
	default:
		return out, fmt.Errorf("unsupported validation context type %T", v)
	}
	if out.valStatic != nil {
		// Compile now to reject bad matchers or CAs; SDS parts are merged per connection.
		if _, err := compileValidation(out.valStatic, out.valSDS != ""); err != nil {
			return out, at("validation_context", err)
		}
	}
	return out, nil
}

// checkSDSConfig accepts secrets fetched over the ADS stream: sds_config
// absent, ads or self. Any other config source (e.g. Istio's sds-grpc agent
// cluster) is not available to the built-in gateway.
func checkSDSConfig(s *tlsv3.SdsSecretConfig) error {
	if err := checkFields(s, "name", "sds_config"); err != nil {
		return err
	}
	if s.GetName() == "" {
		return fmt.Errorf("name is empty")
	}
	return at("sds_config", checkADSConfigSource(s.GetSdsConfig()))
}

// checkADSConfigSource accepts nil, ads {} and self {}.
func checkADSConfigSource(cs *corev3.ConfigSource) error {
	if cs == nil {
		return nil
	}
	if err := checkFields(cs, "ads", "self", "resource_api_version", "initial_fetch_timeout", "authorities"); err != nil {
		return fmt.Errorf("%w; only ads (the gateway's own ADS stream) is supported", err)
	}
	if cs.GetAds() == nil && cs.GetSelf() == nil {
		return fmt.Errorf("neither ads nor self is set; only ads (the gateway's own ADS stream) is supported")
	}
	return nil
}

// loadTLSCertificate parses a TlsCertificate (inline or from a secret).
func loadTLSCertificate(tc *tlsv3.TlsCertificate) (*tls.Certificate, error) {
	if err := checkFields(tc, "certificate_chain", "private_key", "ocsp_staple", "watched_directory"); err != nil {
		return nil, err
	}
	chain, err := dataSource(tc.GetCertificateChain())
	if err != nil {
		return nil, at("certificate_chain", err)
	}
	key, err := dataSource(tc.GetPrivateKey())
	if err != nil {
		return nil, at("private_key", err)
	}
	cert, err := tls.X509KeyPair(chain, key)
	if err != nil {
		// tls.X509KeyPair's errors never contain key material.
		return nil, fmt.Errorf("certificate_chain/private_key: %v", err)
	}
	return &cert, nil
}

// tlsParams are compiled TlsParameters; zero values mean Go's defaults.
type tlsParams struct {
	min, max uint16
	ciphers  []uint16
	curves   []tls.CurveID
}

var tlsVersions = map[tlsv3.TlsParameters_TlsProtocol]uint16{
	tlsv3.TlsParameters_TLSv1_0: tls.VersionTLS10, tlsv3.TlsParameters_TLSv1_1: tls.VersionTLS11,
	tlsv3.TlsParameters_TLSv1_2: tls.VersionTLS12, tlsv3.TlsParameters_TLSv1_3: tls.VersionTLS13,
}

// cipherNames maps BoringSSL (Envoy) names to Go's suites; Go's own IANA
// names are accepted too.
var cipherNames = func() map[string]uint16 {
	m := map[string]uint16{
		"ECDHE-ECDSA-AES128-GCM-SHA256": tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
		"ECDHE-RSA-AES128-GCM-SHA256":   tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
		"ECDHE-ECDSA-AES256-GCM-SHA384": tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
		"ECDHE-RSA-AES256-GCM-SHA384":   tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
		"ECDHE-ECDSA-CHACHA20-POLY1305": tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
		"ECDHE-RSA-CHACHA20-POLY1305":   tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		"ECDHE-ECDSA-AES128-SHA":        tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
		"ECDHE-RSA-AES128-SHA":          tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
		"ECDHE-ECDSA-AES256-SHA":        tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
		"ECDHE-RSA-AES256-SHA":          tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
		"AES128-GCM-SHA256":             tls.TLS_RSA_WITH_AES_128_GCM_SHA256,
		"AES256-GCM-SHA384":             tls.TLS_RSA_WITH_AES_256_GCM_SHA384,
		"AES128-SHA":                    tls.TLS_RSA_WITH_AES_128_CBC_SHA,
		"AES256-SHA":                    tls.TLS_RSA_WITH_AES_256_CBC_SHA,
	}
	for _, s := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		m[s.Name] = s.ID
	}
	return m
}()

var curveNames = map[string]tls.CurveID{
	"X25519": tls.X25519, "P-256": tls.CurveP256, "prime256v1": tls.CurveP256, "P-384": tls.CurveP384,
	"secp384r1": tls.CurveP384, "P-521": tls.CurveP521, "secp521r1": tls.CurveP521, "X25519MLKEM768": tls.X25519MLKEM768,
}

func compileTLSParams(p *tlsv3.TlsParameters) (tlsParams, error) {
	var out tlsParams
	if p == nil {
		return out, nil
	}
	if err := checkFields(p, "tls_minimum_protocol_version", "tls_maximum_protocol_version", "cipher_suites", "ecdh_curves"); err != nil {
		return out, err
	}
	out.min, out.max = tlsVersions[p.GetTlsMinimumProtocolVersion()], tlsVersions[p.GetTlsMaximumProtocolVersion()]
	if out.min != 0 && out.max != 0 && out.min > out.max {
		return out, fmt.Errorf("tls_minimum_protocol_version %s is above tls_maximum_protocol_version %s",
			p.GetTlsMinimumProtocolVersion(), p.GetTlsMaximumProtocolVersion())
	}
	for _, group := range p.GetCipherSuites() {
		// BoringSSL equal-preference groups: "[A|B]".
		for _, name := range strings.Split(strings.Trim(group, "[]"), "|") {
			id, ok := cipherNames[name]
			if !ok {
				return out, fmt.Errorf("cipher_suites: unknown cipher suite %q", name)
			}
			out.ciphers = append(out.ciphers, id)
		}
	}
	for _, name := range p.GetEcdhCurves() {
		id, ok := curveNames[name]
		if !ok {
			return out, fmt.Errorf("ecdh_curves: unknown curve %q", name)
		}
		out.curves = append(out.curves, id)
	}
	return out, nil
}

func (p *tlsParams) apply(c *tls.Config) {
	c.MinVersion, c.MaxVersion = p.min, p.max
	if c.MinVersion == 0 {
		c.MinVersion = tls.VersionTLS12
	}
	c.CipherSuites, c.CurvePreferences = p.ciphers, p.curves
}

// resolve returns the certificates and peer verifier of c against secrets;
// an SDS secret not received yet is an error.
func (c *commonTLS) resolve(secrets *secretSet) ([]tls.Certificate, *peerVerifier, error) {
	var certs []tls.Certificate
	for _, r := range c.certs {
		if r.inline != nil {
			certs = append(certs, *r.inline)
			continue
		}
		s := secrets.get(r.sds)
		if s == nil || s.cert == nil {
			return nil, nil, fmt.Errorf("SDS secret %q with a tls_certificate has not been received", r.sds)
		}
		certs = append(certs, *s.cert)
	}
	vc := c.valStatic
	if c.valSDS != "" {
		s := secrets.get(c.valSDS)
		if s == nil || s.validation == nil {
			return nil, nil, fmt.Errorf("SDS secret %q with a validation_context has not been received", c.valSDS)
		}
		// Envoy merges the dynamic context into the default one.
		merged := &tlsv3.CertificateValidationContext{}
		if vc != nil {
			merged = proto.Clone(vc).(*tlsv3.CertificateValidationContext)
		}
		proto.Merge(merged, s.validation)
		vc = merged
	}
	if vc == nil {
		return certs, nil, nil
	}
	v, err := compileValidation(vc, false)
	if err != nil {
		return nil, nil, fmt.Errorf("validation context: %w", err)
	}
	return certs, v, nil
}

// config returns the client tls.Config of u against secrets (cached).
// firstErr is true the first time an error is returned for this secret set.
func (u *upstreamTLS) config(secrets *secretSet) (cfg *tls.Config, firstErr bool, err error) {
	r := u.resolve(secrets)
	if r.err != nil {
		return nil, r.logged.CompareAndSwap(false, true), r.err
	}
	return r.cfg, false, nil
}

func (u *upstreamTLS) resolve(secrets *secretSet) *resolvedTLS {
	if r := u.cache.Load(); r != nil && r.secrets == secrets {
		return r
	}
	r := &resolvedTLS{secrets: secrets}
	certs, v, err := u.common.resolve(secrets)
	if err != nil {
		r.err = err
	} else {
		r.cfg = &tls.Config{
			ServerName: u.sni, NextProtos: u.common.alpn, Certificates: certs,
			InsecureSkipVerify: true, // verification is Envoy's, done in VerifyConnection
			VerifyConnection: func(cs tls.ConnectionState) error {
				return v.verify(cs.PeerCertificates)
			},
		}
		if u.renegotiate {
			r.cfg.Renegotiation = tls.RenegotiateFreelyAsClient
		}
		u.common.params.apply(r.cfg)
	}
	u.cache.Store(r)
	return r
}

// config returns the server tls.Config of d against secrets (cached).
func (d *downstreamTLS) config(secrets *secretSet) (*tls.Config, error) {
	if r := d.cache.Load(); r != nil && r.secrets == secrets {
		return r.cfg, r.err
	}
	r := &resolvedTLS{secrets: secrets}
	certs, v, err := d.common.resolve(secrets)
	if err != nil {
		r.err = err
		d.cache.Store(r)
		return nil, err
	}
	base := &tls.Config{Certificates: certs, SessionTicketsDisabled: d.noSessionTicket}
	d.common.params.apply(base)
	switch {
	case d.requireClient:
		base.ClientAuth = tls.RequireAnyClientCert
	case v != nil:
		base.ClientAuth = tls.RequestClientCert
	}
	base.VerifyConnection = func(cs tls.ConnectionState) error {
		if d.requireSNI && cs.ServerName == "" {
			return fmt.Errorf("client sent no SNI and require_sni is set")
		}
		if len(cs.PeerCertificates) == 0 {
			if d.requireClient {
				return fmt.Errorf("client certificate required")
			}
			return nil
		}
		return v.verify(cs.PeerCertificates)
	}
	alpn := d.common.alpn
	base.GetConfigForClient = func(chi *tls.ClientHelloInfo) (*tls.Config, error) {
		// Like BoringSSL: negotiate the first server protocol the client
		// offers, and no ALPN (rather than a handshake failure) when none is common.
		c := base.Clone()
		c.GetConfigForClient = nil
		c.NextProtos = nil
		for _, p := range alpn {
			for _, q := range chi.SupportedProtos {
				if p == q && c.NextProtos == nil {
					c.NextProtos = []string{p}
				}
			}
		}
		return c, nil
	}
	r.cfg = base
	d.cache.Store(r)
	return r.cfg, nil
}

// sdsNames appends the SDS secret names c references.
func (c *commonTLS) sdsNames(out map[string]bool) {
	for _, r := range c.certs {
		if r.sds != "" {
			out[r.sds] = true
		}
	}
	if c.valSDS != "" {
		out[c.valSDS] = true
	}
}
