package identity

import (
	"context"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
)

// TestMTLSHandshakes runs real TLS handshakes between SVIDs of meshgate CAs,
// checked by go-spiffe's tlsconfig, and asserts who accepts whom.
func TestMTLSHandshakes(t *testing.T) {
	caA := newCA(t, tdA)
	caA2 := newCA(t, tdA) // another CA claiming the same trust domain
	caB := newCA(t, tdB)
	bundleA := NewBundleSet(caA.Bundle())
	bundleAB := NewBundleSet(caA.Bundle(), caB.Bundle())

	gw := issue(t, caA, gatewayID, time.Hour)
	cli := issue(t, caA, clientID, time.Hour)
	other := issue(t, caA, otherID, time.Hour)
	impostor := issue(t, caA2, clientID, time.Hour) // right ID, wrong CA
	west := issue(t, caB, westID, time.Hour)
	expired := issue(t, caA.WithClock(fakeClockAt(-48*time.Hour)), clientID, time.Hour)
	notYet := issue(t, caA.WithClock(fakeClockAt(48*time.Hour)), clientID, time.Hour)
	expiredServer := issue(t, caA.WithClock(fakeClockAt(-48*time.Hour)), gatewayID, time.Hour)

	server := peer{svid: gw, bundle: bundleA, authorizer: tlsconfig.AuthorizeID(clientID)}
	tests := []struct {
		name      string
		server    peer
		client    peer
		serverErr string // "" = server accepts
		clientErr string // "" = client accepts (checked only when serverErr == "")
	}{
		{name: "right ID accepted both ways", server: server,
			client: peer{svid: cli, bundle: bundleA, authorizer: tlsconfig.AuthorizeID(gatewayID)}},
		{name: "member of trust domain accepted", server: peer{svid: gw, bundle: bundleA, authorizer: tlsconfig.AuthorizeMemberOf(tdA)},
			client: peer{svid: other, bundle: bundleA, authorizer: tlsconfig.AuthorizeMemberOf(tdA)}},
		{name: "wrong client ID rejected by server", server: server,
			client:    peer{svid: other, bundle: bundleA, authorizer: tlsconfig.AuthorizeID(gatewayID)},
			serverErr: `unexpected ID "spiffe://cluster.local/ns/default/sa/sleep"`},
		{name: "wrong server ID rejected by client", server: server,
			client:    peer{svid: cli, bundle: bundleA, authorizer: tlsconfig.AuthorizeID(otherID)},
			clientErr: `unexpected ID "spiffe://cluster.local/ns/istio-system/sa/eastwest-gateway"`},
		{name: "same ID from another CA rejected", server: server,
			client:    peer{svid: impostor, bundle: bundleA, authorizer: tlsconfig.AuthorizeID(gatewayID)},
			serverErr: "certificate signed by unknown authority"},
		{name: "other trust domain without its bundle rejected", server: server,
			client:    peer{svid: west, bundle: bundleAB, authorizer: tlsconfig.AuthorizeAny()},
			serverErr: `no X.509 bundle for trust domain "west.example"`},
		{name: "other trust domain with bundle but not authorized", server: peer{svid: gw, bundle: bundleAB, authorizer: tlsconfig.AuthorizeMemberOf(tdA)},
			client:    peer{svid: west, bundle: bundleAB, authorizer: tlsconfig.AuthorizeAny()},
			serverErr: `unexpected trust domain "west.example"`},
		{name: "other trust domain with bundle and authorized", server: peer{svid: gw, bundle: bundleAB, authorizer: tlsconfig.AuthorizeID(westID)},
			client: peer{svid: west, bundle: bundleAB, authorizer: tlsconfig.AuthorizeID(gatewayID)}},
		{name: "expired client rejected", server: server,
			client:    peer{svid: expired, bundle: bundleA, authorizer: tlsconfig.AuthorizeID(gatewayID)},
			serverErr: "certificate has expired or is not yet valid"},
		{name: "not-yet-valid client rejected", server: server,
			client:    peer{svid: notYet, bundle: bundleA, authorizer: tlsconfig.AuthorizeID(gatewayID)},
			serverErr: "certificate has expired or is not yet valid"},
		{name: "expired server rejected by client", server: peer{svid: expiredServer, bundle: bundleA, authorizer: tlsconfig.AuthorizeID(clientID)},
			client:    peer{svid: cli, bundle: bundleA, authorizer: tlsconfig.AuthorizeID(gatewayID)},
			clientErr: "certificate has expired or is not yet valid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := handshake(t, tt.server, tt.client)
			switch {
			case tt.serverErr != "":
				if !errorContains(r.serverErr, tt.serverErr) {
					t.Fatalf("server error = %v, want one containing %q", r.serverErr, tt.serverErr)
				}
				if r.clientErr == nil {
					t.Errorf("client saw no error although the server rejected it")
				}
			case tt.clientErr != "":
				if !errorContains(r.clientErr, tt.clientErr) {
					t.Fatalf("client error = %v, want one containing %q", r.clientErr, tt.clientErr)
				}
			default:
				if !r.ok() {
					t.Fatalf("handshake failed: server %v, client %v", r.serverErr, r.clientErr)
				}
			}
		})
	}
}

