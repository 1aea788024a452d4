package authn

import (
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/types/known/structpb"
)

func envoyNode(id string, md map[string]any) *corev3.Node {
	n := &corev3.Node{Id: id}
	if md != nil {
		s, err := structpb.NewStruct(md)
		if err != nil {
			panic(err)
		}
		n.Metadata = s
	}
	return n
}

func TestCheckNode(t *testing.T) {
	c := Caller{TrustDomain: localTD, Namespace: "gw-ns", ServiceAccount: "ingress", Method: MethodKubeToken}
	const id = "router~10.0.0.1~gw-1.gw-ns~gw-ns.svc.cluster.local"
	cases := []struct {
		name string
		n    *corev3.Node
		want []string // substrings of the error; nil = accepted
	}{
		{"bare node", envoyNode(id, nil), nil},
		{"matching metadata", envoyNode(id, map[string]any{"NAMESPACE": "gw-ns", "SERVICE_ACCOUNT": "ingress", "LABELS": map[string]any{"app": "x"}}), nil},
		{"empty metadata values", envoyNode(id, map[string]any{"NAMESPACE": "", "SERVICE_ACCOUNT": ""}), nil},
		{"id of another namespace", envoyNode("router~10.0.0.1~gw-1.prod~prod.svc.cluster.local", nil), []string{`names namespace "prod"`}},
		{"NAMESPACE of another namespace", envoyNode(id, map[string]any{"NAMESPACE": "prod"}), []string{"metadata NAMESPACE", "prod"}},
		{"another service account", envoyNode(id, map[string]any{"SERVICE_ACCOUNT": "admin"}), []string{"metadata SERVICE_ACCOUNT", "admin"}},
		{"every claim wrong", envoyNode("router~10.0.0.1~gw-1.prod~prod.svc.cluster.local", map[string]any{"NAMESPACE": "prod", "SERVICE_ACCOUNT": "admin"}),
			[]string{`"prod"`, "NAMESPACE", "SERVICE_ACCOUNT", "spiffe://cluster.local/ns/gw-ns/sa/ingress"}},
		// A node that does not parse is the xDS server's to refuse
		// (BindNode has overwritten NAMESPACE and SERVICE_ACCOUNT anyway).
		{"malformed id", envoyNode("garbage", nil), nil},
		{"non-string NAMESPACE", envoyNode(id, map[string]any{"NAMESPACE": 3.0}), nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckNode(c, tc.n)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("CheckNode: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("CheckNode accepted a node claiming another identity")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestBindNode(t *testing.T) {
	c := Caller{TrustDomain: localTD, Namespace: "gw-ns", ServiceAccount: "ingress"}
	for _, n := range []*corev3.Node{envoyNode("x", nil), envoyNode("x", map[string]any{"LABELS": map[string]any{"app": "gw"}})} {
		BindNode(c, n)
		md := n.GetMetadata().GetFields()
		if md["NAMESPACE"].GetStringValue() != "gw-ns" || md["SERVICE_ACCOUNT"].GetStringValue() != "ingress" {
			t.Fatalf("metadata after BindNode: %v", n.GetMetadata())
		}
	}
}
