package agent

import (
	"strings"
	"testing"

	"github.com/meshgate/meshgate/identity"
	"github.com/meshgate/meshgate/identity/caclient"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// Running with Envoy and a daemon's secure port against a real API server:
// cmd/internal/daemon TestKubeAgentEnvoySecure (integration tier).
func TestNewRefusesIncompleteConfig(t *testing.T) {
	ca, err := identity.NewSelfSignedCA(identity.CAConfig{TrustDomain: spiffeid.RequireTrustDomainFromString("cluster.local")}, identity.CAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	good := caclient.Config{Address: "meshgate.istio-system.svc:15012", Roots: ca.Roots(), TokenFile: "/var/run/secrets/tokens/istio-token"}
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{CA: good}, "Socket: required"},
		{Config{CA: caclient.Config{Address: good.Address, Roots: good.Roots}, Socket: "/tmp/s.sock"}, "TokenFile: required"},
		{Config{CA: caclient.Config{TokenFile: "t"}, Socket: "/tmp/s.sock"}, "Address: required"},
	} {
		if _, err := New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want %q", tc.cfg, err, tc.want)
		}
	}
	if _, err := New(Config{CA: good, Socket: "/tmp/s.sock"}); err != nil {
		t.Errorf("complete config: %v", err)
	}
}
