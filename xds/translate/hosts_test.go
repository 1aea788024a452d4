package translate

import (
	"slices"
	"testing"
)

func TestHostMatching(t *testing.T) {
	cases := []struct {
		a, b            string
		matches, subset bool
	}{
		{"a.com", "a.com", true, true},
		{"a.com", "b.com", false, false},
		{"foo.a.com", "*.a.com", true, true},
		{"*.a.com", "foo.a.com", true, false},
		{"*.a.com", "*.com", true, true},
		{"*.com", "*.a.com", true, false},
		{"a.com", "*", true, true},
		{"*", "a.com", true, false},
		{"*", "*", true, true},
		{"a.com", "*.a.com", false, false}, // the wildcard needs a label in front
	}
	for _, c := range cases {
		if got := hostMatches(c.a, c.b); got != c.matches {
			t.Errorf("hostMatches(%q, %q) = %v, want %v", c.a, c.b, got, c.matches)
		}
		if got := hostSubsetOf(c.a, c.b); got != c.subset {
			t.Errorf("hostSubsetOf(%q, %q) = %v, want %v", c.a, c.b, got, c.subset)
		}
	}
}

func TestHostIntersection(t *testing.T) {
	cases := []struct{ server, vs, want []string }{
		{[]string{"*"}, []string{"bookinfo.com"}, []string{"bookinfo.com"}},
		{[]string{"bookinfo.com", "bookinfo.demo"}, []string{"*"}, []string{"bookinfo.com", "bookinfo.demo"}},
		{[]string{"*.com"}, []string{"bookinfo.com"}, []string{"bookinfo.com"}},
		{[]string{"bookinfo.com"}, []string{"bookinfo.demo"}, nil},
		{[]string{"*.foo.com"}, []string{"*.com"}, []string{"*.foo.com"}},
	}
	for _, c := range cases {
		if got := hostIntersection(c.server, c.vs); !slices.Equal(got, c.want) {
			t.Errorf("hostIntersection(%v, %v) = %v, want %v", c.server, c.vs, got, c.want)
		}
	}
}

func TestHostsForNamespaceAndSanitize(t *testing.T) {
	got := hostsForNamespace(sanitizeServerHosts([]string{"ns1/*", "./a.com", "*/b.com", "ns2/foo.bar.com"}, "gw"), "ns1")
	if want := []string{"*", "b.com"}; !slices.Equal(got, want) {
		t.Errorf("ns1 sees %v, want %v", got, want)
	}
	got = hostsForNamespace(sanitizeServerHosts([]string{"./a.com"}, "gw"), "gw")
	if want := []string{"a.com"}; !slices.Equal(got, want) {
		t.Errorf("gw sees %v, want %v", got, want)
	}
	if got := sanitizeServerHosts([]string{"a.com", "*/*"}, "gw"); !slices.Equal(got, []string{"*"}) {
		t.Errorf("*/* sanitised to %v", got)
	}
}

func TestResolveNames(t *testing.T) {
	for _, c := range []struct{ in, ns, want string }{
		{"reviews", "default", "reviews.default.svc.cluster.local"},
		{"reviews.prod.svc.cluster.local", "default", "reviews.prod.svc.cluster.local"},
		{"*", "default", "*"},
		{"10.0.0.1", "default", "10.0.0.1"},
		{"uk.bookinfo.com", "default", "uk.bookinfo.com"},
	} {
		if got := resolveShortName(c.in, c.ns, "cluster.local"); got != c.want {
			t.Errorf("resolveShortName(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	for _, c := range []struct{ in, ns, want string }{
		{"my-gw", "default", "default/my-gw"},
		{"istio-system/gw", "default", "istio-system/gw"},
		{"./gw", "bookinfo", "bookinfo/gw"},
		{"gw.istio-system.svc.cluster.local", "default", "istio-system/gw"},
		{"gw.istio-system", "default", "istio-system/gw"},
		{"mesh", "default", "mesh"},
	} {
		if got := resolveGatewayName(c.in, c.ns); got != c.want {
			t.Errorf("resolveGatewayName(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
