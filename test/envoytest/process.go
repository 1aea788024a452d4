package envoytest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshgate/meshgate/test/proc"
)

// StartTimeout bounds how long Start waits for Envoy's admin listener.
const StartTimeout = 30 * time.Second

// Envoy is a running Envoy process of a test.
type Envoy struct {
	// AdminURL is http://127.0.0.1:<port> of Envoy's admin listener.
	AdminURL string
	proc     *proc.Proc
	dir      string
}

// Start runs envoy with bootstrap (JSON) and waits until its admin listener
// answers. The bootstrap's admin address should be 127.0.0.1:0: Envoy picks
// a free port and writes it to a file (--admin-address-path), so no port is
// guessed. Envoy runs with one worker thread, without hot restart, in its
// own process group, and dies with the test binary (proc.Proc); it is killed
// when the test ends, and a failed test gets the tail of its log.
func Start(t testing.TB, envoy string, bootstrap []byte) *Envoy {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "bootstrap.json")
	if err := os.WriteFile(cfg, bootstrap, 0o600); err != nil {
		t.Fatal(err)
	}
	adminPath := filepath.Join(dir, "admin-address")
	e := &Envoy{dir: dir, proc: &proc.Proc{
		Name: "envoy",
		Argv: []string{envoy, "-c", cfg, "--disable-hot-restart", "--concurrency", "1",
			"--admin-address-path", adminPath, "--log-level", "info"},
		LogPath: filepath.Join(dir, "envoy.log"),
	}}
	if err := e.proc.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("envoy: last lines of %s:\n%s", e.proc.LogPath, e.proc.LogTail(40))
		}
		if err := e.proc.Kill(); err != nil {
			t.Errorf("envoy: %v", err)
		}
	})
	deadline := time.Now().Add(StartTimeout)
	for {
		b, err := os.ReadFile(adminPath)
		if err == nil && strings.TrimSpace(string(b)) != "" {
			e.AdminURL = "http://" + strings.TrimSpace(string(b))
			break
		}
		select {
		case <-e.proc.Exited():
			t.Fatalf("envoy exited before its admin listener came up (%v):\n%s", e.proc.ExitErr(), e.proc.LogTail(40))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("envoy: no admin address in %s after %s:\n%s", adminPath, StartTimeout, e.proc.LogTail(40))
		}
		time.Sleep(20 * time.Millisecond) // polling a file Envoy writes once; bounded by StartTimeout
	}
	return e
}

// Exited is closed when the Envoy process ends.
func (e *Envoy) Exited() <-chan struct{} { return e.proc.Exited() }

// Pid is the Envoy process id.
func (e *Envoy) Pid() int { return e.proc.Pid() }

// LogTail returns the last n lines of Envoy's log.
func (e *Envoy) LogTail(n int) string { return e.proc.LogTail(n) }

// Admin GETs path from Envoy's admin listener.
func (e *Envoy) Admin(ctx context.Context, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.AdminURL+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return b, fmt.Errorf("envoy admin %s: %s: %s", path, resp.Status, strings.TrimSpace(string(b)))
	}
	return b, nil
}

// ConfigDump is the part of Envoy's /config_dump?include_eds that tests
// check: the names of the dynamic (xDS-delivered) resources Envoy has
// accepted and activated, and their versions.
type ConfigDump struct {
	// Listeners, Clusters, Routes, Secrets and Endpoints map active
	// resource names to the version_info Envoy accepted them with (routes:
	// route configuration names; endpoints: cluster names with at least
	// one endpoint).
	Listeners, Clusters, Routes, Secrets, Endpoints map[string]string
	// Raw is the whole dump.
	Raw json.RawMessage
}

// ConfigDump reads and summarizes /config_dump?include_eds.
func (e *Envoy) ConfigDump(ctx context.Context) (*ConfigDump, error) {
	b, err := e.Admin(ctx, "/config_dump?include_eds")
	if err != nil {
		return nil, err
	}
	var dump struct {
		Configs []json.RawMessage `json:"configs"`
	}
	if err := json.Unmarshal(b, &dump); err != nil {
		return nil, fmt.Errorf("config_dump: %w: %.300s", err, b)
	}
	out := &ConfigDump{Listeners: map[string]string{}, Clusters: map[string]string{}, Routes: map[string]string{},
		Secrets: map[string]string{}, Endpoints: map[string]string{}, Raw: b}
	type named struct {
		Name string `json:"name"`
	}
	for _, c := range dump.Configs {
		var d struct {
			Type             string `json:"@type"`
			DynamicListeners []struct {
				Name        string `json:"name"`
				ActiveState *struct {
					VersionInfo string `json:"version_info"`
				} `json:"active_state"`
			} `json:"dynamic_listeners"`
			DynamicActiveClusters []struct {
				VersionInfo string `json:"version_info"`
				Cluster     named  `json:"cluster"`
			} `json:"dynamic_active_clusters"`
			DynamicRouteConfigs []struct {
				VersionInfo string `json:"version_info"`
				RouteConfig named  `json:"route_config"`
			} `json:"dynamic_route_configs"`
			DynamicActiveSecrets []struct {
				Name        string `json:"name"`
				VersionInfo string `json:"version_info"`
			} `json:"dynamic_active_secrets"`
			DynamicEndpointConfigs []struct {
				VersionInfo    string `json:"version_info"`
				EndpointConfig struct {
					ClusterName string            `json:"cluster_name"`
					Endpoints   []json.RawMessage `json:"endpoints"`
				} `json:"endpoint_config"`
			} `json:"dynamic_endpoint_configs"`
		}
		if err := json.Unmarshal(c, &d); err != nil {
			return nil, fmt.Errorf("config_dump: %w", err)
		}
		for _, l := range d.DynamicListeners {
			if l.ActiveState != nil {
				out.Listeners[l.Name] = l.ActiveState.VersionInfo
			}
		}
		for _, x := range d.DynamicActiveClusters {
			out.Clusters[x.Cluster.Name] = x.VersionInfo
		}
		for _, x := range d.DynamicRouteConfigs {
			out.Routes[x.RouteConfig.Name] = x.VersionInfo
		}
		for _, x := range d.DynamicActiveSecrets {
			out.Secrets[x.Name] = x.VersionInfo
		}
		for _, x := range d.DynamicEndpointConfigs {
			if len(x.EndpointConfig.Endpoints) > 0 {
				out.Endpoints[x.EndpointConfig.ClusterName] = x.VersionInfo
			}
		}
	}
	return out, nil
}
