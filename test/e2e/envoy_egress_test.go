//go:build e2e

package e2e

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"

	"github.com/meshgate/meshgate/test/e2e/meshlab"
	"github.com/meshgate/meshgate/test/e2e/netlab"
	"github.com/meshgate/meshgate/test/e2e/workload"
)

// egressClient is a pod of the egress gateway's cluster calling the
// external service through the Envoy egress gateway (what a sidecar's mesh
// route to the egress gateway does in Istio's egress tasks): plain HTTP, or
// mesh mTLS with its SVID (ISTIO_MUTUAL).
type egressClient struct {
	*ingressClient              // to the egress gateway's pod address, plain HTTP
	mutual         *http.Client // client SVID; the gateway must prove its own
}

func newEgressClient(t *testing.T, m *meshlab.Mesh, c *meshlab.Cluster) *egressClient {
	t.Helper()
	ip, err := c.Net.AddPod()
	if err != nil {
		t.Fatal(err)
	}
	id, err := c.Identity(context.Background(), meshlab.Namespace, meshlab.ClientSA)
	if err != nil {
		t.Fatal(err)
	}
	d := netlab.Dialer{Net: c.Net, Src: ip}
	cfg := tlsconfig.MTLSClientConfig(id.SVID, id.Bundle, tlsconfig.AuthorizeID(m.PKI.WorkloadID(meshlab.SystemNS, meshlab.EgressGatewaySA)))
	cfg.ServerName, cfg.NextProtos = meshlab.ExternalHost, []string{"http/1.1"}
	return &egressClient{ingressClient: &ingressClient{base: c.EgressIP, plain: podHTTPClient(d, nil)}, mutual: podHTTPClient(d, cfg)}
}

// podHTTPClient is an HTTP client whose sockets are opened by d (inside a
// network, from a pod address); tc, when set, is its TLS configuration.
func podHTTPClient(d netlab.Dialer, tc *tls.Config) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, TLSClientConfig: tc,
		ForceAttemptHTTP2: false}}
}

// externalAnswer is one exchange with the external service through the
// egress gateway.
type externalAnswer struct {
	Status int
	Body   string
	Reply  workload.ExternalReply // when the external server answered
}

// do sends GET / with Host host to the egress gateway's port, over mesh
// mTLS when mutual.
func (ec *egressClient) do(ctx context.Context, mutual bool, port int, host, seq string) (externalAnswer, error) {
	hc, scheme := ec.plain, "http"
	if mutual {
		hc, scheme = ec.mutual, "https"
	}
	h, err := ec.ingressClient.do(ctx, hc, scheme, port, host, "/", map[string]string{"x-echo-seq": seq})
	if err != nil {
		return externalAnswer{}, err
	}
	a := externalAnswer{Status: h.Status, Body: h.Body}
	if h.Header.Get(workload.HeaderExternal) != "" {
		if err := json.Unmarshal([]byte(h.Body), &a.Reply); err != nil {
			return a, fmt.Errorf("external body %q: %w", h.Body, err)
		}
	}
	return a, nil
}

// load makes a paced load through the egress gateway whose success is a 200
// from the external server that saw the request as want says: TLS or not
// (and then SNI ExternalHost), Host ExternalHost, the request's seq.
func (ec *egressClient) load(name string, mutual bool, port int, wantTLS bool) *workload.Load {
	return &workload.Load{Name: name, Rate: 50, Call: func(ctx context.Context, seq string) (workload.Result, error) {
		a, err := ec.do(ctx, mutual, port, meshlab.ExternalHost, seq)
		if err != nil {
			return workload.Result{}, err
		}
		r := a.Reply
		if a.Status != http.StatusOK || r.Server != meshlab.ExternalHost {
			return workload.Result{}, fmt.Errorf("status %d: %.200s", a.Status, a.Body)
		}
		if r.TLS != wantTLS || r.Host != meshlab.ExternalHost || r.Seq != seq || (wantTLS && r.SNI != meshlab.ExternalHost) {
			return workload.Result{}, fmt.Errorf("the external server saw tls=%v sni=%q host=%q seq=%q, want tls=%v sni=%q host=%q seq=%q",
				r.TLS, r.SNI, r.Host, r.Seq, wantTLS, meshlab.ExternalHost, meshlab.ExternalHost, seq)
		}
		return workload.Result{Reply: workload.Reply{Cluster: "external", Pod: r.Server, Seq: r.Seq, SNI: r.SNI}, Endpoint: "egress"}, nil
	}}
}

