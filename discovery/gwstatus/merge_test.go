package gwstatus

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/meshgate/meshgate/discovery/model"
)

func ref(name, section string) gwv1.ParentReference {
	r := gwv1.ParentReference{Name: gwv1.ObjectName(name)}
	if section != "" {
		s := gwv1.SectionName(section)
		r.SectionName = &s
	}
	return r
}

func mref(name string) model.ParentRef { return model.ParentRef{Name: name} }

var accepted = []model.Condition{{Type: "Accepted", Status: "True", Reason: "Accepted", Message: "Route was valid", ObservedGeneration: 2}}

// Route parents: another controller's stay as they are, in place; ours are
// replaced in place, added at the end (descending parentRef order, as
// istiod), or removed when no longer wanted.
func TestRouteParents(t *testing.T) {
	then := metav1.NewTime(time.Unix(1000, 0))
	now := metav1.NewTime(time.Unix(2000, 0))
	cur := []gwv1.RouteParentStatus{
		{ParentRef: ref("gone", ""), ControllerName: controllerName, Conditions: []metav1.Condition{{Type: "Accepted", Status: "True", Reason: "Accepted"}}},
		{ParentRef: ref("theirs", ""), ControllerName: "example.com/envoy", Conditions: []metav1.Condition{{Type: "Accepted", Status: "False", Reason: "X"}}},
		{ParentRef: ref("kept", ""), ControllerName: controllerName, Conditions: []metav1.Condition{
			{Type: "Accepted", Status: "True", Reason: "Accepted", Message: "Route was valid", ObservedGeneration: 1, LastTransitionTime: then},
			{Type: "Custom", Status: "True", Reason: "Other"},
		}},
	}
	want := []model.RouteParentStatus{{ParentRef: mref("kept"), Conditions: accepted}, {ParentRef: mref("a"), Conditions: accepted}, {ParentRef: mref("b"), Conditions: accepted}}
	got := routeParents(cur, want, "apps", now)
	var names []string
	for _, p := range got {
		names = append(names, string(p.ParentRef.Name)+"/"+string(p.ControllerName))
	}
	wantNames := []string{"theirs/example.com/envoy", "kept/istio.io/gateway-controller", "b/istio.io/gateway-controller", "a/istio.io/gateway-controller"}
	if len(names) != len(wantNames) {
		t.Fatalf("parents %v, want %v", names, wantNames)
	}
	for i := range names {
		if names[i] != wantNames[i] {
			t.Fatalf("parents %v, want %v", names, wantNames)
		}
	}
	if got[0].Conditions[0].Reason != "X" {
		t.Errorf("another controller's parent changed: %+v", got[0])
	}
	k := got[1].Conditions
	if len(k) != 2 || k[0].ObservedGeneration != 2 || !k[0].LastTransitionTime.Equal(&then) || k[1].Type != "Custom" {
		t.Errorf("kept parent: %+v (status unchanged: lastTransitionTime kept; other condition types kept)", k)
	}
	if cur[2].Conditions[0].ObservedGeneration != 1 {
		t.Error("the current status was modified")
	}
	// nothing wanted: ours go, theirs stay
	if got := routeParents(cur, nil, "apps", now); len(got) != 1 || got[0].ControllerName != "example.com/envoy" {
		t.Errorf("without status: %+v", got)
	}
	// the same again: no change
	again := routeParents(got, want, "apps", now)
	if len(again) != 4 || !again[3].Conditions[0].LastTransitionTime.Equal(&now) {
		t.Errorf("again: %+v", again)
	}
}

// A Gateway's addresses are kept when none is known now; its listeners
// follow the spec's.
func TestGatewayStatusMerge(t *testing.T) {
	now := metav1.Now()
	ip := gwv1.IPAddressType
	cur := gwv1.GatewayStatus{Addresses: []gwv1.GatewayStatusAddress{{Type: &ip, Value: "1.2.3.4"}},
		Listeners: []gwv1.ListenerStatus{{Name: "old"}, {Name: "http", Conditions: []metav1.Condition{{Type: "Accepted", Status: "True", Reason: "Accepted", Message: "No errors found"}}}}}
	want := &model.GatewayStatus{Conditions: accepted, Listeners: []model.ListenerStatus{{Name: "http", AttachedRoutes: 3, SupportedKinds: []string{"HTTPRoute"},
		Conditions: []model.Condition{{Type: "Accepted", Status: "True", Reason: "Accepted", Message: "No errors found"}}}}}
	got := gatewayStatus(cur, want, now)
	if len(got.Addresses) != 1 || got.Addresses[0].Value != "1.2.3.4" {
		t.Errorf("addresses %+v", got.Addresses)
	}
	if len(got.Listeners) != 1 || got.Listeners[0].AttachedRoutes != 3 || *got.Listeners[0].SupportedKinds[0].Group != "gateway.networking.k8s.io" {
		t.Errorf("listeners %+v", got.Listeners)
	}
	want.Addresses = []model.GatewayStatusAddress{{Type: "Hostname", Value: "gw.ns.svc.cluster.local"}}
	if got := gatewayStatus(cur, want, now); len(got.Addresses) != 1 || *got.Addresses[0].Type != gwv1.HostnameAddressType {
		t.Errorf("addresses %+v", got.Addresses)
	}
}
