package wire

import (
	"bytes"
	"compress/flate"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/meshgate/meshgate/discovery/model"
)

func long(c byte) string { return strings.Repeat(string(c), MaxNameLen) }

func sampleState() *model.ClusterState {
	c := &model.ClusterState{ID: "east", Network: "net-east", TrustDomain: "cluster.local",
		TrustBundle: []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"),
		Services: []model.Service{
			{Meta: model.Meta{Name: "reviews", Namespace: "default", Labels: map[string]string{"app": "reviews"},
				Annotations: map[string]string{"other": "dropped"}},
				Hostname: "reviews.default.svc.cluster.local", ClusterIP: "10.0.0.1", Type: "ClusterIP",
				Selector: map[string]string{"app": "reviews"},
				Ports:    []model.ServicePort{{Name: "http", Port: 9080, TargetPort: 9080, Protocol: "TCP"}},
				Endpoints: []model.Endpoint{{Address: "10.1.0.5", Ready: true, PodName: "reviews-v1-abc",
					Labels: map[string]string{"version": "v1"}, ServiceAccount: "bookinfo-reviews", TLSMode: "istio",
					Locality: model.Locality{Region: "eu", Zone: "eu-1"}, Network: "net-east",
					Ports: []model.EndpointPort{{Name: "http", Port: 9080}}}}},
			{Meta: model.Meta{Name: "hidden", Namespace: "default", Annotations: map[string]string{AnnotationExportTo: "~"}},
				Hostname: "hidden.default.svc.cluster.local"},
			{Meta: model.Meta{Name: "ext", Namespace: "default"}, Hostname: "ext.default.svc.cluster.local", Type: "ExternalName"},
		},
		Gateways:        []model.Gateway{{Meta: model.Meta{Name: "gw", Namespace: "istio-system"}}},
		Secrets:         []model.Secret{{Meta: model.Meta{Name: "cred"}, Data: map[string][]byte{"tls.key": []byte("k")}}},
		NetworkGateways: []model.NetworkGateway{{Network: "net-east", Cluster: "east", Address: "192.0.2.1", Port: 15443}},
	}
	c.Normalize()
	return c
}

func TestFramesRoundTrip(t *testing.T) {
	h := Hash{1, 2, 3}
	dg := Digest{Mesh: "mesh1", Cluster: "east", Origin: "east-1", Holder: "west-1", Generation: 42, Hash: h}
	b, err := EncodeDigest(dg)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := DecodeDigest(b); err != nil || got != dg {
		t.Fatalf("digest: %+v %v", got, err)
	}
	rq := Request{Mesh: "mesh1", Requester: "west-1", Cluster: "east", Have: 7}
	b, _ = EncodeRequest(rq)
	if got, err := DecodeRequest(b); err != nil || got != rq {
		t.Fatalf("request: %+v %v", got, err)
	}
	rec := Record{Cluster: "east", Origin: "east-1", Generation: 9, Hash: h, Body: []byte("xyz")}
	st := State{Mesh: "mesh1", Holder: "east-1", Record: rec}
	b, _ = EncodeState(st)
	if got, err := DecodeState(b, DefaultLimits); err != nil || !reflect.DeepEqual(got, st) {
		t.Fatalf("state: %+v %v", got, err)
	}
	pp := PushPull{Mesh: "mesh1", Holder: "east-1", Records: []Record{rec, rec},
		Digests: []Digest{{Mesh: "mesh1", Holder: "east-1", Cluster: "west", Origin: "west-1", Generation: 3, Hash: h}}}
	b, _ = EncodePushPull(pp)
	if got, err := DecodePushPull(b, DefaultLimits); err != nil || !reflect.DeepEqual(got, pp) {
		t.Fatalf("pushpull: %+v %v", got, err)
	}
	mt := Meta{Mesh: "mesh1", Cluster: "east"}
	b, _ = EncodeMeta(mt)
	if got, err := DecodeMeta(b); err != nil || got != mt {
		t.Fatalf("meta: %+v %v", got, err)
	}
}

// TestLargestDigestFitsAPacket checks the UDP budget with every name at its
// maximum length.
func TestLargestDigestFitsAPacket(t *testing.T) {
	b, err := EncodeDigest(Digest{Mesh: long('m'), Cluster: long('c'), Origin: long('o'), Holder: long('h'), Generation: ^uint64(0)})
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > MaxPacketFrame || MaxPacketFrame+64 > 1400 {
		t.Fatalf("largest digest is %d bytes; MaxPacketFrame %d", len(b), MaxPacketFrame)
	}
	t.Logf("largest digest: %d bytes", len(b))
}

