//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/meshgate/meshgate/test/e2e/meshlab"
	"github.com/meshgate/meshgate/test/e2e/netlab"
	"github.com/meshgate/meshgate/test/envoytest"
)

// TestReadmeQuickstartWithEnvoy runs the README's quickstart as written: the
// `meshgate run --config-dir deploy/examples/quickstart` line, then the
// "With Envoy" block (`meshgate bootstrap … > envoy.json`, `envoy -c
// envoy.json`), with `go run ./cmd/meshgate` standing for the built binary
// and `envoy` for the real Envoy 1.40. It runs in a network namespace of its
// own, so the README's fixed ports on 127.0.0.1 collide with nothing, and
// serves the backends the README describes (127.0.0.1:18000 and
// 127.0.0.2:18000 for httpbin's two subsets, 127.0.0.1:18080 for the rest).
// Then it checks what the README promises: Envoy listens on 8080 (HTTP) and
// 8443 (HTTPS with the Secret's certificate over SDS), routing
// httpbin.example.com to the httpbin backends (90/10) and everything else to
// 127.0.0.1:18080.
func TestReadmeQuickstartWithEnvoy(t *testing.T) {
	lab := newLab(t, 1)
	n := lab.Networks[0]
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	runLine := readmeCommands(t, string(readme), "Run the daemon on it:")
	envoyBlock := readmeCommands(t, string(readme), "**With Envoy**")
	if len(runLine) != 1 || !strings.Contains(runLine[0], "meshgate run --config-dir deploy/examples/quickstart") {
		t.Fatalf("README: the quickstart's run command is %q", runLine)
	}
	if len(envoyBlock) != 2 || !strings.Contains(envoyBlock[0], "bootstrap") || !strings.HasPrefix(envoyBlock[1], "envoy ") {
		t.Fatalf("README: the \"With Envoy\" block is %q, want a bootstrap command and an envoy command", envoyBlock)
	}

	// The README's working directory: the repository's quickstart files.
	work := t.TempDir()
	if err := os.CopyFS(filepath.Join(work, "deploy", "examples", "quickstart"), os.DirFS(filepath.Join(root, "deploy", "examples", "quickstart"))); err != nil {
		t.Fatal(err)
	}
	bin, err := meshlab.BuildBinary(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	envoy := envoytest.Path(t)
	asWritten := func(cmd string) string {
		cmd = strings.ReplaceAll(cmd, "go run ./cmd/meshgate", bin)
		if rest, ok := strings.CutPrefix(cmd, "envoy "); ok {
			cmd = envoy + " " + rest
		}
		return "cd " + work + " && exec " + cmd
	}
	inNet := func(cmd string) []string { return append(n.Exec(), "bash", "-c", asWritten(cmd)) }

	// The backends the quickstart's Services point at.
	for _, addr := range []string{"127.0.0.2:18000", "127.0.0.1:18000", "127.0.0.1:18080"} { // 127/8 is local on lo
		l, err := n.Listen(addr)
		if err != nil {
			t.Fatalf("backend %s: %v", addr, err)
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "%s %s %s", addr, r.Host, r.URL.Path)
		}), ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv.Serve(l) }()
		t.Cleanup(func() { _ = srv.Close() })
	}

	daemon := &meshlab.Proc{Name: "meshgate run", Argv: inNet(runLine[0]), LogPath: filepath.Join(work, "daemon.log")}
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = daemon.Stop() })
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: netlab.Dialer{Net: n}.DialContext}}
	alive := func(p *meshlab.Proc) {
		select {
		case <-p.Exited():
			t.Fatalf("%s exited (%v); log:\n%s", p.Name, p.ExitErr(), p.LogTail(40))
		default:
		}
	}
	waitUntil(t, "the daemon's /readyz", nil, func() (bool, string) {
		alive(daemon)
		resp, err := client.Get("http://127.0.0.1:15014/readyz")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})

	bootstrap := exec.Command(inNet(envoyBlock[0])[0], inNet(envoyBlock[0])[1:]...)
	if out, err := bootstrap.CombinedOutput(); err != nil {
		t.Fatalf("README's bootstrap command: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(work, "envoy.json")); err != nil {
		t.Fatalf("README's bootstrap command wrote no envoy.json: %v", err)
	}
	proxy := &meshlab.Proc{Name: "envoy", Argv: inNet(envoyBlock[1]), LogPath: filepath.Join(work, "envoy.log")}
	if err := proxy.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = proxy.Stop()
		if t.Failed() {
			t.Logf("envoy log:\n%s\ndaemon log:\n%s", proxy.LogTail(40), daemon.LogTail(40))
		}
	})

	get := func(c *http.Client, url, host string) (string, error) {
		req, err := http.NewRequest(http.MethodGet, url, nil)
		if err != nil {
			return "", err
		}
		req.Host = host
		resp, err := c.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return "", fmt.Errorf("%s: %s", resp.Status, b)
		}
		return string(b), nil
	}
	waitUntil(t, "Envoy serves httpbin.example.com on 8080", nil, func() (bool, string) {
		alive(proxy)
		body, err := get(client, "http://127.0.0.1:8080/status/200", "httpbin.example.com")
		if err != nil {
			return false, err.Error()
		}
		return true, body
	})

	// httpbin: split 90/10 between the v1 (127.0.0.1) and v2 (127.0.0.2) pods.
	const calls = 200
	perBackend := map[string]int{}
	for i := range calls {
		path := []string{"/status/200", "/headers"}[i%2]
		body, err := get(client, "http://127.0.0.1:8080"+path, "httpbin.example.com")
		if err != nil {
			t.Fatalf("httpbin.example.com%s through Envoy: %v", path, err)
		}
		backend, _, _ := strings.Cut(body, " ")
		perBackend[backend]++
	}
	v1, v2 := perBackend["127.0.0.1:18000"], perBackend["127.0.0.2:18000"]
	if v1+v2 != calls || v2 < 5 || v2 > 45 { // binomial(200, 0.1): mean 20, sd 4.2
		t.Errorf("httpbin.example.com: %v, want %d calls split 90/10 between 127.0.0.1:18000 and 127.0.0.2:18000", perBackend, calls)
	}
	// every other host: the echo Service on 127.0.0.1:18080
	if body, err := get(client, "http://127.0.0.1:8080/anything", "other.example.com"); err != nil || !strings.HasPrefix(body, "127.0.0.1:18080 ") {
		t.Errorf("other.example.com through Envoy: %q, %v; want the echo backend 127.0.0.1:18080", body, err)
	}

	// HTTPS on 8443 with the quickstart Secret's certificate (over SDS).
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(quickstartCert(t, filepath.Join(root, "deploy", "examples", "quickstart", "secret.yaml")))
	tlsClient := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return netlab.Dialer{Net: n}.DialContext(ctx, network, "127.0.0.1:8443")
		},
		TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "httpbin.example.com", MinVersion: tls.VersionTLS12}}}
	body, err := get(tlsClient, "https://httpbin.example.com:8443/status/200", "httpbin.example.com")
	if err != nil || !strings.HasSuffix(strings.SplitN(body, " ", 2)[0], ":18000") {
		t.Errorf("https://httpbin.example.com:8443 through Envoy: %q, %v; want an httpbin backend", body, err)
	}
	figure(t, "README quickstart with Envoy as written: httpbin %v of %d, other host and HTTPS served", perBackend, calls)
}

