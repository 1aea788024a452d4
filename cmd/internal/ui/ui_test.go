package ui

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"
)

func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func TestHandler(t *testing.T) {
	calls := 0
	srv := httptest.NewServer(Handler(func() State {
		calls++
		return State{Self: Self{Cluster: "c1", Ready: true}, Networks: []Network{{Name: "n1", Gateways: []string{"192.0.2.1:15443"},
			Clusters: []Cluster{{ID: "c1", Local: true, Services: 2, Endpoints: 3}}}}}
	}))
	defer srv.Close()

	resp, body := get(t, srv.URL+"/ui")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(body, `<svg id="topology"`) {
		t.Fatalf("/ui: %d %s\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP %q", csp)
	}
	// Everything the page loads is its own (no CDN) and its CSP allows it:
	// no inline script, no style attribute, no absolute URL.
	if regexp.MustCompile(`<script(?:\s[^>]*)?>[^<]`).MatchString(body) || strings.Contains(body, "style=") || regexp.MustCompile(`(src|href)="(https?:)?//`).MatchString(body) {
		t.Errorf("the page has inline script or style, or loads from elsewhere:\n%s", body)
	}
	for _, ref := range regexp.MustCompile(`(?:src|href)="(/ui/assets/[^"]+)"`).FindAllStringSubmatch(body, -1) {
		r, b := get(t, srv.URL+ref[1])
		if r.StatusCode != 200 || len(b) == 0 || r.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: %d, %d bytes", ref[1], r.StatusCode, len(b))
		}
		if strings.Contains(b, "http://") || strings.Contains(b, "https://") {
			if !strings.Contains(ref[1], "app.js") || strings.Contains(strings.ReplaceAll(b, `"http://www.w3.org/2000/svg"`, ""), "://") {
				t.Errorf("%s refers to another origin", ref[1])
			}
		}
	}
	if r, _ := get(t, srv.URL+"/ui/assets/nope.js"); r.StatusCode != 404 {
		t.Errorf("unknown asset: %d", r.StatusCode)
	}

	resp, body = get(t, srv.URL+"/ui/state")
	var st State
	if err := json.Unmarshal([]byte(body), &st); err != nil || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("/ui/state: %v %q\n%s", err, resp.Header.Get("Cache-Control"), body)
	}
	if calls != 1 || st.Self.Cluster != "c1" || len(st.Networks) != 1 || st.Networks[0].Clusters[0].Endpoints != 3 || time.Since(st.Now) > time.Minute {
		t.Errorf("state %+v (calls %d)", st, calls)
	}
	if r, _ := get(t, srv.URL+"/ui/"); r.Request.URL.Path != "/ui" {
		t.Errorf("/ui/ ends at %s, want a redirect to /ui", r.Request.URL.Path)
	}
}
