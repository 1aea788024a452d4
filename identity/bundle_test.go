package identity

import (
	"bytes"
	"strings"
	"testing"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

func TestBundleSet(t *testing.T) {
	a1, a2, b := newCA(t, tdA), newCA(t, tdA), newCA(t, tdB)
	// Two clusters sharing trust domain A with different roots, plus B.
	set := NewBundleSet(a1.Bundle(), b.Bundle(), a2.Bundle())
	if set.Len() != 2 {
		t.Fatalf("set has %d trust domains, want 2", set.Len())
	}
	ba, _ := set.Get(tdA)
	if len(ba.X509Authorities()) != 2 || !ba.HasX509Authority(a1.Certificate()) || !ba.HasX509Authority(a2.Certificate()) {
		t.Fatalf("trust domain A does not hold both roots")
	}
	// Adding a bundle again changes nothing, and the input bundle is not retained.
	in := a1.Bundle()
	AddBundle(set, in)
	in.AddX509Authority(b.Certificate())
	if ba, _ := set.Get(tdA); len(ba.X509Authorities()) != 2 {
		t.Fatalf("AddBundle retained or duplicated: %d roots", len(ba.X509Authorities()))
	}

	// RootsPEM: all roots, deterministic whatever the order of additions.
	roots := RootsPEM(set)
	other := RootsPEM(NewBundleSet(b.Bundle(), a2.Bundle(), a1.Bundle()))
	if !bytes.Equal(roots, other) {
		t.Fatal("RootsPEM depends on the order bundles were added")
	}
	certs, err := ParseCertificatesPEM(roots)
	if err != nil || len(certs) != 3 {
		t.Fatalf("RootsPEM holds %d certificates (%v), want 3", len(certs), err)
	}
	// A root shared by two trust domains is written once.
	shared := NewBundleSet(a1.Bundle(), x509bundle.FromX509Authorities(tdB, a1.Roots()))
	if certs, _ := ParseCertificatesPEM(RootsPEM(shared)); len(certs) != 1 {
		t.Fatalf("shared root written %d times", len(certs))
	}

	// Bundle-set PEM round trip.
	enc := EncodeBundleSetPEM(set)
	dec, err := DecodeBundleSetPEM(enc)
	if err != nil {
		t.Fatal(err)
	}
	for _, td := range []spiffeid.TrustDomain{tdA, tdB} {
		want, _ := set.Get(td)
		got, ok := dec.Get(td)
		if !ok || !sameRoots(got, want) {
			t.Errorf("trust domain %s did not round-trip", td)
		}
	}
	if !bytes.Equal(EncodeBundleSetPEM(dec), enc) {
		t.Error("re-encoding a decoded set changed it")
	}

	// Single-bundle PEM.
	one, err := ParseBundlePEM(tdA, EncodeBundlePEM(ba))
	if err != nil || !sameRoots(one, ba) {
		t.Fatalf("ParseBundlePEM round trip: %v", err)
	}
}

func sameRoots(a, b *x509bundle.Bundle) bool {
	return bytes.Equal(EncodeBundlePEM(a), EncodeBundlePEM(b))
}

func TestBundlePEMErrors(t *testing.T) {
	ca := newCA(t, tdA)
	leaf := EncodeCertificatesPEM(issue(t, ca, gatewayID, 0).Certificates)
	rootPEM := EncodeCertificatesPEM(ca.Roots())
	tests := []struct {
		name, want string
		err        func() error
	}{
		{"no certificates", "no PEM certificate found", func() error { _, err := ParseBundlePEM(tdA, []byte("junk")); return err }},
		{"leaf as root", "is not a CA", func() error { _, err := ParseBundlePEM(tdA, leaf); return err }},
		{"no trust domain", "trust domain is required", func() error { _, err := ParseBundlePEM(spiffeid.TrustDomain{}, rootPEM); return err }},
		{"set without header", "header Trust-Domain", func() error { _, err := DecodeBundleSetPEM(rootPEM); return err }},
		{"set empty", "no PEM certificate found", func() error { _, err := DecodeBundleSetPEM(nil); return err }},
		{"set with junk", "trailing data", func() error {
			_, err := DecodeBundleSetPEM(append(EncodeBundleSetPEM(NewBundleSet(ca.Bundle())), "junk"...))
			return err
		}},
		{"set with leaf", "is not a CA", func() error {
			bad := bytes.Replace(leaf, []byte("-----BEGIN CERTIFICATE-----\n"), []byte("-----BEGIN CERTIFICATE-----\nTrust-Domain: cluster.local\n\n"), 1)
			_, err := DecodeBundleSetPEM(bad)
			return err
		}},
	}
	for _, tt := range tests {
		if err := tt.err(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want %q", tt.name, err, tt.want)
		}
	}
}
