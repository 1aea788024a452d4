package gwstatus

import (
	"cmp"
	"slices"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/meshgate/meshgate/discovery/convert"
	"github.com/meshgate/meshgate/discovery/model"
)

// controllerName is the controller whose route parents meshgate writes.
const controllerName = gwv1.GatewayController(convert.IstioGatewayController)

// mergeConditions sets want into a copy of have: a condition whose status,
// reason, message and observedGeneration are unchanged is kept as it is;
// a changed one gets now as its lastTransitionTime when its status changed
// (else it keeps it); conditions of other types are kept.
func mergeConditions(have []metav1.Condition, want []model.Condition, now metav1.Time) []metav1.Condition {
	out := slices.Clone(have)
	for _, w := range want {
		c := metav1.Condition{Type: w.Type, Status: metav1.ConditionStatus(w.Status), Reason: w.Reason, Message: w.Message,
			ObservedGeneration: w.ObservedGeneration, LastTransitionTime: now}
		if old := meta.FindStatusCondition(out, w.Type); old != nil && old.Status == c.Status && old.Reason == c.Reason &&
			old.Message == c.Message && old.ObservedGeneration == c.ObservedGeneration {
			continue
		}
		meta.SetStatusCondition(&out, c) // keeps lastTransitionTime when the status is unchanged
	}
	return out
}

// classStatus is cur with want's conditions.
func classStatus(cur gwv1.GatewayClassStatus, want *model.GatewayClassStatus, now metav1.Time) gwv1.GatewayClassStatus {
	out := *cur.DeepCopy()
	out.Conditions = mergeConditions(cur.Conditions, want.Conditions, now)
	return out
}

// gatewayStatus is cur with want's conditions, listeners (in want's
// order; a listener's conditions merged with its current ones) and
// addresses (cur's kept when want has none).
func gatewayStatus(cur gwv1.GatewayStatus, want *model.GatewayStatus, now metav1.Time) gwv1.GatewayStatus {
	out := *cur.DeepCopy()
	out.Conditions = mergeConditions(cur.Conditions, want.Conditions, now)
	if len(want.Addresses) > 0 {
		out.Addresses = nil
		for _, a := range want.Addresses {
			t := gwv1.AddressType(a.Type)
			out.Addresses = append(out.Addresses, gwv1.GatewayStatusAddress{Type: &t, Value: a.Value})
		}
	}
	listeners := make([]gwv1.ListenerStatus, 0, len(want.Listeners))
	for _, l := range want.Listeners {
		var have []metav1.Condition
		if i := slices.IndexFunc(cur.Listeners, func(c gwv1.ListenerStatus) bool { return string(c.Name) == l.Name }); i >= 0 {
			have = cur.Listeners[i].Conditions
		}
		kinds := make([]gwv1.RouteGroupKind, 0, len(l.SupportedKinds))
		for _, k := range l.SupportedKinds {
			g := gwv1.Group(convert.GatewayAPIGroup)
			kinds = append(kinds, gwv1.RouteGroupKind{Group: &g, Kind: gwv1.Kind(k)})
		}
		listeners = append(listeners, gwv1.ListenerStatus{Name: gwv1.SectionName(l.Name), AttachedRoutes: l.AttachedRoutes,
			SupportedKinds: kinds, Conditions: mergeConditions(have, l.Conditions, now)})
	}
	out.Listeners = listeners
	return out
}

// routeParents is istiod's createRouteStatus on cur (a route in namespace
// ns): the parents of other controllers stay as they are, in place; each
// parent of ours in want replaces the current one of the same parentRef,
// in place, or is appended (new ones ordered by parentRef, descending, as
// istiod does); the current parents of ours that want does not name are
// removed. want nil removes all of ours.
func routeParents(cur []gwv1.RouteParentStatus, want []model.RouteParentStatus, ns string, now metav1.Time) []gwv1.RouteParentStatus {
	out := make([]gwv1.RouteParentStatus, 0, len(cur)+len(want))
	for i := range cur {
		out = append(out, *cur[i].DeepCopy())
	}
	ours := map[string]int{}
	for i, p := range out {
		if p.ControllerName != controllerName {
			continue
		}
		key := convert.ParentRefString(modelRef(p.ParentRef), ns)
		if _, dup := ours[key]; !dup {
			ours[key] = i
		}
	}
	var add []gwv1.RouteParentStatus
	for _, w := range want {
		key := convert.ParentRefString(w.ParentRef, ns)
		var have []metav1.Condition
		i, found := ours[key]
		if found {
			have = out[i].Conditions
		}
		p := gwv1.RouteParentStatus{ParentRef: convert.K8sParentRef(w.ParentRef), ControllerName: controllerName,
			Conditions: mergeConditions(have, w.Conditions, now)}
		if found {
			out[i] = p
			delete(ours, key)
			continue
		}
		add = append(add, p)
	}
	slices.SortStableFunc(add, func(a, b gwv1.RouteParentStatus) int {
		return cmp.Compare(convert.ParentRefString(modelRef(b.ParentRef), ns), convert.ParentRefString(modelRef(a.ParentRef), ns))
	})
	out = append(out, add...)
	drop := map[int]bool{}
	for _, i := range ours {
		drop[i] = true
	}
	kept := out[:0]
	for i, p := range out {
		if !drop[i] {
			kept = append(kept, p)
		}
	}
	return kept
}

// modelRef is r as a model.ParentRef.
func modelRef(r gwv1.ParentReference) model.ParentRef {
	out := model.ParentRef{Name: string(r.Name)}
	if r.Group != nil {
		s := string(*r.Group)
		out.Group = &s
	}
	if r.Kind != nil {
		s := string(*r.Kind)
		out.Kind = &s
	}
	if r.Namespace != nil {
		s := string(*r.Namespace)
		out.Namespace = &s
	}
	if r.SectionName != nil {
		s := string(*r.SectionName)
		out.SectionName = &s
	}
	if r.Port != nil {
		p := *r.Port
		out.Port = &p
	}
	return out
}