// readmeCommands returns the commands of the first indented code block after
// the line that contains marker, continuation lines (ending in \) joined.
func readmeCommands(t *testing.T, readme, marker string) []string {
	t.Helper()
	i := strings.Index(readme, marker)
	if i < 0 {
		t.Fatalf("README.md has no %q", marker)
	}
	var cmds []string
	var cur strings.Builder
	inBlock := false
	sc := bufio.NewScanner(strings.NewReader(readme[i:]))
	sc.Scan() // the marker's line
	for sc.Scan() {
		line := sc.Text()
		code, ok := strings.CutPrefix(line, "    ")
		if !ok {
			if inBlock {
				break // the block ended
			}
			continue
		}
		inBlock = true
		code = strings.TrimSpace(code)
		if c, more := strings.CutSuffix(code, "\\"); more {
			cur.WriteString(strings.TrimSpace(c) + " ")
			continue
		}
		cur.WriteString(code)
		cmds = append(cmds, cur.String())
		cur.Reset()
	}
	return cmds
}

// quickstartCert returns the PEM certificate of the quickstart's TLS Secret.
func quickstartCert(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Data map[string]string `json:"data"`
	}
	if err := yaml.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	pem, err := base64.StdEncoding.DecodeString(s.Data["tls.crt"])
	if err != nil || len(pem) == 0 {
		t.Fatalf("%s: tls.crt: %v", path, err)
	}
	return pem
}
