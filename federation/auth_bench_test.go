package federation

import (
	"fmt"
	"testing"
	"time"

	"github.com/meshgate/meshgate/federation/wire"
)

// The cost of signed records, printed by
//
//	go test ./federation -run TestFigureProofBytes -bench 'Record' -benchtime 2s
//
// BenchmarkSignRecord is what an owner pays per published generation,
// BenchmarkVerifyRecord what every receiver pays per accepted record
// (chain verification against the pinned bundle, SAN check, ECDSA).
func BenchmarkSignRecord(b *testing.B) {
	a := authOf(&testing.T{}, newCA(&testing.T{}), "b")
	r := wire.Record{Cluster: "b", Origin: "b-1", Generation: 7, Hash: wire.Hash{1}}
	for b.Loop() {
		r.Generation++
		if _, err := a.Sign(r.SignedBytes("mesh1")); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyRecord(b *testing.B) {
	a := authOf(&testing.T{}, newCA(&testing.T{}), "b")
	r := wire.Record{Cluster: "b", Origin: "b-1", Generation: 7, Hash: wire.Hash{1}}
	msg := r.SignedBytes("mesh1")
	p, err := a.Sign(msg)
	if err != nil {
		b.Fatal(err)
	}
	anchors := a.Anchors()
	for b.Loop() {
		if err := a.Verify("b", anchors, msg, p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyRecordNewChain is the first record of a signing key at a
// receiver: the chain is verified too (later ones find it cached).
func BenchmarkVerifyRecordNewChain(b *testing.B) {
	a := authOf(&testing.T{}, newCA(&testing.T{}), "b")
	r := wire.Record{Cluster: "b", Origin: "b-1", Generation: 7, Hash: wire.Hash{1}}
	msg := r.SignedBytes("mesh1")
	p, err := a.Sign(msg)
	if err != nil {
		b.Fatal(err)
	}
	anchors := a.Anchors()
	for b.Loop() {
		if err := new(X509Auth).Verify("b", anchors, msg, p); err != nil {
			b.Fatal(err)
		}
	}
}

// TestFigureProofBytes prints the bytes a proof adds to every record on the
// wire (a leaf under a root CA, and under an intermediate as with Istio's
// plug-in cacerts), and the trust bundle the body carries.
func TestFigureProofBytes(t *testing.T) {
	root := newCA(t)
	inter, err := root.NewIntermediate(root.TrustDomain(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	r := wire.Record{Cluster: "cluster-1", Origin: "cluster-1-0a1b2c3d", Generation: 7, Hash: wire.Hash{1}}
	for _, c := range []struct {
		name string
		a    *X509Auth
	}{{"root CA", authOf(t, root, "cluster-1")}, {"intermediate CA", authOf(t, inter, "cluster-1")}} {
		p, err := c.a.Sign(r.SignedBytes("mesh1"))
		if err != nil {
			t.Fatal(err)
		}
		if p.Size() < len(p.Sig)+len(p.Chain[0]) {
			t.Fatalf("proof size %d", p.Size())
		}
		fmt.Printf("FIGURE proof %s: %d bytes per record (%d certificates, signature %d B); trust bundle in the body %d B PEM\n",
			c.name, p.Size(), len(p.Chain), len(p.Sig), len(c.a.Anchors()))
	}
}
