//go:build integration

package daemon

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/chromedp/chromedp"
)

// chromium finds the browser: MESHGATE_CHROMIUM, else chromium on PATH
// (Debian's package; test/all.sh installs it). Without it the test fails.
func chromium(t *testing.T) string {
	if p := os.Getenv("MESHGATE_CHROMIUM"); p != "" {
		return p
	}
	p, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("no chromium (set MESHGATE_CHROMIUM or install Debian's chromium; test/all.sh does): %v", err)
	}
	return p
}

// The /ui page in a real headless Chromium, against a daemon federated with
// a peer: it shows both clusters, the peer's east-west gateway and the
// connected gateway, and follows an endpoint being added and the peer's
// daemon dying. Screenshots go to the test's temp directory (or to
// MESHGATE_SCREENSHOT_DIR, kept).
func TestUIPageInBrowser(t *testing.T) {
	browser := chromium(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	start := federatedStarter(ctx, t, nil)
	b, bDir, stopB := start("cluster2", "network2", nil)
	a, _, _ := start("cluster1", "network1", []string{b.GossipAddr()})
	// A gateway connected to cluster1's daemon.
	_ = followADS(ctx, t, a.XDSAddr(), resource.ClusterType, nil, map[string]string{"NETWORK": "network1", "CLUSTER_ID": "cluster1"},
		func(*discoveryv3.DiscoveryResponse) (struct{}, bool) { return struct{}{}, true })

	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser), chromedp.NoSandbox, chromedp.WindowSize(1366, 900),
		chromedp.UserDataDir(t.TempDir()))...)
	defer cancelAlloc()
	bctx, cancelB := chromedp.NewContext(alloc)
	defer cancelB()
	// Under the test's temp directory (removed after the test), or kept in
	// MESHGATE_SCREENSHOT_DIR for inspection.
	shots := os.Getenv("MESHGATE_SCREENSHOT_DIR")
	if shots == "" {
		shots = t.TempDir()
	}
	shot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Errorf("screenshot %s: %v", name, err)
			return
		}
		p := filepath.Join(shots, name+".png")
		if err := os.WriteFile(p, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot %s (%d bytes)", p, len(png))
	}
	// text returns the page's visible text of sel (the page redraws every
	// second from /ui/state: waiting polls the DOM, bounded by ctx).
	waitText := func(what, sel string, ok func(string) bool) string {
		t.Helper()
		var got string
		deadline := time.After(60 * time.Second)
		for {
			s, err := chromedp.Run(bctx, chromedp.Evaluate[string](fmt.Sprintf(`(() => { const e = document.querySelector(%q); return e ? e.textContent : ""; })()`, sel)))
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			if got = s; ok(got) {
				return got
			}
			select {
			case <-deadline:
				shot("timeout")
				t.Fatalf("%s: the page never showed it; %s holds %q", what, sel, got)
			case <-time.After(100 * time.Millisecond): // poll interval of the DOM check
			}
		}
	}

	began := time.Now()
	if _, err := chromedp.Run(bctx, chromedp.Navigate("http://"+a.AdminAddr()+"/ui")); err != nil {
		t.Fatal(err)
	}
	waitText("cluster2 in the topology", `[data-cluster="cluster2"]`, func(s string) bool { return strings.Contains(s, "cluster2") })
	t.Logf("first render with both clusters: %v (browser start included)", time.Since(began))
	figures, err := chromedp.Run(bctx, chromedp.Evaluate[string](`(() => {
		const res = performance.getEntriesByType("resource").concat(performance.getEntriesByType("navigation"));
		const bytes = res.filter(r => !r.name.endsWith("/ui/state")).reduce((a, r) => a + r.decodedBodySize, 0);
		return "page weight " + bytes + " B in " + res.filter(r => !r.name.endsWith("/ui/state")).length +
			" requests; first draw " + document.body.dataset.firstRender + " ms after navigation";
	})()`))
	if err != nil {
		t.Fatal(err)
	}
	t.Log(figures)
	top := waitText("topology", "#topology", func(s string) bool {
		return strings.Contains(s, "cluster1 (this daemon)") && strings.Contains(s, "network network2") && strings.Contains(s, "198.51.100.2:15443")
	})
	if strings.Contains(top, "BEGIN") || strings.Contains(top, "PRIVATE") {
		t.Errorf("the topology shows key material: %q", top)
	}
	waitText("the connected gateway", "#gateways", func(s string) bool { return strings.Contains(s, "network1") && strings.Contains(s, "cluster") })
	waitText("both daemons alive", "#members", func(s string) bool { return strings.Count(s, "alive") == 2 })
	shot("1-federated")

	// Explain, one click away: pick the gateway, ask about a host its
	// Gateway does not serve.
	// (Events dispatched in the page: chromedp's element actions wait for
	// a node to settle, and the page's tables are live.)
	clicked, err := chromedp.Run(bctx, chromedp.Evaluate[bool](`(() => {
		const td = document.querySelector("#gateways td.mono");
		if (!td) return false;
		td.click();
		document.getElementById("ex-value").value = "bookinfo.example.com";
		document.getElementById("explain").requestSubmit();
		return document.getElementById("ex-node").value === td.textContent;
	})()`))
	if err != nil || !clicked {
		t.Fatalf("explain from the gateways table: clicked %v, %v", clicked, err)
	}
	waitText("the explain answer", "#ex-answer", func(s string) bool {
		return strings.Contains(s, "does NOT have host bookinfo.example.com") &&
			strings.Contains(s, "no server of the Gateways that select the proxy admits host bookinfo.example.com: istio-system/public servers[0] port 80 hosts reviews.example.com")
	})
	shot("1b-explain")
	// A cluster of cluster2's: the answer says how it was learned.
	if _, err := chromedp.Run(bctx, chromedp.Evaluate[bool](`(() => {
		document.getElementById("ex-kind").value = "cluster";
		document.getElementById("ex-value").value = "outbound|9080|v2|reviews.default.svc.cluster.local";
		document.getElementById("explain").requestSubmit();
		return true;
	})()`)); err != nil {
		t.Fatal(err)
	}
	waitText("the explain answer's federation provenance", "#ex-answer", func(s string) bool {
		return strings.Contains(s, "[cluster cluster2]") && strings.Contains(s, "learned over gossip from cluster2-") &&
			strings.Contains(s, "published by cluster2-") && strings.Contains(s, "198.51.100.2:15443")
	})
	shot("1c-explain-learned")

	// An endpoint added in cluster2 shows up in cluster2's counts.
	before := waitText("cluster2's counts", `[data-cluster="cluster2"]`, func(s string) bool { return strings.Contains(s, "endpoints") })
	extra := `apiVersion: v1
kind: Service
metadata: {name: ratings, namespace: default}
spec: {ports: [{name: http, port: 9080}], selector: {app: ratings}}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: ratings-1, namespace: default, labels: {kubernetes.io/service-name: ratings}}
addressType: IPv4
endpoints:
- {addresses: [10.20.0.9], conditions: {ready: true}}
ports: [{name: http, port: 9080, protocol: TCP}]
`
	if err := os.WriteFile(filepath.Join(bDir, "ratings.yaml"), []byte(extra), 0o644); err != nil {
		t.Fatal(err)
	}
	began = time.Now()
	after := waitText("the new endpoint", `[data-cluster="cluster2"]`, func(s string) bool { return s != before && strings.Contains(s, "endpoints") })
	t.Logf("cluster2 %q → %q on the page in %v", before, after, time.Since(began))
	shot("2-endpoint-added")

	// cluster2's daemon dies: the page shows its member dead.
	stopB()
	began = time.Now()
	waitText("the dead daemon", "#members", func(s string) bool { return strings.Contains(s, "dead") })
	t.Logf("cluster2's daemon shown dead in %v", time.Since(began))
	// Its cluster is held without a daemon (fail-static), then withdrawn.
	waitText("cluster2 without a daemon", `[data-cluster="cluster2"]`, func(s string) bool { return s == "" || strings.Contains(s, "no daemon") })
	shot("3-peer-dead")
}
