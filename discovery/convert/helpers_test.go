package convert

import (
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// spec decodes a YAML spec into an istio.io/api message (tests only: the
// converter itself never parses text).
func spec(t *testing.T, y string, m proto.Message) {
	t.Helper()
	js, err := yaml.YAMLToJSON([]byte(y))
	if err != nil {
		t.Fatalf("test YAML: %v", err)
	}
	if err := protojson.Unmarshal(js, m); err != nil {
		t.Fatalf("test spec: %v\n%s", err, y)
	}
}

func om(ns, name string) metav1.ObjectMeta { return metav1.ObjectMeta{Namespace: ns, Name: name} }

func gw(t *testing.T, y string) *networkingv1.Gateway {
	o := &networkingv1.Gateway{ObjectMeta: om("istio-system", "gw")}
	spec(t, y, &o.Spec)
	return o
}

func vs(t *testing.T, y string) *networkingv1.VirtualService {
	o := &networkingv1.VirtualService{ObjectMeta: om("default", "vs")}
	spec(t, y, &o.Spec)
	return o
}

func dr(t *testing.T, y string) *networkingv1.DestinationRule {
	o := &networkingv1.DestinationRule{ObjectMeta: om("default", "dr")}
	spec(t, y, &o.Spec)
	return o
}

func se(t *testing.T, y string) *networkingv1.ServiceEntry {
	o := &networkingv1.ServiceEntry{ObjectMeta: om("default", "se")}
	spec(t, y, &o.Spec)
	return o
}