func TestDecodeErrors(t *testing.T) {
	good, _ := EncodeDigest(Digest{Mesh: "m", Cluster: "c", Origin: "o", Holder: "h", Generation: 1})
	state, _ := EncodeState(State{Mesh: "m", Holder: "h", Record: Record{Cluster: "c", Origin: "o", Body: make([]byte, 100)}})
	tests := []struct {
		name string
		in   []byte
		dec  func([]byte) error
		want error
		msg  string
	}{
		{"empty", nil, decDigest, ErrCorrupt, "need at least 2"},
		{"version", append([]byte{9}, good[1:]...), decDigest, ErrVersion, "version 9"},
		{"wrong type", state, decDigest, ErrCorrupt, "frame type state"},
		{"truncated", good[:len(good)-3], decDigest, ErrCorrupt, "hash: truncated"},
		{"trailing", append(bytes.Clone(good), 0), decDigest, ErrCorrupt, "trailing"},
		{"bad name", []byte{Version, byte(TypeDigest), 2, 'a', ' '}, decDigest, ErrCorrupt, "mesh: byte 1"},
		{"oversized digest", append(bytes.Clone(good), make([]byte, MaxPacketFrame)...), decDigest, ErrOversized, "exceeds the limit 1024"},
		{"oversized state", state, func(b []byte) error { _, err := DecodeState(b, Limits{MaxFrame: 64, MaxBody: 64}); return err }, ErrOversized, "state frame of"},
		{"body length", state[:len(state)-50], func(b []byte) error { _, err := DecodeState(b, DefaultLimits); return err }, ErrCorrupt, "record.body: truncated"},
		{"too many records", []byte{Version, byte(TypePushPull), 1, 'm', 1, 'h', 0xff, 0xff, 0x03}, func(b []byte) error { _, err := DecodePushPull(b, DefaultLimits); return err }, ErrOversized, "records count"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.dec(tc.in)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("got %v, want %v containing %q", err, tc.want, tc.msg)
			}
		})
	}
}

func decDigest(b []byte) error { _, err := DecodeDigest(b); return err }

