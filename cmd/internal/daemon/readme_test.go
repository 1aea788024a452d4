package daemon

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/meshgate/meshgate/test/logtest"
)

// The README's config_dump line works as written against the quickstart,
// before any gateway connected (a preview of what the ingress gateway,
// 127.0.0.10 in the quickstart, would receive).
func TestReadmeConfigDumpLine(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`curl -s '127\.0\.0\.1:9901(/debug/config_dump\?proxy=[^' ]+)'`).FindSubmatch(readme)
	if m == nil {
		t.Fatal("README.md has no `curl -s '127.0.0.1:9901/debug/config_dump?proxy=…'` line")
	}
	path := string(m[1])
	cfg := testConfig(t)
	cfg.ConfigDir = filepath.Join("..", "..", "..", "deploy", "examples", "quickstart")
	d, err := New(cfg, NewLogger(cfg, &logtest.Buffer{}), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	poll(ctx, t, "ready", func() bool { code, _ := httpGet(t, "http://"+d.MonitoringAddr()+"/readyz"); return code == 200 })
	code, body := httpGet(t, "http://"+d.AdminAddr()+path)
	if code != 200 {
		t.Fatalf("GET %s = %d %s", path, code, body)
	}
	var dump struct {
		Preview   bool
		Listeners []struct{ Name string }
	}
	if err := json.Unmarshal([]byte(body), &dump); err != nil {
		t.Fatal(err)
	}
	names := []string{}
	for _, l := range dump.Listeners {
		names = append(names, l.Name)
	}
	if !dump.Preview || len(names) != 2 || names[0] != "0.0.0.0_8080" || names[1] != "0.0.0.0_8443" {
		t.Errorf("GET %s: preview %v, listeners %v; want the ingress gateway's 0.0.0.0_8080 and 0.0.0.0_8443", path, dump.Preview, names)
	}
}
