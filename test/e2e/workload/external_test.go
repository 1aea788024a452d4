package workload

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/meshgate/meshgate/identity"
)

// TestExternal: the external server answers plain HTTP and HTTPS with what
// it saw (TLS, SNI, Host, seq), records each request, and records a
// handshake that the client aborted for an unknown CA.
func TestExternal(t *testing.T) {
	td := spiffeid.RequireTrustDomainFromString("external.example")
	ca, err := identity.NewSelfSignedCA(identity.CAConfig{TrustDomain: td, TTL: time.Hour}, identity.CAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	svid, err := ca.IssueX509SVID(spiffeid.RequireFromPath(td, "/server"), identity.SVIDOptions{DNSNames: []string{"ext.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	cert := tls.Certificate{PrivateKey: svid.PrivateKey}
	for _, c := range svid.Certificates {
		cert.Certificate = append(cert.Certificate, c.Raw)
	}
	lo := netip.MustParseAddrPort("127.0.0.1:0")
	e, err := StartExternal(ExternalConfig{Name: "ext", HTTP: lo, HTTPS: lo, Cert: cert})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	roots := x509.NewCertPool()
	for _, c := range ca.Bundle().X509Authorities() {
		roots.AddCert(c)
	}
	get := func(hc *http.Client, url, seq string) (ExternalReply, error) {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Host = "ext.example.com"
		req.Header.Set("x-echo-seq", seq)
		resp, err := hc.Do(req)
		if err != nil {
			return ExternalReply{}, err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var r ExternalReply
		if resp.Header.Get(HeaderExternal) != "ext" {
			t.Errorf("no %s header: %v", HeaderExternal, resp.Header)
		}
		return r, json.Unmarshal(b, &r)
	}
	httpURL, httpsURL := "http://"+e.Addrs()[0].String()+"/p", "https://"+e.Addrs()[1].String()+"/p"
	r, err := get(http.DefaultClient, httpURL, "1")
	if err != nil || r.TLS || r.Host != "ext.example.com" || r.Path != "/p" || r.Seq != "1" {
		t.Fatalf("http: %+v %v", r, err)
	}
	good := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "ext.example.com"}}}
	r, err = get(good, httpsURL, "2")
	if err != nil || !r.TLS || r.SNI != "ext.example.com" || r.TLSVersion != "TLS 1.3" || r.Seq != "2" {
		t.Fatalf("https: %+v %v", r, err)
	}
	bad := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: x509.NewCertPool(), ServerName: "ext.example.com"}}}
	if _, err := get(bad, httpsURL, "3"); err == nil {
		t.Fatal("a client without the CA was answered")
	}
	if n := len(e.Requests()); n != 2 {
		t.Errorf("%d requests recorded, want 2: %+v", n, e.Requests())
	}
	// The server logs the aborted handshake after the client returned.
	errs, next := e.TLSErrors()
	if len(errs) == 0 {
		select {
		case <-next:
		case <-time.After(10 * time.Second):
		}
		errs, _ = e.TLSErrors()
	}
	if len(errs) != 1 || !strings.Contains(errs[0], "remote error: tls: bad certificate") {
		t.Errorf("TLS errors %q, want one refused by the client (bad certificate)", errs)
	}
}
