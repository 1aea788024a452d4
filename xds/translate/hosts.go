package translate

import (
	"net/netip"
	"strings"

	"github.com/meshgate/meshgate/discovery/model"
)

// Host matching follows Istio's host.Name semantics: a name starting with "*"
// is a wildcard matching any name with the same suffix ("*" matches all).

func isWildcard(h string) bool { return len(h) > 0 && h[0] == '*' }

// hostMatches reports whether two host patterns overlap.
func hostMatches(n, o string) bool {
	nw, ow := isWildcard(n), isWildcard(o)
	switch {
	case nw && ow:
		if len(n) < len(o) {
			return strings.HasSuffix(o[1:], n[1:])
		}
		return strings.HasSuffix(n[1:], o[1:])
	case nw:
		return strings.HasSuffix(o, n[1:])
	case ow:
		return strings.HasSuffix(n, o[1:])
	}
	return n == o
}

// hostSubsetOf reports whether every name matched by n is matched by o.
func hostSubsetOf(n, o string) bool {
	nw, ow := isWildcard(n), isWildcard(o)
	switch {
	case nw && ow:
		if len(n) < len(o) {
			return false
		}
		return strings.HasSuffix(n[1:], o[1:])
	case nw:
		return false
	case ow:
		return strings.HasSuffix(n, o[1:])
	}
	return n == o
}

// hostIntersection returns, in order of a, the most specific names in both a and b.
func hostIntersection(a, b []string) []string {
	var out []string
	add := func(h string) {
		for _, x := range out {
			if x == h {
				return
			}
		}
		out = append(out, h)
	}
	for _, x := range a {
		for _, y := range b {
			if hostSubsetOf(x, y) {
				add(x)
			} else if hostSubsetOf(y, x) {
				add(y)
			}
		}
	}
	return out
}

// hostsForNamespace strips "ns/" prefixes from gateway server hosts, keeping
// only hosts visible to namespace ("ns" equal or "*").
func hostsForNamespace(hosts []string, namespace string) []string {
	out := make([]string, 0, len(hosts))
	for _, h := range hosts {
		if ns, name, found := strings.Cut(h, "/"); found {
			if ns != namespace && ns != "*" {
				continue
			}
			h = name
		}
		out = append(out, h)
	}
	return out
}

// sanitizeServerHosts rewrites "./host" to "<gwns>/host", "*/host" to "host"
// and "*/*" to "*", as istiod does before merging gateways.
func sanitizeServerHosts(hosts []string, gwNamespace string) []string {
	out := make([]string, 0, len(hosts))
	for _, h := range hosts {
		ns, name, found := strings.Cut(h, "/")
		if !found {
			out = append(out, h)
			continue
		}
		switch ns {
		case ".":
			out = append(out, gwNamespace+"/"+name)
		case "*":
			if name == "*" {
				return []string{"*"}
			}
			out = append(out, name)
		default:
			out = append(out, h)
		}
	}
	return out
}

// sniHostsForServer returns the server hosts without namespaces, sorted, unique.
func sniHostsForServer(hosts []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, h := range hosts {
		if _, name, ok := strings.Cut(h, "/"); ok {
			h = name
		}
		if !seen[h] {
			seen[h] = true
			out = append(out, h)
		}
	}
	sortStrings(out)
	return out
}

// resolveShortName turns "reviews" into "reviews.<ns>.svc.<domain>"; names with
// a dot, "*" and IP addresses are kept.
func resolveShortName(h, namespace, domain string) string {
	if h == "" || h == "*" || strings.Contains(h, ".") {
		return h
	}
	if _, err := netip.ParseAddr(h); err == nil {
		return h
	}
	return h + "." + namespace + ".svc." + domain
}

// resolveGatewayName turns a VirtualService's gateway reference into "ns/name":
// "name" → "<vsns>/name", "./name" → "<vsns>/name", "name.ns[.svc…]" → "ns/name".
func resolveGatewayName(g, vsNamespace string) string {
	if g == model.MeshGateway {
		return g
	}
	if before, after, found := strings.Cut(g, "/"); found {
		if before == "." {
			return vsNamespace + "/" + after
		}
		return g
	}
	i := strings.IndexByte(g, '.')
	if i < 0 {
		return vsNamespace + "/" + g
	}
	rest := g[i+1:]
	if j := strings.IndexByte(rest, '.'); j >= 0 {
		rest = rest[:j]
	}
	return rest + "/" + g[:i]
}