func TestBodyRoundTripStripsConfig(t *testing.T) {
	in := sampleState()
	in.UnreachableGateways = []model.NetworkGateway{{Network: "net-west", Cluster: "west", Address: "192.0.2.7", Port: 15443}}
	secret := []byte("kubeconfig")
	body := BodyFromState(in, secret)
	z, h, err := EncodeBody(&body)
	if err != nil {
		t.Fatal(err)
	}
	out, gotSecret, err := DecodeBody(&Record{Cluster: "east", Generation: 5, Hash: h, Body: z}, DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	if string(gotSecret.Plain) != "kubeconfig" || out.Generation != 5 || out.ID != "east" || out.Network != "net-east" {
		t.Fatalf("got %+v secret %q", out, gotSecret.Plain)
	}
	if len(out.Services) != 1 || out.Services[0].Hostname != "reviews.default.svc.cluster.local" {
		t.Fatalf("exported services: %+v", out.Services)
	}
	s := out.Services[0]
	if s.Selector != nil || s.Annotations != nil || s.Labels["app"] != "reviews" || s.Source != "federation:east" {
		t.Fatalf("service fields: %+v", s)
	}
	orig := in.Service("reviews.default.svc.cluster.local")
	want := orig.Endpoints
	if !reflect.DeepEqual(s.Endpoints, want) || !reflect.DeepEqual(s.Ports, orig.Ports) {
		t.Fatalf("endpoints %+v want %+v", s.Endpoints, want)
	}
	if out.Gateways != nil || out.Secrets != nil || !reflect.DeepEqual(out.NetworkGateways, in.NetworkGateways) {
		t.Fatalf("config objects travelled or gateways lost: %+v", out)
	}
	if !reflect.DeepEqual(out.UnreachableGateways, in.UnreachableGateways) {
		t.Fatalf("the owner's probe report: %+v, want %+v", out.UnreachableGateways, in.UnreachableGateways)
	}
	body2 := BodyFromState(in, secret)
	if _, h2, _ := EncodeBody(&body2); h2 != h {
		t.Fatal("equal bodies gave different hashes")
	}
	// An older decoder (a Body without the report) reads the same bytes.
	var old struct {
		Cluster         string           `json:"cluster"`
		NetworkGateways []NetworkGateway `json:"networkGateways"`
	}
	raw, _ := json.Marshal(&body)
	if err := json.Unmarshal(raw, &old); err != nil || old.Cluster != "east" || len(old.NetworkGateways) != len(in.NetworkGateways) {
		t.Fatalf("an older decoder: %+v %v", old, err)
	}
}

func compress(raw []byte) []byte {
	var buf bytes.Buffer
	zw, _ := flate.NewWriter(&buf, flate.BestSpeed)
	zw.Write(raw)
	zw.Close()
	return buf.Bytes()
}

func TestDecodeBodyErrors(t *testing.T) {
	rec := func(raw string) *Record {
		return &Record{Cluster: "east", Hash: sha256.Sum256([]byte(raw)), Body: compress([]byte(raw))}
	}
	bomb := strings.Repeat("a", 10000)
	tests := []struct {
		name string
		r    *Record
		want error
		msg  string
	}{
		{"not deflate", &Record{Cluster: "east", Body: []byte{0xff, 0xff, 0xff}}, ErrCorrupt, "decompress"},
		{"hash", &Record{Cluster: "east", Hash: Hash{1}, Body: compress([]byte(`{"cluster":"east"}`))}, ErrCorrupt, "hash mismatch"},
		{"bomb", rec(bomb), ErrOversized, "decompressed size"},
		{"json", rec(`{"cluster":`), ErrCorrupt, "unexpected end"},
		{"other cluster", rec(`{"cluster":"west"}`), ErrCorrupt, `body.cluster is "west"`},
		{"endpoint", rec(`{"cluster":"east","services":[{"name":"a","namespace":"ns","hostname":"a.ns","endpoints":[{"address":""}]}]}`), ErrCorrupt, "Service ns/a: endpoints[0].address: empty"},
		{"port", rec(`{"cluster":"east","services":[{"name":"a","namespace":"ns","hostname":"a.ns","ports":[{"port":70000}]}]}`), ErrCorrupt, "ports[0].port: 70000"},
		{"duplicate", rec(`{"cluster":"east","services":[{"name":"a","hostname":"h"},{"name":"b","hostname":"h"}]}`), ErrCorrupt, "duplicated"},
		{"gateway", rec(`{"cluster":"east","networkGateways":[{"network":"n","address":"1.2.3.4"}]}`), ErrCorrupt, "networkGateways[0]"},
		{"bundle", rec(`{"cluster":"east","trustBundle":"bm90IHBlbQ=="}`), ErrCorrupt, "trustBundle"},
		{"sealed after the generation", rec(`{"cluster":"east","sealedAt":9,"sealedSecrets":[{"recipient":"west","keyID":"AQ==","sealed":"AQ=="}]}`), ErrCorrupt, "sealedAt: 9, want 1..5"},
		{"sealed recipient", rec(`{"cluster":"east","sealedAt":5,"sealedSecrets":[{"recipient":"","keyID":"AQ==","sealed":"AQ=="}]}`), ErrCorrupt, "sealedSecrets[0].recipient: empty"},
		{"sealed twice", rec(`{"cluster":"east","sealedAt":5,"sealedSecrets":[{"recipient":"w","keyID":"AQ==","sealed":"AQ=="},{"recipient":"w","keyID":"AQ==","sealed":"AQ=="}]}`), ErrCorrupt, "sealedSecrets[1].recipient: w appears twice"},
		{"sealed empty", rec(`{"cluster":"east","sealedAt":5,"sealedSecrets":[{"recipient":"w","keyID":"AQ=="}]}`), ErrCorrupt, "sealedSecrets[0].sealed: 0 bytes"},
		{"report address", rec(`{"cluster":"east","unreachableGateways":[{"cluster":"west","address":"","port":15443}]}`), ErrCorrupt, "unreachableGateways[0]: address"},
		{"report cluster", rec(`{"cluster":"east","unreachableGateways":[{"cluster":"","address":"1.2.3.4","port":15443}]}`), ErrCorrupt, "unreachableGateways[0].cluster: empty"},
		{"sealing key", rec(`{"cluster":"east","sealingKey":"` + strings.Repeat("A", 400) + `"}`), ErrCorrupt, "sealingKey: 300 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.r.Generation = 5
			_, _, err := DecodeBody(tc.r, Limits{MaxFrame: 1 << 20, MaxBody: 4096})
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("got %v, want %v containing %q", err, tc.want, tc.msg)
			}
		})
	}
}

func TestEncodeRejectsBadNames(t *testing.T) {
	if _, err := EncodeDigest(Digest{Mesh: "", Cluster: "c", Origin: "o", Holder: "h"}); err == nil || !strings.Contains(err.Error(), "mesh: empty") {
		t.Fatalf("got %v", err)
	}
	if _, err := EncodeMeta(Meta{Mesh: "m", Cluster: long('c') + "x"}); err == nil || !strings.Contains(err.Error(), "cluster: longer") {
		t.Fatalf("got %v", err)
	}
}
