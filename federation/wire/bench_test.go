package wire

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/meshgate/meshgate/discovery/model"
)

// bigState is a cluster of 100 services × 100 endpoints (10k endpoints) with
// Kubernetes-like labels, localities and service accounts.
func bigState() *model.ClusterState {
	c := &model.ClusterState{ID: "east", Network: "net-east", TrustDomain: "cluster.local"}
	for s := range 100 {
		svc := model.Service{Meta: model.Meta{Name: fmt.Sprintf("svc-%03d", s), Namespace: "team-" + fmt.Sprint(s%7),
			Labels: map[string]string{"app": fmt.Sprintf("svc-%03d", s)}},
			Hostname: fmt.Sprintf("svc-%03d.team-%d.svc.cluster.local", s, s%7), ClusterIP: fmt.Sprintf("10.96.%d.%d", s/250, s%250+1),
			Type: "ClusterIP", Ports: []model.ServicePort{{Name: "http", Port: 8080, TargetPort: 8080, Protocol: "TCP"}, {Name: "grpc", Port: 9090, Protocol: "TCP"}}}
		for e := range 100 {
			svc.Endpoints = append(svc.Endpoints, model.Endpoint{Address: fmt.Sprintf("10.%d.%d.%d", 10+s/100, s%100, e+1),
				Ready: true, PodName: fmt.Sprintf("svc-%03d-7d9f8c6b5-%05d", s, e), ServiceAccount: fmt.Sprintf("svc-%03d", s), TLSMode: "istio",
				Labels:   map[string]string{"app": fmt.Sprintf("svc-%03d", s), "version": fmt.Sprintf("v%d", e%3), "pod-template-hash": "7d9f8c6b5", "security.istio.io/tlsMode": "istio"},
				Locality: model.Locality{Region: "eu-west-1", Zone: fmt.Sprintf("eu-west-1%c", 'a'+e%3)}, Network: "net-east",
				NodeName: fmt.Sprintf("node-%02d", e%40), Ports: []model.EndpointPort{{Name: "grpc", Port: 9090}, {Name: "http", Port: 8080}}})
		}
		c.Services = append(c.Services, svc)
	}
	c.Normalize()
	return c
}

// BenchmarkEncodeBody10k reports the full-state size of a 10k-endpoint
// cluster: raw JSON and compressed (what travels) bytes.
func BenchmarkEncodeBody10k(b *testing.B) {
	c := bigState()
	body := BodyFromState(c, make([]byte, 3000))
	z, _, _ := EncodeBody(&body)
	raw := 0
	if r, _, err := DecodeBody(&Record{Cluster: "east", Hash: hashOf(&body), Body: z}, DefaultLimits); err != nil || len(r.Services) != 100 {
		b.Fatal(err)
	}
	raw = rawSize(&body)
	b.ResetTimer()
	for b.Loop() {
		if _, _, err := EncodeBody(&body); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(raw), "json-bytes")
	b.ReportMetric(float64(len(z)), "compressed-bytes")
}

// BenchmarkDecodeBody10k measures checking and decoding a received 10k-endpoint state.
func BenchmarkDecodeBody10k(b *testing.B) {
	body := BodyFromState(bigState(), nil)
	z, h, _ := EncodeBody(&body)
	rec := &Record{Cluster: "east", Hash: h, Body: z}
	for b.Loop() {
		if _, _, err := DecodeBody(rec, DefaultLimits); err != nil {
			b.Fatal(err)
		}
	}
}

func hashOf(b *Body) Hash { _, h, _ := EncodeBody(b); return h }

func rawSize(b *Body) int {
	raw, _ := json.Marshal(b)
	return len(raw)
}

// BenchmarkDelta10k: one endpoint of the 10k-endpoint cluster moves. It
// reports the delta's bytes against the full compressed body, and times
// computing the delta (EncodeDelta: once per change and base, shared by
// every requester); BenchmarkApplyDelta10k times rebuilding it.
func BenchmarkDelta10k(b *testing.B) {
	base, raw, _ := deltaPair(b)
	var d []byte
	for b.Loop() {
		var err error
		if d, err = EncodeDelta(base, raw); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(d)), "delta-bytes")
	b.ReportMetric(float64(len(CompressBody(raw))), "full-bytes")
}

func BenchmarkApplyDelta10k(b *testing.B) {
	base, raw, h := deltaPair(b)
	d, err := EncodeDelta(base, raw)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := ApplyDelta(base, d, h, DefaultLimits); err != nil {
			b.Fatal(err)
		}
	}
}

// deltaPair is bigState's body before and after one endpoint moved (raw
// JSON), and the hash of the second.
func deltaPair(b *testing.B) (base, raw []byte, h Hash) {
	c := bigState()
	body := BodyFromState(c, nil)
	base, _ = json.Marshal(&body)
	c.Services[42].Endpoints[17].Address = "10.200.0.1"
	c.Normalize()
	body = BodyFromState(c, nil)
	raw, _ = json.Marshal(&body)
	return base, raw, sha256.Sum256(raw)
}

// BenchmarkReceiveDelta10k: what a receiver does with a state delta for
// the 10k-endpoint cluster before it verifies the record: rebuild the body,
// compress it for the stored record, and decode the state. from-raw
// decodes the rebuilt JSON (DecodeRaw, what federation does); from-body
// decompresses and hashes the stored body again (DecodeBody).
func BenchmarkReceiveDelta10k(b *testing.B) {
	base, raw, h := deltaPair(b)
	d, err := EncodeDelta(base, raw)
	if err != nil {
		b.Fatal(err)
	}
	for _, fromRaw := range []bool{true, false} {
		b.Run(map[bool]string{true: "from-raw", false: "from-body"}[fromRaw], func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				got, err := ApplyDelta(base, d, h, DefaultLimits)
				if err != nil {
					b.Fatal(err)
				}
				rec := &Record{Cluster: "east", Hash: h, Body: CompressBody(got)}
				if fromRaw {
					_, _, err = DecodeRaw(rec, got)
				} else {
					_, _, err = DecodeBody(rec, DefaultLimits)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