// TestTwoClustersSharedRoot: two clusters whose CAs are intermediates of one
// root, each loaded from an Istio-style cacerts directory and holding only
// the root in its bundle, accept each other's SVIDs.
func TestTwoClustersSharedRoot(t *testing.T) {
	ctx := context.Background()
	root := newCA(t, tdA)
	var loaded [2]*CA
	for i := range loaded {
		inter, err := root.NewIntermediate(spiffeid.TrustDomain{}, 0)
		if err != nil {
			t.Fatal(err)
		}
		m, err := inter.Material()
		if err != nil {
			t.Fatal(err)
		}
		store := DirStore{Dir: t.TempDir()}
		if err := store.Save(ctx, m); err != nil {
			t.Fatal(err)
		}
		if loaded[i], err = LoadCA(ctx, store, tdA, nil); err != nil {
			t.Fatalf("cluster %d: LoadCA: %v", i, err)
		}
	}
	east, west := loaded[0], loaded[1]
	if east.Certificate().Equal(west.Certificate()) {
		t.Fatal("test setup: both clusters have the same intermediate")
	}
	eastGW := issue(t, east, gatewayID, time.Hour)
	westGW := issue(t, west, clientID, time.Hour)
	for _, s := range [][]int{{len(eastGW.Certificates)}, {len(westGW.Certificates)}} {
		if s[0] != 2 {
			t.Fatalf("SVID chain has %d certificates, want leaf + intermediate", s[0])
		}
	}
	// Each side holds only its own view of the bundle: the shared root.
	eastBundle := NewBundleSet(east.Bundle())
	westBundle := NewBundleSet(west.Bundle())
	r := handshake(t,
		peer{svid: eastGW, bundle: eastBundle, authorizer: tlsconfig.AuthorizeMemberOf(tdA)},
		peer{svid: westGW, bundle: westBundle, authorizer: tlsconfig.AuthorizeID(gatewayID)})
	if !r.ok() {
		t.Fatalf("cross-cluster handshake failed: server %v, client %v", r.serverErr, r.clientErr)
	}
	if len(r.serverSaw) != 2 || !r.serverSaw[1].Equal(west.Certificate()) {
		t.Errorf("server saw %d certificates; want the west leaf and the west intermediate", len(r.serverSaw))
	}
	if len(r.clientSaw) != 2 || !r.clientSaw[1].Equal(east.Certificate()) {
		t.Errorf("client saw %d certificates; want the east leaf and the east intermediate", len(r.clientSaw))
	}

	// An intermediate of another root is not trusted, even by a client that
	// trusts the shared root (and so accepts the server).
	strangerRoot := newCA(t, tdA)
	stranger, err := strangerRoot.NewIntermediate(spiffeid.TrustDomain{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	r = handshake(t,
		peer{svid: eastGW, bundle: eastBundle, authorizer: tlsconfig.AuthorizeMemberOf(tdA)},
		peer{svid: issue(t, stranger, clientID, time.Hour), bundle: x509bundle.NewSet(root.Bundle()), authorizer: tlsconfig.AuthorizeAny()})
	if !errorContains(r.serverErr, "certificate signed by unknown authority") {
		t.Fatalf("server error = %v, want unknown authority", r.serverErr)
	}
}
