package node

import (
	"reflect"
	"testing"
)

// FuzzParseID checks that ParseID never panics and that any accepted input
// re-encodes to exactly itself.
func FuzzParseID(f *testing.F) {
	for _, s := range []string{
		"router~10.0.0.7~eastwest-0.istio-system~istio-system.svc.cluster.local",
		"sidecar~fd00::1~c.default~default.svc.cluster.local",
		"router~10.0.0.1~x.ns~ns",
		"router~~.~.svc.",
		"~~~",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseID(s)
		if err != nil {
			if id != (ID{}) {
				t.Fatalf("ParseID(%q) returned %+v with error %v", s, id, err)
			}
			return
		}
		if got := id.String(); got != s {
			t.Fatalf("ParseID(%q) = %+v, re-encodes to %q", s, id, got)
		}
		if err := id.Validate(); err != nil {
			t.Fatalf("ParseID accepted %q but Validate rejects %+v: %v", s, id, err)
		}
	})
}

// FuzzIDRoundTrip checks ID → String → ParseID → the same ID for every ID
// that Validate accepts, and that ParseID refuses the others.
func FuzzIDRoundTrip(f *testing.F) {
	f.Add("router", "10.0.0.7", "gw-0", "istio-system", "cluster.local")
	f.Add("sidecar", "::1", "a.b", "ns", "x")
	f.Add("router", "1.2.3.4", "p", "a.b", "c")
	f.Fuzz(func(t *testing.T, typ, ip, pod, ns, suffix string) {
		id := ID{typ, ip, pod, ns, suffix}
		got, err := ParseID(id.String())
		if id.Validate() == nil {
			if err != nil || got != id {
				t.Fatalf("ParseID(%q) = %+v, %v; want %+v", id.String(), got, err, id)
			}
		} else if err == nil && got == id {
			t.Fatalf("Validate(%+v) fails but ParseID(%q) gives it back", id, id.String())
		}
	})
}

// FuzzMetadataRoundTrip checks Struct → ParseMetadata for Metadata built
// from arbitrary strings.
func FuzzMetadataRoundTrip(f *testing.F) {
	f.Add("app", "gw", "net1", "c1", "sni-dnat", "X", "y")
	f.Add("", "", "", "", "", "", "")
	f.Add("a", "b", "n", "c", "bad", "NETWORK", "z")
	f.Fuzz(func(t *testing.T, lk, lv, network, cluster, mode, ek, ev string) {
		m := Metadata{Labels: map[string]string{lk: lv}, Network: network, ClusterID: cluster, RouterMode: mode,
			Extra: map[string]string{ek: ev}}
		s, err := m.Struct()
		if m.Validate() != nil {
			if err == nil {
				t.Fatalf("Struct() of invalid %+v succeeded", m)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseMetadata(s)
		if err != nil || !reflect.DeepEqual(got, m) {
			t.Fatalf("ParseMetadata(%+v.Struct()) = %+v, %v", m, got, err)
		}
	})
}
