package dataplane

import (
	"crypto/x509"
	"errors"
	"fmt"
	"regexp"
	"strings"

	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
)

// peerVerifier checks a peer's certificate chain like Envoy's default
// certificate validator: chain to trusted_ca (unless ACCEPT_UNTRUSTED), then
// at least one SAN matcher must match (when there are any). A nil verifier
// accepts everything (no validation context).
type peerVerifier struct {
	roots           *x509.CertPool // nil: chain not verified
	sans            []sanMatcher
	acceptUntrusted bool
	allowExpired    bool
}

type sanMatcher struct {
	typ   tlsv3.SubjectAltNameMatcher_SanType // UNSPECIFIED: any type (match_subject_alt_names)
	exact string                              // for DNS wildcard certificates
	match func(string) bool
}

// compileValidation compiles a CertificateValidationContext. partial means
// an SDS part will be merged in later, so a missing CA is not an error yet.
func compileValidation(vc *tlsv3.CertificateValidationContext, partial bool) (*peerVerifier, error) {
	if err := checkFields(vc, "trusted_ca", "system_root_certs", "watched_directory", "match_typed_subject_alt_names",
		"match_subject_alt_names", "allow_expired_certificate", "trust_chain_verification", "max_verify_depth",
		"suppress_client_ca_list", "only_verify_leaf_cert_crl"); err != nil {
		return nil, err
	}
	v := &peerVerifier{
		acceptUntrusted: vc.GetTrustChainVerification() == tlsv3.CertificateValidationContext_ACCEPT_UNTRUSTED,
		allowExpired:    vc.GetAllowExpiredCertificate(),
	}
	if vc.GetTrustedCa() != nil {
		pem, err := dataSource(vc.GetTrustedCa())
		if err != nil {
			return nil, at("trusted_ca", err)
		}
		v.roots = x509.NewCertPool()
		if !v.roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("trusted_ca: no PEM certificate found")
		}
	}
	if vc.GetSystemRootCerts() != nil {
		sys, err := x509.SystemCertPool()
		if err != nil {
			return nil, at("system_root_certs", err)
		}
		if v.roots != nil {
			return nil, fmt.Errorf("trusted_ca and system_root_certs are both set")
		}
		v.roots = sys
	}
	for i, m := range vc.GetMatchSubjectAltNames() {
		sm, err := compileStringMatcher(m)
		if err != nil {
			return nil, at(fmt.Sprintf("match_subject_alt_names[%d]", i), err)
		}
		v.sans = append(v.sans, sanMatcher{match: sm, exact: m.GetExact()})
	}
	for i, m := range vc.GetMatchTypedSubjectAltNames() {
		path := fmt.Sprintf("match_typed_subject_alt_names[%d]", i)
		if err := checkFields(m, "san_type", "matcher", "oid"); err != nil {
			return nil, at(path, err)
		}
		switch m.GetSanType() {
		case tlsv3.SubjectAltNameMatcher_DNS, tlsv3.SubjectAltNameMatcher_URI,
			tlsv3.SubjectAltNameMatcher_EMAIL, tlsv3.SubjectAltNameMatcher_IP_ADDRESS:
		default:
			return nil, fmt.Errorf("%s.san_type: %s is not supported", path, m.GetSanType())
		}
		sm, err := compileStringMatcher(m.GetMatcher())
		if err != nil {
			return nil, at(path+".matcher", err)
		}
		v.sans = append(v.sans, sanMatcher{typ: m.GetSanType(), match: sm, exact: m.GetMatcher().GetExact()})
	}
	if len(v.sans) > 0 && v.roots == nil && !partial && !v.acceptUntrusted {
		return nil, errors.New("subject alt name matchers without trusted_ca are not allowed (as in Envoy: insecure)")
	}
	return v, nil
}

