//go:build integration

package authn_test

import (
	"strings"
	"testing"
	"time"

	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/meshgate/meshgate/identity"
	"github.com/meshgate/meshgate/test/adstest"
	"github.com/meshgate/meshgate/xds/server/authn"
)

// TestSVIDGatewayOverADS: a gateway proving gw-ns/ingress with its SVID gets
// its configuration over ADS (state of the world and delta) with its own
// namespace's Secret only, and a node claiming another namespace is refused
// on both protocols; no API server needed.
func TestSVIDGatewayOverADS(t *testing.T) {
	s := newSecure(t, authn.DefaultConfig("cluster.local"), false)
	svid, err := s.ca.IssueX509SVID(mustID("/ns/gw-ns/sa/ingress"), identity.SVIDOptions{TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	cc := s.dial("", svid)
	for _, delta := range []bool{false, true} {
		c, err := adstest.Dial(s.ctx, cc, gatewayNode("gw-1", "gw-ns", nil), delta)
		if err != nil {
			t.Fatal(err)
		}
		st, err := waitListener(s.ctx, c, "0.0.0.0_443")
		c.Close()
		if err != nil {
			t.Fatalf("delta=%v: %v", delta, err)
		}
		secrets := st.Resources[resource.SecretType]
		if _, ok := secrets["kubernetes://gw-cert"].(*tlsv3.Secret); !ok || secrets["kubernetes://prod-cert"] != nil {
			t.Fatalf("delta=%v: secrets %v, want gw-cert only", delta, keys(secrets))
		}

		before := s.refused(authn.ReasonNodeMismatch)
		bad, err := adstest.Dial(s.ctx, cc, gatewayNode("gw-1", "gw-ns", map[string]any{"NAMESPACE": "prod"}), delta)
		if err != nil {
			t.Fatal(err)
		}
		<-bad.Done()
		err = bad.State().Err
		if status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), `metadata NAMESPACE is "prod"`) {
			t.Fatalf("delta=%v: node claiming prod: %v, want PermissionDenied naming NAMESPACE", delta, err)
		}
		if got := s.refused(authn.ReasonNodeMismatch); got != before+1 {
			t.Fatalf("delta=%v: node_mismatch = %v, want %v", delta, got, before+1)
		}
	}
	got, err := s.fetchSecrets(cc, gatewayNode("gw-9", "gw-ns", nil), "default")
	if err != nil {
		t.Fatal(err)
	}
	if id := svidOf(t, got["default"]).ID.String(); id != "spiffe://cluster.local/ns/gw-ns/sa/ingress" {
		t.Fatalf("SDS default is %s", id)
	}
	// Without a token reviewer, a token is refused, not trusted.
	_, err = s.fetchSecrets(s.dial("a.b.c", nil), gatewayNode("gw-1", "gw-ns", nil), "default")
	if status.Code(err) != codes.Unauthenticated || !strings.Contains(err.Error(), authn.ReasonNoVerifier) {
		t.Fatalf("token without a reviewer: %v", err)
	}
}