// waitEgress waits until the egress gateway routes port to the external
// server (the daemon translated the egress objects and Envoy took them).
func waitEgress(t *testing.T, ec *egressClient, mutual bool, port int) time.Duration {
	t.Helper()
	return waitUntil(t, fmt.Sprintf("Envoy egress gateway routes port %d", port), nil, func() (bool, string) {
		a, err := ec.do(context.Background(), mutual, port, meshlab.ExternalHost, "wait")
		if err != nil {
			return false, err.Error()
		}
		return a.Status == http.StatusOK && a.Reply.Server != "", fmt.Sprintf("status %d: %.200s", a.Status, a.Body)
	})
}

// requireExternalSaw checks that every successful request of st reached the
// external server (its recorded requests hold each seq).
func requireExternalSaw(t *testing.T, m *meshlab.Mesh, st workload.Stats) {
	t.Helper()
	seen := map[string]bool{}
	for _, r := range m.External.Requests() {
		seen[r.Seq] = true
	}
	for _, s := range st.Samples {
		if s.OK() && !seen[s.Result.Seq] {
			t.Errorf("request %s answered but the external server has no record of it", s.Result.Seq)
			return
		}
	}
}

// TestEnvoyEgress runs Istio's egress gateway tasks through a real Envoy
// egress gateway in cluster1 towards a service outside the mesh (an HTTP
// and an HTTPS server with a CA of its own on cluster2's node address,
// external.example.com by a STATIC ServiceEntry): plain HTTP, TLS
// originated by the gateway (DestinationRule SIMPLE, sni, credentialName
// CA over SDS; a wrong CA refused), and the client → gateway hop over
// ISTIO_MUTUAL.
func TestEnvoyEgress(t *testing.T) {
	m := newEnvoyMesh(t, envoyWorld{egress: true})
	c1 := m.Cluster("cluster1")
	ec := newEgressClient(t, m, c1)
	took := waitEgress(t, ec, false, meshlab.EgressHTTPPort)
	t.Logf("Envoy egress gateway routes to %s %s after the mesh was ready", meshlab.ExternalHost, took.Round(time.Millisecond))

	// upstream counts the 200s of the egress gateway's cluster of the
	// external port: the requests crossed that Envoy.
	upstream := func(t *testing.T, port int) int64 {
		return envoyStat(t, c1.EnvoyEgress, fmt.Sprintf("cluster.outbound|%d||%s.upstream_rq_200", port, meshlab.ExternalHost))
	}
	requireUpstream := func(t *testing.T, port int, before int64, st workload.Stats) {
		t.Helper()
		if n := upstream(t, port) - before; n < int64(st.OK) {
			t.Errorf("the egress gateway's cluster of port %d counted %d answers for %d successful requests", port, n, st.OK)
		}
	}
	t.Run("PlainHTTP", func(t *testing.T) {
		before := upstream(t, meshlab.ExternalHTTPPort)
		st := runLoad(ec.load("egress http", false, meshlab.EgressHTTPPort, false), 200)
		if st.Failed > 0 || st.OK == 0 {
			t.Errorf("%s: want every request to reach the external server; errors: %v", st, st.Errors)
		}
		requireExternalSaw(t, m, st)
		requireUpstream(t, meshlab.ExternalHTTPPort, before, st)
		figure(t, "%s", st)
	})
	t.Run("TLSOrigination", func(t *testing.T) {
		waitEgress(t, ec, false, meshlab.EgressOriginatePort)
		before := upstream(t, meshlab.ExternalHTTPSPort)
		st := runLoad(ec.load("egress tls origination", false, meshlab.EgressOriginatePort, true), 200)
		if st.Failed > 0 || st.OK == 0 {
			t.Errorf("%s: want every request to reach the external server over TLS with SNI %s; errors: %v", st, meshlab.ExternalHost, st.Errors)
		}
		requireExternalSaw(t, m, st)
		requireUpstream(t, meshlab.ExternalHTTPSPort, before, st)
		versions := map[string]int{}
		for _, r := range m.External.Requests() {
			if r.TLS {
				versions[r.TLSVersion]++
			}
		}
		figure(t, "%s; TLS versions seen by the external server %v", st, versions)
	})
	t.Run("TLSOriginationWrongCA", func(t *testing.T) {
		const stat = "cluster.outbound|443||" + meshlab.ExternalWrongCAHost + ".ssl.fail_verify_error"
		var a externalAnswer
		// The wrong-CA route exists once Envoy answers 503 and counts a
		// certificate it refused (before that: 404, no route, or 503, no
		// cluster). Envoy's 503 body says only "remote connection failure".
		waitUntil(t, "the egress gateway refuses the external certificate", nil, func() (bool, string) {
			var err error
			a, err = ec.do(context.Background(), false, meshlab.EgressOriginatePort, meshlab.ExternalWrongCAHost, "wrong-ca")
			if err != nil {
				return false, err.Error()
			}
			n, err := readEnvoyStat(c1.EnvoyEgress, stat)
			return a.Status == http.StatusServiceUnavailable && err == nil && n > 0,
				fmt.Sprintf("status %d: %.300s; %s=%d (%v)", a.Status, a.Body, stat, n, err)
		})
		errsBefore, _ := m.External.TLSErrors()
		failsBefore := envoyStat(t, c1.EnvoyEgress, stat)
		for i := range 20 {
			a, err := ec.do(context.Background(), false, meshlab.EgressOriginatePort, meshlab.ExternalWrongCAHost, fmt.Sprintf("wrong-ca-%d", i))
			if err != nil {
				t.Fatal(err)
			}
			if a.Status != http.StatusServiceUnavailable || a.Reply.Server != "" {
				t.Fatalf("request %d: status %d (external server %q), want Envoy's 503: %.300s", i, a.Status, a.Reply.Server, a.Body)
			}
		}
		fails := envoyStat(t, c1.EnvoyEgress, stat) - failsBefore
		if fails < 20 {
			t.Errorf("%s grew by %d for 20 requests, want ≥ 20 (each refused the certificate)", stat, fails)
		}
		for _, r := range m.External.Requests() {
			if r.Host == meshlab.ExternalWrongCAHost {
				t.Errorf("the external server answered a request for %s: the gateway accepted a certificate of another CA", r.Host)
				break
			}
		}
		tlsErrs, _ := m.External.TLSErrors()
		tlsErrs = tlsErrs[len(errsBefore):]
		if len(tlsErrs) < 20 {
			t.Errorf("the external server saw %d failed handshakes, want ≥ 20 (Envoy aborting on the certificate)", len(tlsErrs))
		}
		// The same server and SNI with the right CA succeed meanwhile.
		if a, err := ec.do(context.Background(), false, meshlab.EgressOriginatePort, meshlab.ExternalHost, "right-ca"); err != nil || a.Status != http.StatusOK {
			t.Errorf("right CA: %v status %d", err, a.Status)
		}
		figure(t, "20/20 refused: 503 %q; %s +%d; external server handshake errors +%d (e.g. %q)",
			firstLine(a.Body), stat, fails, len(tlsErrs), firstOf(tlsErrs))
	})
	t.Run("TLSOriginationCASecretUpdated", func(t *testing.T) {
		// The wrong-CA Secret now holds the external CA: Envoy gets the new
		// validation context over SDS and the same route succeeds.
		if err := c1.Store.Set(meshlab.CASecret(meshlab.ExternalWrongCACred, m.ExternalPKI)); err != nil {
			t.Fatal(err)
		}
		written := time.Now()
		if err := c1.Store.Sync(context.Background()); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, "the egress gateway trusts the updated CA Secret", nil, func() (bool, string) {
			a, err := ec.do(context.Background(), false, meshlab.EgressOriginatePort, meshlab.ExternalWrongCAHost, "ca-updated")
			if err != nil {
				return false, err.Error()
			}
			return a.Status == http.StatusOK && a.Reply.Server != "", fmt.Sprintf("status %d: %.200s", a.Status, a.Body)
		})
		took := time.Since(written)
		for i := range 20 {
			a, err := ec.do(context.Background(), false, meshlab.EgressOriginatePort, meshlab.ExternalWrongCAHost, fmt.Sprintf("ca-updated-%d", i))
			if err != nil {
				t.Fatal(err)
			}
			if r := a.Reply; a.Status != http.StatusOK || !r.TLS || r.SNI != meshlab.ExternalHost || r.Host != meshlab.ExternalWrongCAHost {
				t.Fatalf("request %d: status %d, the external server saw %+v; want 200 over TLS with SNI %s", i, a.Status, r, meshlab.ExternalHost)
			}
		}
		figure(t, "20/20 succeed once the Secret holds the right CA, %s after it was written (API server → daemon → SDS → Envoy)", took.Round(time.Millisecond))
	})
	t.Run("IstioMutualToGateway", func(t *testing.T) {
		waitEgress(t, ec, true, meshlab.EgressMutualPort)
		before := upstream(t, meshlab.ExternalHTTPSPort)
		st := runLoad(ec.load("egress istio mutual", true, meshlab.EgressMutualPort, true), 200)
		if st.Failed > 0 || st.OK == 0 {
			t.Errorf("%s: want every request over mesh mTLS to the gateway, then TLS to the external server; errors: %v", st, st.Errors)
		}
		requireExternalSaw(t, m, st)
		requireUpstream(t, meshlab.ExternalHTTPSPort, before, st)
		// Without an SVID the gateway refuses the handshake (ISTIO_MUTUAL
		// requires a client certificate of the mesh).
		noCert := ec.mutual.Transport.(*http.Transport).TLSClientConfig.Clone()
		noCert.GetClientCertificate = nil
		noCert.Certificates = nil
		anon := &egressClient{ingressClient: ec.ingressClient, mutual: podHTTPClient(netlab.Dialer{Net: c1.Net}, noCert)}
		if a, err := anon.do(context.Background(), true, meshlab.EgressMutualPort, meshlab.ExternalHost, "anonymous"); err == nil {
			t.Errorf("no client SVID: status %d, want a TLS failure", a.Status)
		}
		figure(t, "%s", st)
	})
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

