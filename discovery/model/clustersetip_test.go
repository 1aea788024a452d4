package model

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
)

func csSvc(ns, name, created, typ string) ClusterSetService {
	return ClusterSetService{Name: name, Namespace: ns, Hostname: ClusterSetHostname(name, ns), Created: created, Type: typ}
}

func TestAllocateClusterSetIPs(t *testing.T) {
	prefix := netip.MustParsePrefix("10.96.128.0/24")
	var set []ClusterSetService
	for i := range 100 {
		set = append(set, csSvc("ns", fmt.Sprintf("svc-%03d", i), fmt.Sprintf("2026-01-01T00:00:%02dZ", i%60), ImportClusterSetIP))
	}
	set = append(set, csSvc("ns", "headless", "", ImportHeadless))
	got := AllocateClusterSetIPs(set, prefix)
	if len(got) != 100 {
		t.Fatalf("%d addresses for 100 ClusterSetIP services", len(got))
	}
	if _, ok := got["ns/headless"]; ok {
		t.Errorf("a headless service got an address")
	}
	seen := map[netip.Addr]string{}
	for k, a := range got {
		if !prefix.Contains(a) || a == prefix.Addr() || a == netip.MustParseAddr("10.96.128.255") {
			t.Errorf("%s: %s is not a usable address of %s", k, a, prefix)
		}
		if o, dup := seen[a]; dup {
			t.Errorf("%s and %s share %s", k, o, a)
		}
		seen[a] = k
	}

	// every cluster computes the same, whatever order its set is in
	rev := slices.Clone(set)
	slices.Reverse(rev)
	if again := AllocateClusterSetIPs(rev, prefix); !mapsEqual(again, got) {
		t.Errorf("the allocation depends on the order of the set")
	}
	// a newer export never moves an older service's address
	grown := append(slices.Clone(set), csSvc("ns", "newer", "2027-01-01T00:00:00Z", ImportClusterSetIP))
	after := AllocateClusterSetIPs(grown, prefix)
	for k, a := range got {
		if after[k] != a {
			t.Errorf("%s moved from %s to %s when a newer service was exported", k, a, after[k])
		}
	}
	if !after["ns/newer"].IsValid() || seen[after["ns/newer"]] != "" {
		t.Errorf("the newer service got %s (taken by %q)", after["ns/newer"], seen[after["ns/newer"]])
	}
}

// TestAllocateClusterSetIPsCollisions fills a prefix with room for two: the
// two oldest services get the two addresses, the third none.
func TestAllocateClusterSetIPsCollisions(t *testing.T) {
	prefix := netip.MustParsePrefix("192.0.2.0/30") // .1 and .2 usable
	set := []ClusterSetService{
		csSvc("a", "third", "2026-03-01T00:00:00Z", ImportClusterSetIP),
		csSvc("a", "first", "2026-01-01T00:00:00Z", ImportClusterSetIP),
		csSvc("a", "second", "2026-02-01T00:00:00Z", ImportClusterSetIP),
	}
	got := AllocateClusterSetIPs(set, prefix)
	want := map[netip.Addr]bool{netip.MustParseAddr("192.0.2.1"): true, netip.MustParseAddr("192.0.2.2"): true}
	if len(got) != 2 || !want[got["a/first"]] || !want[got["a/second"]] || got["a/first"] == got["a/second"] {
		t.Errorf("got %v, want a/first and a/second on .1 and .2, a/third without", got)
	}
	// IPv6: a /120 of a ULA prefix
	p6 := netip.MustParsePrefix("fd00:10:96::/120")
	got6 := AllocateClusterSetIPs(set, p6)
	if len(got6) != 3 {
		t.Fatalf("IPv6: %v", got6)
	}
	for k, a := range got6 {
		if !p6.Contains(a) || a == p6.Addr() {
			t.Errorf("IPv6 %s: %s", k, a)
		}
	}
	if len(AllocateClusterSetIPs(set, netip.Prefix{})) != 0 {
		t.Errorf("an invalid prefix allocated addresses")
	}
}

func mapsEqual(a, b map[string]netip.Addr) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
