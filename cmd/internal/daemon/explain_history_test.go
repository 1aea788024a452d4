package daemon

import (
	"context"
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meshgate/meshgate/discovery/model"
	"github.com/meshgate/meshgate/federation"
	"github.com/meshgate/meshgate/xds/translate"
)

// TestExplainFederationHistory: three federated daemons over real gossip;
// cluster1 admits cluster2 but not cluster3. Asked through the admin API
// (what `meshgate explain` calls), cluster1 says of reviews v2 that it came
// from cluster2, through which peer, which daemon published it, at which
// generation and when, and that its ingress gateway reaches it through
// cluster2's east-west gateway (network2, split horizon); that cluster3's
// east-west gateway is missing because cluster3 is refused (not admitted);
// and, once cluster2's daemon is stopped and its fail-static window has
// ended, that cluster2 had that gateway but was withdrawn at T after its
// last daemon went down. /federation/history shows the same records.
func TestExplainFederationHistory(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	start := federatedStarterFrom(ctx, t, threeClusters(t), func(cluster string, cfg *Config) {
		if cluster == "cluster1" {
			cfg.GossipConfig.AdmitClusters = []string{"cluster2"}
		}
	})
	b, _, stopB := start("cluster2", "network2", nil)
	c, _, _ := start("cluster3", "network3", []string{b.GossipAddr()})
	a, _, _ := start("cluster1", "network1", []string{b.GossipAddr(), c.GossipAddr()})

	const v2 = "outbound|9080|v2|reviews.default.svc.cluster.local"
	updates := edsAddresses(ctx, t, a.XDSAddr(), v2)
	waitFor := func(want []string) {
		t.Helper()
		for {
			select {
			case got, ok := <-updates:
				if !ok {
					t.Fatalf("ADS stream ended waiting for %v", want)
				}
				if slices.Equal(got, want) {
					return
				}
			case <-ctx.Done():
				t.Fatalf("cluster1's gateway never got %v", want)
			}
		}
	}
	waitFor([]string{"198.51.100.2:15443"}) // cluster3's gateway never: refused
	poll(ctx, t, "cluster1 refusing cluster3", func() bool { return len(a.fed.Refused()) > 0 })

	explain := func(q string) *translate.Explanation {
		t.Helper()
		v := url.Values{"proxy": {"router~10.1.0.9~ingress-0.istio-system~istio-system.svc.cluster.local"},
			"label": {"istio=ingressgateway"}, "network": {"network1"}, "cluster-id": {"cluster1"}}
		k, val, _ := strings.Cut(q, "=")
		v.Set(k, val)
		code, body := httpGet(t, "http://"+a.AdminAddr()+"/debug/explain?"+v.Encode())
		var x translate.Explanation
		if code != 200 || json.Unmarshal([]byte(body), &x) != nil {
			t.Fatalf("explain %s: %d %s", q, code, body)
		}
		t.Logf("explain %s:\n%s", q, x.Text())
		return &x
	}

	// Present: learned from cluster2's daemon, through cluster2's gateway.
	x := explain("cluster=" + v2)
	var svc, gw *translate.Origin
	for i, o := range x.Because {
		switch {
		case o.Kind == "Service" && o.Cluster == "cluster2":
			svc = &x.Because[i]
		case o.Kind == "NetworkGateway" && o.Object == "198.51.100.2:15443":
			gw = &x.Because[i]
		}
	}
	switch {
	case !x.Present || svc == nil || gw == nil:
		t.Fatalf("reviews v2 at cluster1: want present, from cluster2's Service through 198.51.100.2:15443: %+v", x)
	case svc.Learned == nil:
		t.Fatalf("cluster2's Service without its federation provenance: %+v", svc)
	}
	l := svc.Learned
	if l.Owner != b.fed.Name() || l.Peer == "" || l.Generation != svc.Generation || l.ReceivedAt.IsZero() ||
		l.Status != model.ProvenanceServing || l.PublishedAt.After(l.ReceivedAt.Add(time.Second)) {
		t.Errorf("cluster2's provenance %+v: want published by %s, a peer, generation %d, received, serving", l, b.fed.Name(), svc.Generation)
	}
	if l.Peer != b.fed.Name() && l.Peer != c.fed.Name() {
		t.Errorf("learned from %q: not a daemon of the mesh", l.Peer)
	}
	if !strings.Contains(gw.Detail, "network network2") || !strings.Contains(gw.Detail, "split horizon") {
		t.Errorf("the east-west gateway's reason: %q", gw.Detail)
	}
	if text := x.Text(); !strings.Contains(text, "learned over gossip from "+l.Peer) || !strings.Contains(text, "published by "+b.fed.Name()) {
		t.Errorf("text without the provenance:\n%s", text)
	}

	// Missing: cluster3 is not admitted.
	x = explain("endpoint=198.51.100.3:15443")
	if x.Present || !slices.ContainsFunc(x.Missing, func(m string) bool {
		return strings.Contains(m, "cluster cluster3 is refused here: not admitted")
	}) || !slices.ContainsFunc(x.Unavailable, func(p model.ClusterProvenance) bool {
		return p.Cluster == "cluster3" && p.Status == model.ProvenanceRefused
	}) {
		t.Errorf("cluster3's gateway: want missing, cluster3 refused: %+v", x)
	}

	// cluster2's daemon stops: after the 1 s fail-static window cluster2 is
	// withdrawn, and explain says so, with when and why.
	stopped := time.Now()
	stopB()
	waitFor(nil)
	var hist federation.HistoryResponse
	poll(ctx, t, "cluster2 withdrawn in /federation/history", func() bool {
		code, body := httpGet(t, "http://"+a.AdminAddr()+federation.PathHistory)
		if code != 200 || json.Unmarshal([]byte(body), &hist) != nil {
			t.Fatalf("/federation/history: %d %s", code, body)
		}
		return slices.ContainsFunc(hist.Clusters, func(p model.ClusterProvenance) bool {
			return p.Cluster == "cluster2" && p.Status == model.ProvenanceWithdrawn
		})
	})
	var withdrawn model.ClusterProvenance
	for _, p := range hist.Clusters {
		switch p.Cluster {
		case "cluster2":
			withdrawn = p
		case "cluster3":
			if p.Status != model.ProvenanceRefused || p.Generation != 0 || !strings.Contains(p.Reason, "not admitted") {
				t.Errorf("/federation/history cluster3: %+v", p)
			}
		}
	}
	if withdrawn.Since.Before(stopped) || withdrawn.Owner != b.fed.Name() ||
		!strings.Contains(withdrawn.Reason, "its last daemon "+b.fed.Name()) || !strings.Contains(withdrawn.Reason, "fail-static window (1s) ended") {
		t.Errorf("/federation/history cluster2: %+v (stopped at %v)", withdrawn, stopped)
	}

	x = explain("endpoint=198.51.100.2:15443")
	if x.Present || !slices.ContainsFunc(x.Missing, func(m string) bool {
		return strings.Contains(m, "cluster cluster2 (network network2) had east-west gateway 198.51.100.2:15443") &&
			strings.Contains(m, "withdrawn since "+withdrawn.Since.UTC().Format("2006-01-02T15:04:05.000Z")) &&
			strings.Contains(m, "its last daemon "+b.fed.Name())
	}) {
		t.Errorf("cluster2's gateway after the withdrawal: want missing, cluster2 withdrawn at its time: %+v", x)
	}
	x = explain("cluster=" + v2)
	if !slices.ContainsFunc(x.Notes, func(m string) bool {
		return strings.Contains(m, "cluster cluster2 (network network2) had Service default/reviews") && strings.Contains(m, "withdrawn since")
	}) && !slices.ContainsFunc(x.Missing, func(m string) bool {
		return strings.Contains(m, "cluster cluster2 (network network2) had Service default/reviews")
	}) {
		t.Errorf("reviews v2 after the withdrawal: want cluster2's Service named as withdrawn: %+v", x)
	}
}
