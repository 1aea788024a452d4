package identity

import (
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// BenchmarkIssueSVID measures one SVID issuance (P-256 key generation plus
// signing) by a self-signed CA; issuances/s is reported alongside ns/op.
func BenchmarkIssueSVID(b *testing.B) {
	ca := newCA(b, tdA)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ca.IssueX509SVID(gatewayID, SVIDOptions{TTL: time.Hour}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "issuances/s")
}

// BenchmarkIssueSVIDIntermediate is the same under an intermediate (the
// cacerts case): the chain is one certificate longer.
func BenchmarkIssueSVIDIntermediate(b *testing.B) {
	inter, err := newCA(b, tdA).NewIntermediate(spiffeid.TrustDomain{}, 0)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := inter.IssueX509SVID(gatewayID, SVIDOptions{TTL: time.Hour}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "issuances/s")
}

// BenchmarkManagerGet measures the hot path of a TLS handshake's
// GetCertificate: reading a current SVID.
func BenchmarkManagerGet(b *testing.B) {
	m, err := NewManager(newCA(b, tdA), ManagerConfig{}, ManagerOptions{Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := m.Get(gatewayID); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Get(gatewayID); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCertificateSecret measures building the "default" SDS secret.
func BenchmarkCertificateSecret(b *testing.B) {
	svid := issue(b, newCA(b, tdA), gatewayID, time.Hour)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := CertificateSecret(svid); err != nil {
			b.Fatal(err)
		}
	}
}
