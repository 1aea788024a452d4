//go:build e2e

package e2e

import (
	"bytes"
	"compress/flate"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/meshgate/meshgate/discovery/model"
	"github.com/meshgate/meshgate/federation"
	"github.com/meshgate/meshgate/federation/wire"
	"github.com/meshgate/meshgate/identity"
	"github.com/meshgate/meshgate/test/e2e/meshlab"
)

// newerCluster is the daemon of a cluster (admitted by every daemon of the
// upgrade mesh) running a release newer than both: a member of the gossip
// in the test process (a spy, meta of this release) whose record's body
// carries fields neither release knows, signed under its own CA (pinned at
// first contact). It sends its record to one daemon only and answers no
// request: every other daemon can only have it relayed.
type newerCluster struct {
	id  string
	sp  *spy
	rec wire.Record
}

// newerFields are the unknown fields the newer release writes.
var newerFields = []string{`"futureField":{"kind":"release-n+1","weights":[3,1]}`, `"futureService":"svc-extension"`,
	`"futureEndpoint":{"drain":true}`}

func startNewerCluster(t *testing.T, m *meshlab.Mesh, id string) *newerCluster {
	t.Helper()
	keys, err := federation.LoadKeyringFile(m.Clusters[0].GossipKeyFile())
	if err != nil {
		t.Fatal(err)
	}
	ca, err := identity.NewSelfSignedCA(identity.CAConfig{TrustDomain: m.PKI.TrustDomain}, identity.CAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	auth, err := federation.NewX509Auth(ca, id, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	n := &newerCluster{id: id, sp: newSpy(t, m, id+"-daemon", keys[0], id)}
	state := &model.ClusterState{ID: id, Network: "net-" + id, TrustDomain: m.PKI.TrustDomain.Name(),
		TrustBundle: identity.EncodeCertificatesPEM(ca.Roots()),
		Services: []model.Service{{Meta: model.Meta{Name: "future", Namespace: meshlab.Namespace}, Hostname: meshlab.Host("future"),
			Ports: []model.ServicePort{{Name: "tcp-echo", Port: meshlab.EchoPort, Protocol: "TCP"}},
			Endpoints: []model.Endpoint{{Address: "10.99.4.4", Ready: true, TLSMode: "istio", ServiceAccount: "future",
				Ports: []model.EndpointPort{{Name: "tcp-echo", Port: meshlab.EchoPort}}}}}}}
	state.Normalize()
	body := wire.BodyFromState(state, nil)
	plain, err := json.Marshal(&body)
	if err != nil {
		t.Fatal(err)
	}
	// The newer release's fields: at the top, in the service, in its endpoint.
	raw := bytes.Replace(plain, []byte(`{"cluster":`), []byte(`{`+newerFields[0]+`,"cluster":`), 1)
	raw = bytes.Replace(raw, []byte(`{"name":"future"`), []byte(`{`+newerFields[1]+`,"name":"future"`), 1)
	raw = bytes.Replace(raw, []byte(`{"address":"10.99.4.4"`), []byte(`{`+newerFields[2]+`,"address":"10.99.4.4"`), 1)
	for _, f := range newerFields {
		if !bytes.Contains(raw, []byte(f)) {
			t.Fatalf("newer body lacks %s: %s", f, raw)
		}
	}
	var z bytes.Buffer
	zw, _ := flate.NewWriter(&z, flate.BestSpeed)
	_, _ = zw.Write(raw)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	n.rec = wire.Record{Cluster: id, Origin: n.sp.ml.LocalNode().Name, Generation: uint64(time.Now().UnixNano()),
		Hash: sha256.Sum256(raw), Body: z.Bytes()}
	if n.rec.Proof, err = auth.Sign(n.rec.SignedBytes("e2e")); err != nil {
		t.Fatal(err)
	}
	return n
}

// publish joins to's daemon and sends it the record (only to it).
func (n *newerCluster) publish(t *testing.T, to *meshlab.Cluster) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), neverConverged)
	defer cancel()
	if _, err := n.sp.ml.Join([]string{to.GossipAddr()}); err != nil {
		t.Fatalf("%s cannot join %s: %v", n.id, to.ID, err)
	}
	msg, err := wire.EncodeState(wire.State{Mesh: "e2e", Holder: n.sp.ml.LocalNode().Name, Record: n.rec})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.sp.ml.SendReliable(daemonNode(ctx, t, to), msg); err != nil {
		t.Fatalf("send to %s: %v", to.ID, err)
	}
}

// checkHeldIntact waits until every daemon holds the newer cluster's
// record (its generation on their monitoring ports), then asks each for it
// (as the member it is) and checks that what it holds is the record as
// sent, byte for byte: body with the unknown fields, hash, origin and
// proof (held means verified).
func (n *newerCluster) checkHeldIntact(t *testing.T, m *meshlab.Mesh, what string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), neverConverged)
	defer cancel()
	label := `cluster="` + n.id + `"`
	for _, c := range m.Clusters {
		waitUntil(t, fmt.Sprintf("%s: %s holds %s's record", what, c.ID, n.id), nil, func() (bool, string) {
			g, _ := daemonMetric(t, c, "meshgate_federation_cluster_generation", label)
			return g == float64(n.rec.Generation), fmt.Sprintf("generation %.0f, want %d", g, n.rec.Generation)
		})
		before := len(n.sp.states())
		if err := n.sp.ml.SendReliable(daemonNode(ctx, t, c), encodeRequest(t, n.sp.ml.LocalNode().Name, n.id)); err != nil {
			t.Fatal(err)
		}
		var got *wire.Record
		waitUntil(t, fmt.Sprintf("%s: %s answers with %s's record", what, c.ID, n.id), nil, func() (bool, string) {
			for _, st := range n.sp.states()[before:] {
				if st.Record.Cluster == n.id {
					got = &st.Record
					return true, ""
				}
			}
			return false, "no answer"
		})
		if !bytes.Equal(got.Body, n.rec.Body) || got.Hash != n.rec.Hash || got.Origin != n.rec.Origin ||
			got.Generation != n.rec.Generation || !bytes.Equal(got.Proof.Sig, n.rec.Proof.Sig) {
			t.Errorf("%s: %s holds %s's record changed: body %d bytes hash %s, sent %d bytes hash %s",
				what, c.ID, n.id, len(got.Body), got.Hash.Short(), len(n.rec.Body), n.rec.Hash.Short())
		}
	}
	t.Logf("%s: every daemon holds and serves %s's record (a newer release's, with unknown fields) as sent: %d bytes, hash %s",
		what, n.id, len(n.rec.Body), n.rec.Hash.Short())
}
