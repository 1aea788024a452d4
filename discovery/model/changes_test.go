package model

import "testing"

func TestCompareClusters(t *testing.T) {
	gw := func(name string, sel string) Gateway {
		return Gateway{Meta: Meta{Name: name, Namespace: "ns"}, Selector: map[string]string{"istio": sel}}
	}
	old := &ClusterState{Gateways: []Gateway{gw("a", "x"), gw("b", "x"), gw("c", "x")}, Secrets: []Secret{{Meta: Meta{Name: "s", Namespace: "ns"}}}}
	cur := &ClusterState{Gateways: []Gateway{gw("a", "x"), gw("b", "y"), gw("d", "x")},
		Services: []Service{{Meta: Meta{Name: "svc", Namespace: "ns"}}}}
	ch := CompareClusters(old, cur)
	if got, want := ch.String(), "Service 1 (+1), Gateway 3 (+1 ~1 -1), Secret 0 (-1)"; got != want {
		t.Errorf("changes %q, want %q", got, want)
	}
	if !ch.Changed() || ch.Only(KindVirtualService).Changed() || !ch.Only(KindSecret).Changed() {
		t.Errorf("Changed/Only: %v", ch)
	}
	if ch := CompareClusters(cur, cur); ch.Changed() || ch.String() != "Service 1, Gateway 3" {
		t.Errorf("no change: %q", ch.String())
	}
	if got := CompareClusters(nil, cur).String(); got != "Service 1 (+1), Gateway 3 (+3)" {
		t.Errorf("first load: %q", got)
	}
	if m := cur.MetaOf(Ref{Kind: KindGateway, Namespace: "ns", Name: "d"}); m == nil || m.Name != "d" {
		t.Errorf("MetaOf: %v", m)
	}
	if m := cur.MetaOf(Ref{Kind: KindGateway, Namespace: "other", Name: "d"}); m != nil {
		t.Errorf("MetaOf another namespace: %v", m)
	}
}
