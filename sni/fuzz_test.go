package sni

import "testing"

// FuzzParse checks that Parse and ParseClusterName never panic and that any
// accepted input re-encodes to exactly itself.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"outbound_.8080_._.echo.ns1.svc.cluster.local",
		"outbound_.9080_.v2_.reviews.default.svc.cluster.local",
		"outbound|9080||reviews.default.svc.cluster.local",
		"outbound|443||*.example.com",
		"inbound_.80_._.x",
		"outbound_.0_._.x",
		"outbound||||",
		"outbound_._._._.",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if n, err := Parse(s); err == nil {
			if got := n.SNI(); got != s {
				t.Fatalf("Parse(%q) = %+v, re-encodes to %q", s, n, got)
			}
			if err := n.Validate(); err != nil {
				t.Fatalf("Parse accepted %q but Validate rejects %+v: %v", s, n, err)
			}
			// Every valid SNI name is also a valid cluster name.
			if m, err := ParseClusterName(n.ClusterName()); err != nil || m != n {
				t.Fatalf("cluster form of %+v: %+v, %v", n, m, err)
			}
		} else if n != (Name{}) {
			t.Fatalf("Parse(%q) returned %+v with error %v", s, n, err)
		}
		if n, err := ParseClusterName(s); err == nil {
			if got := n.ClusterName(); got != s {
				t.Fatalf("ParseClusterName(%q) = %+v, re-encodes to %q", s, n, got)
			}
			if err := n.ValidateCluster(); err != nil {
				t.Fatalf("ParseClusterName accepted %q but ValidateCluster rejects: %v", s, err)
			}
		}
		_, _, _ = ParseAny(s)
	})
}

// FuzzRoundTrip checks String → Parse → equal for every Name that Validate
// accepts, and ClusterName → ParseClusterName for every Name ValidateCluster
// accepts.
func FuzzRoundTrip(f *testing.F) {
	f.Add(uint32(8080), "", "echo.ns1.svc.cluster.local")
	f.Add(uint32(9080), "v2", "reviews.default.svc.cluster.local")
	f.Add(uint32(443), "", "*.example.com")
	f.Add(uint32(0), "a_b", "x..y")
	f.Fuzz(func(t *testing.T, port uint32, subset, host string) {
		n := Name{Port: port, Subset: subset, Host: host}
		if err := n.Validate(); err == nil {
			got, err := Parse(n.String())
			if err != nil || got != n {
				t.Fatalf("Parse(%q) = %+v, %v; want %+v", n.String(), got, err, n)
			}
		} else if _, err := Parse(n.String()); err == nil {
			t.Fatalf("Validate(%+v) = error but Parse(%q) accepted it", n, n.String())
		}
		if err := n.ValidateCluster(); err == nil {
			got, err := ParseClusterName(n.ClusterName())
			if err != nil || got != n {
				t.Fatalf("ParseClusterName(%q) = %+v, %v; want %+v", n.ClusterName(), got, err, n)
			}
		} else if _, err := ParseClusterName(n.ClusterName()); err == nil {
			t.Fatalf("ValidateCluster(%+v) = error but ParseClusterName(%q) accepted it", n, n.ClusterName())
		}
	})
}
