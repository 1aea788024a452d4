package node

import (
	"errors"
	"maps"
	"reflect"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/types/known/structpb"
)

func mustStruct(t *testing.T, m map[string]any) *structpb.Struct {
	t.Helper()
	s, err := structpb.NewStruct(m)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestMetadataRoundTrip(t *testing.T) {
	cases := []Metadata{
		{},
		{Labels: map[string]string{}},
		{Labels: map[string]string{"istio": "eastwestgateway", "app": "gw"}, Namespace: "istio-system", Network: "net1",
			ClusterID: "cluster1", Generator: GeneratorGRPC, ServiceAccount: "gw-sa", RouterMode: RouterModeSNIDNAT,
			IstioVersion: "1.32.0", Extra: map[string]string{"INTERCEPTION_MODE": "NONE", "EMPTY": ""}},
	}
	for _, m := range cases {
		s, err := m.Struct()
		if err != nil {
			t.Fatalf("%+v: %v", m, err)
		}
		got, err := ParseMetadata(s)
		if err != nil || !reflect.DeepEqual(got, m) {
			t.Errorf("ParseMetadata(%+v.Struct()) = %+v, %v", m, got, err)
		}
	}
}

// The wire form is Istio's: the keys, a struct of labels, empty fields omitted.
func TestMetadataWireForm(t *testing.T) {
	m := Metadata{Labels: map[string]string{"app": "gw"}, Network: "net1", ClusterID: "c1", Extra: map[string]string{"X": "y"}}
	s, err := m.Struct()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"LABELS": map[string]any{"app": "gw"}, "NETWORK": "net1", "CLUSTER_ID": "c1", "X": "y"}
	if got := s.AsMap(); !reflect.DeepEqual(got, want) {
		t.Errorf("Struct() = %v, want %v", got, want)
	}
}

func TestParseMetadata(t *testing.T) {
	// Keys of other kinds (Istio sends structs and lists) are ignored.
	m, err := ParseMetadata(mustStruct(t, map[string]any{
		"NETWORK": "net1", "PROXY_CONFIG": map[string]any{"concurrency": 2.0}, "INSTANCE_IPS": "10.0.0.1", "N": 1.0,
	}))
	if err != nil || m.Network != "net1" || !maps.Equal(m.Extra, map[string]string{"INSTANCE_IPS": "10.0.0.1"}) {
		t.Errorf("got %+v, %v", m, err)
	}
	if m, err := ParseMetadata(nil); err != nil || !reflect.DeepEqual(m, Metadata{}) {
		t.Errorf("nil struct: %+v, %v", m, err)
	}
	bad := []struct {
		name   string
		md     map[string]any
		fields []string
	}{
		{"network not a string", map[string]any{"NETWORK": true}, []string{"NETWORK"}},
		{"labels not a struct", map[string]any{"LABELS": "app=gw"}, []string{"LABELS"}},
		{"label not a string", map[string]any{"LABELS": map[string]any{"n": 1.0}}, []string{"LABELS.n"}},
		{"bad router mode", map[string]any{"ROUTER_MODE": "sni"}, []string{"ROUTER_MODE"}},
		{"every bad key", map[string]any{"CLUSTER_ID": 1.0, "NAMESPACE": []any{"a"}}, []string{"CLUSTER_ID", "NAMESPACE"}},
	}
	for _, tc := range bad {
		m, err := ParseMetadata(mustStruct(t, tc.md))
		var pe *ParseError
		if !errors.As(err, &pe) || pe.What != WhatMetadata {
			t.Errorf("%s: %+v, %v; want a metadata *ParseError", tc.name, m, err)
			continue
		}
		for _, f := range tc.fields {
			if !hasField(err, f) {
				t.Errorf("%s: error %v does not name %s", tc.name, err, f)
			}
		}
	}
}

func hasField(err error, field string) bool {
	var fe *FieldError
	if errors.As(err, &fe) && fe.Field == field {
		return true
	}
	switch u := err.(type) {
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			if hasField(e, field) {
				return true
			}
		}
	case interface{ Unwrap() error }:
		return hasField(u.Unwrap(), field)
	}
	return false
}

func TestMetadataSet(t *testing.T) {
	var m Metadata
	for k, v := range map[string]string{"NETWORK": "net1", "CLUSTER_ID": "c1", "NAMESPACE": "gws", "CUSTOM": "x"} {
		if err := m.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	want := Metadata{Network: "net1", ClusterID: "c1", Namespace: "gws", Extra: map[string]string{"CUSTOM": "x"}}
	if !reflect.DeepEqual(m, want) {
		t.Errorf("got %+v, want %+v", m, want)
	}
	if err := m.Set("LABELS", "a=b"); err == nil {
		t.Error("LABELS set as a string")
	}
	if err := m.Set("", "x"); err == nil {
		t.Error("empty key accepted")
	}
	if _, err := (Metadata{Extra: map[string]string{"NETWORK": "x"}}).Struct(); err == nil {
		t.Error("an Extra key that has a field of its own was sent")
	}
}

func TestFromEnvoy(t *testing.T) {
	n := Node{
		ID:       ID{TypeRouter, "10.0.0.5", "ingress-7d9", "istio-system", "cluster.local"},
		Metadata: Metadata{Labels: map[string]string{"istio": "ingressgateway"}, Namespace: "gateways", ClusterID: "east"},
	}
	en, err := n.Envoy()
	if err != nil {
		t.Fatal(err)
	}
	if en.GetId() != "router~10.0.0.5~ingress-7d9.istio-system~istio-system.svc.cluster.local" {
		t.Errorf("id = %q", en.GetId())
	}
	got, err := FromEnvoy(en)
	if err != nil || !reflect.DeepEqual(got, n) {
		t.Errorf("FromEnvoy = %+v, %v; want %+v", got, err, n)
	}
	if got.Namespace() != "gateways" {
		t.Errorf("Namespace() = %q: metadata NAMESPACE must win", got.Namespace())
	}
	if ns := (Node{ID: n.ID}).Namespace(); ns != "istio-system" {
		t.Errorf("Namespace() without metadata = %q", ns)
	}

	for _, tc := range []struct {
		name string
		node *corev3.Node
		what string
	}{
		{"nil node", nil, WhatID},
		{"no id", &corev3.Node{}, WhatID},
		{"bad id", &corev3.Node{Id: "router~10.0.0.1~x.ns"}, WhatID},
		{"bad metadata", &corev3.Node{Id: en.GetId(), Metadata: mustStruct(t, map[string]any{"NETWORK": 1.0})}, WhatMetadata},
	} {
		_, err := FromEnvoy(tc.node)
		var pe *ParseError
		if !errors.As(err, &pe) || pe.What != tc.what {
			t.Errorf("%s: err = %v, want a %s error", tc.name, err, tc.what)
		}
	}
	_, err = FromEnvoy(&corev3.Node{Id: en.GetId(), Metadata: mustStruct(t, map[string]any{"NETWORK": 1.0})})
	if want := `node "` + en.GetId() + `": invalid metadata: NETWORK: want a string`; err.Error() != want {
		t.Errorf("err = %v\nwant  %s", err, want)
	}
	if _, err := (Node{ID: ID{Type: "gateway"}}).Envoy(); err == nil {
		t.Error("Envoy() sent an invalid id")
	}
}
