package convert

import "testing"

func TestHostValidation(t *testing.T) {
	tests := []struct {
		host          string
		gateway, vs   bool // valid as a Gateway server host / VirtualService host (bound to a gateway)
		vsMesh, dnsOK bool // valid for a mesh-bound VirtualService / as a wildcard DNS name
	}{
		{"*", true, true, false, true},
		{"*.example.com", true, true, true, true},
		{"example.com", true, true, true, true},
		{"example.com.", true, true, true, true},
		{"reviews", false, true, true, true},
		{"ns/example.com", true, false, false, false},
		{"./example.com", true, false, false, false},
		{"*/example.com", true, false, false, false},
		{"ns/*", true, false, false, false},
		{"10.1.2.3", true, true, true, false},
		{"bookinfo.*", false, false, false, false},
		{"a.*.com", false, false, false, false},
		{"*foo.com", false, false, false, false},
		{"**.com", false, false, false, false},
		{"Example.com", false, false, false, false},
		{"foo.123", false, false, false, false},
		{"", false, false, false, false},
		{"a..com", false, false, false, false},
		{"-a.com", false, false, false, false},
	}
	for _, tt := range tests {
		if got := validateGatewayHost(tt.host) == nil; got != tt.gateway {
			t.Errorf("gateway host %q valid = %v, want %v (%v)", tt.host, got, tt.gateway, validateGatewayHost(tt.host))
		}
		if got := validateVirtualServiceHost(tt.host, false) == nil; got != tt.vs {
			t.Errorf("virtual service host %q valid = %v, want %v", tt.host, got, tt.vs)
		}
		if got := validateVirtualServiceHost(tt.host, true) == nil; got != tt.vsMesh {
			t.Errorf("mesh virtual service host %q valid = %v, want %v", tt.host, got, tt.vsMesh)
		}
		if got := validateWildcardDomain(tt.host) == nil; got != tt.dnsOK {
			t.Errorf("wildcard domain %q valid = %v, want %v", tt.host, got, tt.dnsOK)
		}
	}
}

func TestHostOverlap(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"a.com", "a.com", true},
		{"*.foo.com", "*.com", true},
		{"a.foo.com", "*.foo.com", true},
		{"foo.com", "*.foo.com", false},
		{"a.com", "b.com", false},
		{"*", "anything.io", true},
	}
	for _, tt := range tests {
		if got := hostsOverlap(tt.a, tt.b); got != tt.want {
			t.Errorf("hostsOverlap(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestGatewayNameValidation(t *testing.T) {
	for name, ok := range map[string]bool{
		"mesh": true, "gw": true, "istio-system/gw": true, "gw.istio-system": true,
		"ns/Bad": false, "/gw": false, "ns/": false, "Bad_Gw": false,
	} {
		if got := validateGatewayName(name) == nil; got != ok {
			t.Errorf("gateway name %q valid = %v, want %v", name, got, ok)
		}
	}
}
