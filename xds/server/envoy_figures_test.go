//go:build integration

package server_test

import (
	"bufio"
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"

	"github.com/meshgate/meshgate/discovery/file"
	"github.com/meshgate/meshgate/discovery/model"
	"github.com/meshgate/meshgate/test/envoytest"
	"github.com/meshgate/meshgate/xds/node"
	"github.com/meshgate/meshgate/xds/translate"
)

// The figures of the real Envoy over ADS, printed by
//
//	ENVOY_FIGURES=1 go test -tags integration ./xds/server -run TestFiguresEnvoyACK -v -timeout 30m
//
// For a gateway routing N services (one HTTP server for every host, one
// VirtualService, Service and endpoint per service): the time from Envoy's
// start to every type ACKed (cold start), and from a change that replaces
// every route, cluster and endpoint set to every type ACKed again (full
// replacement), SotW and delta, with Envoy's memory afterwards. They
// measure, never assert on time. Without ENVOY_FIGURES the same run covers
// 100 services, so every test run exercises it; the full scale (1000 and
// 5000 services) takes a minute or two.

func envoyFigureSizes() []int {
	if os.Getenv("ENVOY_FIGURES") != "" {
		return []int{1000, 5000}
	}
	return []int{100}
}

// manyServices writes a world of n services svc-<i> (port 8000, one endpoint
// on 127.0.0.1:backendPort) and a VirtualService per service host
// svc-<i>.example.com on a gateway HTTP server (port httpPort, hosts *).
// generation names every service differently, so that two generations share
// no route, cluster or endpoint set.
func manyServices(t testing.TB, dir string, n, generation, httpPort, backendPort int) *model.MeshState {
	path := filepath.Join(dir, fmt.Sprintf("world-%d-%d.yaml", n, generation))
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	fmt.Fprintf(w, `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: %d, name: http, protocol: HTTP}
    hosts: ["*"]
`, httpPort)
	for i := range n {
		name := fmt.Sprintf("svc-g%d-%d", generation, i)
		fmt.Fprintf(w, `---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: %[1]s, namespace: default}
spec:
  hosts: [svc-%[2]d.example.com]
  gateways: [istio-system/gw]
  http:
  - route:
    - destination: {host: %[1]s, port: {number: 8000}}
---
apiVersion: v1
kind: Service
metadata: {name: %[1]s, namespace: default}
spec: {ports: [{name: http, port: 8000, targetPort: %[3]d}]}
---
apiVersion: v1
kind: Endpoints
metadata: {name: %[1]s, namespace: default}
subsets: [{addresses: [{ip: 127.0.0.1}], ports: [{name: http, port: %[3]d}]}]
`, name, i, backendPort)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	mesh, objErrs, err := file.LoadMesh(file.Config{Paths: []string{path}})
	if err != nil || len(objErrs) > 0 {
		t.Fatalf("load %d services: %v %v", n, err, objErrs)
	}
	return mesh
}

// TestFiguresEnvoyACK prints the ACK times of a full configuration in the
// real Envoy (see the comment above).
func TestFiguresEnvoyACK(t *testing.T) {
	envoy := envoytest.Path(t)
	for _, n := range envoyFigureSizes() {
		for _, api := range []corev3.ApiConfigSource_ApiType{corev3.ApiConfigSource_GRPC, corev3.ApiConfigSource_DELTA_GRPC} {
			t.Run(fmt.Sprintf("%d/%s", n, api), func(t *testing.T) { figureEnvoyACK(t, envoy, n, api) })
		}
	}
}

func figureEnvoyACK(t *testing.T, envoy string, n int, api corev3.ApiConfigSource_ApiType) {
	cpu0 := selfCPU()
	mat, err := envoytest.NewMaterial(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	httpPort := freePorts(t, 1)[0]
	backendPort := backend(t, "ok")
	gen0 := manyServices(t, dir, n, 0, httpPort, backendPort)
	gen1 := manyServices(t, dir, n, 1, httpPort, backendPort)

	start := time.Now()
	res, err := translate.Translate(gen0, translate.Proxy{Type: node.TypeRouter, IP: "127.0.0.1",
		Namespace: "istio-system", Labels: map[string]string{"istio": "ingressgateway"}, ClusterID: gen0.LocalCluster},
		translate.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	translateTime := time.Since(start)
	if len(res.Clusters) != n {
		t.Fatalf("%d services gave %d clusters", n, len(res.Clusters))
	}

	srv, addr := startEnvoyServer(t, mat, translate.DefaultOptions(), loopbackTranslate)
	srv.Update(gen0)
	start = time.Now()
	e := startEnvoy(t, envoy, addr, api)
	v0 := waitACKed(t, srv, e, 5*time.Minute, nil)
	cold := time.Since(start)
	serve(t, httpPort, fmt.Sprintf("svc-%d.example.com", n-1))

	start = time.Now()
	srv.Update(gen1)
	waitACKed(t, srv, e, 5*time.Minute, v0, "route", "cluster", "endpoint")
	replace := time.Since(start)
	serve(t, httpPort, fmt.Sprintf("svc-%d.example.com", n-1))
	dump, err := e.ConfigDump(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(dump.Clusters) != n+0 || len(dump.Endpoints) != n {
		t.Errorf("Envoy has %d active clusters and %d with endpoints, want %d", len(dump.Clusters), len(dump.Endpoints), n)
	}
	rss, cpu, err := procFigures(e.Pid())
	if err != nil {
		t.Error(err)
	}
	self := selfCPU() - cpu0
	t.Logf("figure: envoy %s, %d services: translate %v; Envoy start to every type ACKed %v; "+
		"full replacement (every route, cluster and endpoint set; same listener) to ACKed %v; "+
		"Envoy RSS %.0f MiB, CPU %v; test process CPU (xDS server, YAML loading, requests) %v",
		api, n, translateTime.Round(time.Millisecond), cold.Round(time.Millisecond), replace.Round(time.Millisecond),
		rss, cpu.Round(10*time.Millisecond), self.Round(10*time.Millisecond))
}

// serve checks that Envoy routes host to the backend.
func serve(t *testing.T, port int, host string) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	if body, err := tryGet(c, fmt.Sprintf("http://127.0.0.1:%d/", port), host); err != nil || body != "ok" {
		t.Fatalf("GET %s through Envoy: %q %v", host, body, err)
	}
}

// selfCPU is the CPU time (user+system) of the test process.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procFigures reads a process's resident memory and CPU time (user+system)
// from /proc.
func procFigures(pid int) (rssMiB float64, cpu time.Duration, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			if err != nil {
				return 0, 0, err
			}
			rssMiB = kb / 1024
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// Fields after the command (which may hold spaces): state is field 3,
	// utime and stime are fields 14 and 15, in clock ticks (100 per second
	// on Linux).
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	if len(f) < 13 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: short", pid)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("/proc/%d/stat: %v %v", pid, err1, err2)
	}
	return rssMiB, time.Duration(ut+st) * 10 * time.Millisecond, nil
}
