package translate

import (
	"fmt"
	"testing"
	"time"

	"github.com/meshgate/meshgate/discovery/model"
)

// BenchmarkExplain is the cost of provenance: Explain records nothing while
// translating (Translate is unchanged), so an answer costs one translation
// of the proxy plus its lookups. At 5k services: translate alone, then each
// kind of question, with a federation history of three remote clusters
// (one withdrawn, whose held state Explain searches for what is missing).
func BenchmarkExplain(b *testing.B) {
	const n = 5000
	mesh := benchMesh(n)
	hist := []model.ClusterProvenance{
		{Cluster: "c2", Generation: 7, Owner: "c2-a", Peer: "c2-a", Status: model.ProvenanceServing, ReceivedAt: time.Unix(1, 0)},
		{Cluster: "c3", Generation: 9, Owner: "c3-a", Peer: "c2-a", Status: model.ProvenanceWithdrawn, Since: time.Unix(2, 0),
			Reason: "its last daemon c3-a went down", State: benchMesh(100).Clusters[0]},
		{Cluster: "c4", Status: model.ProvenanceRefused, Reason: "not admitted"},
	}
	b.Run(fmt.Sprintf("services=%d/translate", n), func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Translate(mesh, benchProxy, DefaultOptions()); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, q := range []Query{
		{Host: "svc-4321.example.com"},
		{Cluster: "outbound|8080|v1|svc-4321.ns-1.svc.cluster.local"},
		{Endpoint: "10.0.33.195:8080"},
		{Cluster: "outbound|8080|v1|missing.ns-1.svc.cluster.local"},
	} {
		b.Run(fmt.Sprintf("services=%d/explain %s", n, q), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ExplainWithHistory(mesh, benchProxy, DefaultOptions(), q, hist); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
