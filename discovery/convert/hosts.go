package convert

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/meshgate/meshgate/discovery/model"
)

func isDNS1123Label(s string) bool { return len(validation.IsDNS1123Label(s)) == 0 }

func isIP(s string) bool {
	_, err := netip.ParseAddr(s)
	return err == nil
}

// checkDomainLength is Istio's CheckDNS1123Preconditions.
func checkDomainLength(name string) error {
	if len(name) > 255 {
		return fmt.Errorf("domain name %q too long (max 255)", name)
	}
	if name == "" {
		return errors.New("empty domain name not allowed")
	}
	return nil
}

// validateDNSLabels checks every dot-separated label of domain (a trailing dot
// is allowed) and rejects an all-numeric top-level domain, as Istio does.
func validateDNSLabels(host, domain string) error {
	parts := strings.Split(domain, ".")
	if tld := parts[len(parts)-1]; tld != "" && strings.TrimLeft(strings.TrimLeft(tld, "+-"), "0123456789") == "" { // else Atoi fails, allocating its error
		if _, err := strconv.Atoi(tld); err == nil {
			return fmt.Errorf("invalid host %q: top-level domain %q cannot be all-numeric", host, tld)
		}
	}
	for i, label := range parts {
		if i == len(parts)-1 && label == "" && i > 0 {
			return nil
		}
		if label == "*" || strings.Contains(label, "*") {
			return fmt.Errorf("invalid host %q: label %q invalid: a wildcard is allowed only as the whole leftmost label", host, label)
		}
		if !isDNS1123Label(label) {
			return fmt.Errorf("invalid host %q: label %q invalid: %s", host, label, strings.Join(validation.IsDNS1123Label(label), "; "))
		}
	}
	return nil
}

// validateWildcardDomain accepts a DNS name whose leftmost label may be "*"
// ("*.example.com", or "*" alone). Partial wildcards ("*foo.com") are rejected.
func validateWildcardDomain(host string) error {
	if err := checkDomainLength(host); err != nil {
		return err
	}
	if host == "*" {
		return nil
	}
	if rest, ok := strings.CutPrefix(host, "*."); ok {
		return validateDNSLabels(host, rest)
	}
	return validateDNSLabels(host, host)
}

// validateFQDN accepts a DNS name without wildcards.
func validateFQDN(host string) error {
	if err := checkDomainLength(host); err != nil {
		return err
	}
	return validateDNSLabels(host, host)
}

// validateGatewayHost checks a Gateway server host: "[ns/]dnsName" where ns is
// "*", "." or a namespace, and dnsName is "*", a (wildcard) FQDN or an IP.
func validateGatewayHost(h string) error {
	host := h
	if ns, name, ok := strings.Cut(h, "/"); ok {
		if ns == "" || name == "" {
			return fmt.Errorf("invalid host %q: namespace and dnsName of a \"namespace/dnsName\" host cannot be empty", h)
		}
		if ns != "*" && ns != "." && !isDNS1123Label(ns) {
			return fmt.Errorf("invalid host %q: invalid namespace %q", h, ns)
		}
		host = name
	}
	if isIP(host) {
		return nil
	}
	if host != "*" && !strings.Contains(host, ".") {
		return fmt.Errorf("invalid host %q: short names (non FQDN) are not allowed", h)
	}
	return validateWildcardDomain(host)
}

// validateVirtualServiceHost checks a VirtualService host: a (wildcard) DNS
// name, a short name or an IP; "*" only when the VirtualService is bound to
// gateways alone.
func validateVirtualServiceHost(h string, appliesToMesh bool) error {
	if strings.Contains(h, "/") {
		return fmt.Errorf("invalid host %q: a VirtualService host cannot contain '/' (namespace/host is the form of Gateway hosts)", h)
	}
	if isIP(h) {
		return nil
	}
	if err := validateWildcardDomain(h); err != nil {
		return err
	}
	if h == "*" && appliesToMesh {
		return errors.New("wildcard host \"*\" is not allowed for virtual services bound to the mesh gateway")
	}
	return nil
}

// validateGatewayName checks a reference in a VirtualService's gateways:
// "mesh", "ns/name" or "name" (a legacy "name.ns" FQDN is accepted too).
func validateGatewayName(g string) error {
	if g == model.MeshGateway {
		return nil
	}
	if ns, name, ok := strings.Cut(g, "/"); ok {
		if !isDNS1123Label(ns) {
			return fmt.Errorf("invalid gateway %q: invalid namespace %q", g, ns)
		}
		if !isDNS1123Label(name) {
			return fmt.Errorf("invalid gateway %q: invalid name %q", g, name)
		}
		return nil
	}
	if err := validateFQDN(g); err != nil {
		return fmt.Errorf("invalid gateway %q: %v", g, err)
	}
	return nil
}

// hostsOverlap is Istio's host.Name.Matches: equal hosts, or one wildcard
// covering the other.
func hostsOverlap(a, b string) bool {
	return hostCovers(a, b) || hostCovers(b, a)
}

// hostCovers reports whether pattern (possibly "*" or "*.suffix") matches every
// name matched by h.
func hostCovers(pattern, h string) bool {
	if pattern == h || pattern == "*" {
		return true
	}
	if suffix, ok := strings.CutPrefix(pattern, "*"); ok {
		return strings.HasSuffix(h, suffix) && h != suffix[1:]
	}
	return false
}