func firstOf(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

// egressMeshPort is the egress gateway's HTTP port towards services of the
// mesh (TestEnvoyEgressToMesh).
const egressMeshPort = 8082

// TestEnvoyEgressToMesh: the Envoy egress gateway in cluster1 originates
// ISTIO_MUTUAL (its SVID from its daemon over SDS, DestinationRule tls
// ISTIO_MUTUAL) towards services of the mesh in cluster2, through
// cluster2's Envoy east-west gateway (AUTO_PASSTHROUGH by SNI). A pod of
// cluster1 sends plain HTTP to the gateway (port egressMeshPort, Host the
// service's name). mesh-up's pod accepts the egress gateway's identity:
// every request succeeds, and the pod saw the gateway's SPIFFE ID and the
// service's SNI. only-b's pod accepts only the clients and the ingress
// gateway: the same route to it is refused at the handshake (the pod counts
// each refusal), so Envoy answers 503 and no request reaches the pod. The
// other way round, the gateway refuses mesh-up's pod where a
// DestinationRule subset names another server identity (subjectAltNames).
func TestEnvoyEgressToMesh(t *testing.T) {
	m := newEnvoyMesh(t, envoyWorld{egress: true})
	c1, c2 := m.Cluster("cluster1"), m.Cluster("cluster2")
	egressID := m.PKI.WorkloadID(meshlab.SystemNS, meshlab.EgressGatewaySA)
	ctx := context.Background()
	if _, err := c2.AddEchoPodAllowing(ctx, "mesh-up", "v1", egressID); err != nil {
		t.Fatal(err)
	}
	up, onlyB := meshlab.Host("mesh-up"), meshlab.Host("only-b")
	// wrongSAN is routed to mesh-up's pod (subset wrong-san, whose SNI is
	// mesh-up's: cluster2's gateway knows no such subset) by a
	// DestinationRule that expects another identity from the server.
	const wrongSAN = "wrong-san.example.com"
	route := func(name, host string) string {
		subsets := ""
		if host == up {
			subsets = fmt.Sprintf(`
  subsets:
  - name: wrong-san
    labels: {version: v1}
    trafficPolicy:
      tls: {mode: ISTIO_MUTUAL, sni: %s, subjectAltNames: [%s]}`,
				workload.Target{Host: up, Port: meshlab.EchoPort}.Name().SNI(), m.PKI.WorkloadID(meshlab.Namespace, "someone-else"))
		}
		return fmt.Sprintf(`---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: %[1]s, namespace: %[2]s}
spec:
  hosts: [%[3]s]
  gateways: [egress-to-mesh]
  http:
  - route: [{destination: {host: %[3]s, port: {number: %[4]d}}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: %[1]s, namespace: %[2]s}
spec:
  host: %[3]s
  trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}%[5]s
`, name, meshlab.SystemNS, host, meshlab.EchoPort, subsets)
	}
	if err := c1.Store.Set(fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: egress-to-mesh, namespace: %[1]s}
spec:
  selector: {istio: egressgateway}
  servers:
  - port: {number: %[2]d, name: http-mesh, protocol: HTTP}
    bind: %[3]s
    hosts: [%[4]s, %[5]s, %[6]s]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: egress-wrong-san, namespace: %[1]s}
spec:
  hosts: [%[6]s]
  gateways: [egress-to-mesh]
  http:
  - route: [{destination: {host: %[4]s, port: {number: %[7]d}, subset: wrong-san}}]
`, meshlab.SystemNS, egressMeshPort, c1.EgressIP, up, onlyB, wrongSAN, meshlab.EchoPort) + route("egress-to-mesh-up", up) + route("egress-to-only-b", onlyB)); err != nil {
		t.Fatal(err)
	}
	if err := c1.Store.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	ec := newEgressClient(t, m, c1)
	t.Cleanup(func() {
		if t.Failed() {
			logXDSState(t, c1, c1.EnvoyEgress)
		}
	})
	get := func(host, seq string) (httpAnswer, error) {
		return ec.ingressClient.do(ctx, nil, "http", egressMeshPort, host, "/", map[string]string{"x-echo-seq": seq})
	}
	took := waitUntil(t, "the egress gateway routes "+up, nil, func() (bool, string) {
		a, err := get(up, "wait")
		if err != nil {
			return false, err.Error()
		}
		return a.Status == http.StatusOK && a.Reply.Pod != "", fmt.Sprintf("status %d: %.200s", a.Status, a.Body)
	})

	stat := fmt.Sprintf("cluster.outbound|%d||%s.upstream_rq_200", meshlab.EchoPort, up)
	before := envoyStat(t, c1.EnvoyEgress, stat)
	st := runLoad(ec.ingressClient.load("egress to mesh-up", nil, "http", egressMeshPort, up, nil), 200)
	requireAllOK(t, st, egressID.String(), "cluster2/mesh-up-")
	sni := workload.Target{Host: up, Port: meshlab.EchoPort}.Name().SNI()
	for _, s := range st.Samples {
		if s.OK() && s.Result.SNI != sni {
			t.Fatalf("mesh-up saw SNI %q, want %q (ISTIO_MUTUAL through cluster2's east-west gateway)", s.Result.SNI, sni)
		}
	}
	if n := envoyStat(t, c1.EnvoyEgress, stat) - before; n < int64(st.OK) {
		t.Errorf("%s grew by %d for %d successful requests", stat, n, st.OK)
	}
	figure(t, "egress → mesh-up over ISTIO_MUTUAL: %s; routed %s after the mesh was ready", st, took.Round(time.Millisecond))

	// A pod that does not accept the gateway's identity refuses it.
	pod := podOf(t, c2, "only-b", "v1")
	rejected := pod.Echo.Rejected()
	waitUntil(t, "only-b refuses the egress gateway", nil, func() (bool, string) {
		a, err := get(onlyB, "wait-refused")
		if err != nil {
			return false, err.Error()
		}
		return a.Status == http.StatusServiceUnavailable && pod.Echo.Rejected() > rejected,
			fmt.Sprintf("status %d: %.200s; only-b refused %d", a.Status, a.Body, pod.Echo.Rejected()-rejected)
	})
	rejected = pod.Echo.Rejected()
	for i := range 20 {
		a, err := get(onlyB, fmt.Sprintf("refused-%d", i))
		if err != nil {
			t.Fatal(err)
		}
		if a.Status != http.StatusServiceUnavailable || a.Reply.Pod != "" {
			t.Fatalf("request %d to only-b through the egress gateway: status %d (pod %q), want Envoy's 503 and no pod: %.200s", i, a.Status, a.Reply.Pod, a.Body)
		}
	}
	if n := pod.Echo.Rejected() - rejected; n < 20 {
		t.Errorf("only-b refused %d handshakes for 20 requests, want ≥ 20 (the egress gateway's identity is not among its callers)", n)
	}
	figure(t, "egress → only-b (gateway identity not accepted): 20/20 refused, only-b counted %d refused handshakes", pod.Echo.Rejected()-rejected)

	// The other way round: the gateway refuses a server whose identity is
	// not the one its DestinationRule names (mesh-up's pod, expected to be
	// someone-else): Envoy's 503, counted as a SAN mismatch, no pod reached.
	sanStat := fmt.Sprintf("cluster.outbound|%d|wrong-san|%s.ssl.fail_verify_san", meshlab.EchoPort, up)
	waitUntil(t, "the egress gateway refuses mesh-up's identity for "+wrongSAN, nil, func() (bool, string) {
		a, err := get(wrongSAN, "wait-wrong-san")
		if err != nil {
			return false, err.Error()
		}
		n, err := readEnvoyStat(c1.EnvoyEgress, sanStat)
		return a.Status == http.StatusServiceUnavailable && err == nil && n > 0,
			fmt.Sprintf("status %d: %.200s; %s=%d (%v)", a.Status, a.Body, sanStat, n, err)
	})
	sanBefore := envoyStat(t, c1.EnvoyEgress, sanStat)
	for i := range 20 {
		a, err := get(wrongSAN, fmt.Sprintf("wrong-san-%d", i))
		if err != nil {
			t.Fatal(err)
		}
		if a.Status != http.StatusServiceUnavailable || a.Reply.Pod != "" {
			t.Fatalf("request %d to %s: status %d (pod %q), want Envoy's 503 and no pod: %.200s", i, wrongSAN, a.Status, a.Reply.Pod, a.Body)
		}
	}
	if n := envoyStat(t, c1.EnvoyEgress, sanStat) - sanBefore; n < 20 {
		t.Errorf("%s grew by %d for 20 requests, want ≥ 20", sanStat, n)
	}
	figure(t, "egress → mesh-up expecting another identity: 20/20 refused, %s +%d", sanStat, envoyStat(t, c1.EnvoyEgress, sanStat)-sanBefore)
}