func compileStringMatcher(m *matcherv3.StringMatcher) (func(string) bool, error) {
	if err := checkFields(m, "exact", "prefix", "suffix", "contains", "safe_regex", "ignore_case"); err != nil {
		return nil, err
	}
	fold := m.GetIgnoreCase()
	norm := func(s string) string {
		if fold {
			return strings.ToLower(s)
		}
		return s
	}
	switch p := m.GetMatchPattern().(type) {
	case *matcherv3.StringMatcher_Exact:
		want := norm(p.Exact)
		return func(s string) bool { return norm(s) == want }, nil
	case *matcherv3.StringMatcher_Prefix:
		want := norm(p.Prefix)
		return func(s string) bool { return strings.HasPrefix(norm(s), want) }, nil
	case *matcherv3.StringMatcher_Suffix:
		want := norm(p.Suffix)
		return func(s string) bool { return strings.HasSuffix(norm(s), want) }, nil
	case *matcherv3.StringMatcher_Contains:
		want := norm(p.Contains)
		return func(s string) bool { return strings.Contains(norm(s), want) }, nil
	case *matcherv3.StringMatcher_SafeRegex:
		if err := checkFields(p.SafeRegex, "regex", "google_re2"); err != nil {
			return nil, at("safe_regex", err)
		}
		expr := p.SafeRegex.GetRegex()
		if fold {
			expr = "(?i)" + expr
		}
		re, err := regexp.Compile("^(?:" + expr + ")$")
		if err != nil {
			return nil, fmt.Errorf("safe_regex: %v", err)
		}
		return re.MatchString, nil
	default:
		return nil, fmt.Errorf("string matcher: no supported pattern (exact, prefix, suffix, contains, safe_regex)")
	}
}

// verify checks a peer chain (leaf first).
func (v *peerVerifier) verify(chain []*x509.Certificate) error {
	if v == nil {
		return nil
	}
	if len(chain) == 0 {
		return errors.New("peer sent no certificate")
	}
	leaf := chain[0]
	if v.roots != nil && !v.acceptUntrusted {
		opts := x509.VerifyOptions{Roots: v.roots, Intermediates: x509.NewCertPool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}
		for _, c := range chain[1:] {
			opts.Intermediates.AddCert(c)
		}
		if v.allowExpired {
			opts.CurrentTime = leaf.NotBefore
		}
		if _, err := leaf.Verify(opts); err != nil {
			return fmt.Errorf("peer certificate: %v", err)
		}
	}
	if len(v.sans) == 0 {
		return nil
	}
	for _, m := range v.sans {
		if m.matches(leaf) {
			return nil
		}
	}
	return fmt.Errorf("peer certificate SANs %v match none of the configured subject alt name matchers", sanList(leaf))
}

func (m *sanMatcher) matches(c *x509.Certificate) bool {
	anyType := m.typ == tlsv3.SubjectAltNameMatcher_SAN_TYPE_UNSPECIFIED
	if anyType || m.typ == tlsv3.SubjectAltNameMatcher_DNS {
		for _, d := range c.DNSNames {
			if m.match(d) || (m.exact != "" && wildcardDNSMatch(d, m.exact)) {
				return true
			}
		}
	}
	if anyType || m.typ == tlsv3.SubjectAltNameMatcher_URI {
		for _, u := range c.URIs {
			if m.match(u.String()) {
				return true
			}
		}
	}
	if anyType || m.typ == tlsv3.SubjectAltNameMatcher_EMAIL {
		for _, e := range c.EmailAddresses {
			if m.match(e) {
				return true
			}
		}
	}
	if anyType || m.typ == tlsv3.SubjectAltNameMatcher_IP_ADDRESS {
		for _, ip := range c.IPAddresses {
			if m.match(ip.String()) {
				return true
			}
		}
	}
	return false
}

// wildcardDNSMatch: a certificate SAN "*.example.com" matches exactly one
// label, as Envoy's dnsNameMatch does for exact matchers.
func wildcardDNSMatch(san, name string) bool {
	suffix, ok := strings.CutPrefix(strings.ToLower(san), "*")
	if !ok || !strings.HasPrefix(suffix, ".") {
		return false
	}
	name = strings.ToLower(name)
	label, rest, found := strings.Cut(name, ".")
	return found && label != "" && "."+rest == suffix
}

func sanList(c *x509.Certificate) []string {
	out := append([]string{}, c.DNSNames...)
	for _, u := range c.URIs {
		out = append(out, u.String())
	}
	out = append(out, c.EmailAddresses...)
	for _, ip := range c.IPAddresses {
		out = append(out, ip.String())
	}
	return out
}
