package federation

import (
	"bytes"
	"compress/flate"
	"crypto/sha256"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/meshgate/meshgate/federation/wire"
	"github.com/meshgate/meshgate/test/metrictest"
)

// TestForeignMeshRefused: a daemon of another mesh holding the same gossip
// key cannot join, never becomes a member, and neither gets nor gives state.
func TestForeignMeshRefused(t *testing.T) {
	m := newTestMesh(t, time.Minute)
	a, b := m.start("a", 0, nil), m.start("b", 0, nil)
	a.setLocal(t, 1, 2)
	b.setLocal(t, 1, 2)
	eventually(t, "a and b converge", func() bool { return m.allHave([]*tnode{a, b}, "a", 1) && m.allHave([]*tnode{a, b}, "b", 1) })

	x := m.start("x", 0, func(c *Config, _ *Options) { c.MeshID = "other-mesh"; c.Seeds = []string{"127.0.0.1:1"} })
	x.setLocal(t, 1, 2)
	_, err := x.Join([]string{a.Addr()})
	if err == nil || !strings.Contains(err.Error(), `mesh id "mesh1" is not this mesh ("other-mesh")`) {
		t.Fatalf("join from another mesh: %v", err)
	}
	eventually(t, "a counts the refusal", func() bool {
		return metrictest.Sum(t, a.reg, "meshgate_federation_rejected_messages_total", map[string]string{"reason": ReasonForeignMesh}) > 0
	})
	for _, n := range []*tnode{a, b} {
		if _, ok := n.memberState(x.name); ok {
			t.Fatalf("%s lists the foreign node as a member", n.name)
		}
		if n.remote("x") != nil || n.RemoteSecrets()["x"] != nil {
			t.Fatalf("%s holds the foreign cluster", n.name)
		}
	}
	if len(x.RemoteStates()) != 0 || len(x.RemoteSecrets()) != 0 {
		t.Fatalf("the foreign node got state: %v", x.RemoteStates())
	}
}

// rawSender is a bare memberlist holding the mesh's key, used to send
// hand-made messages to a node.
func rawSender(t *testing.T, m *testMesh) *memberlist.Memberlist {
	keys, err := LoadKeyringFile(m.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	c := memberlist.DefaultLocalConfig()
	c.Name, c.BindAddr, c.BindPort = "raw", "127.0.0.1", 0
	c.SecretKey = keys[0]
	c.Logger = nil
	c.LogOutput = &bytes.Buffer{}
	ml, err := memberlist.Create(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ml.Shutdown() })
	return ml
}

func mlNode(t *testing.T, n *tnode) *memberlist.Node {
	host, port, _ := net.SplitHostPort(n.Addr())
	p, _ := strconv.Atoi(port)
	return &memberlist.Node{Name: n.name, Addr: net.ParseIP(host), Port: uint16(p)}
}

func deflate(raw []byte) []byte {
	var buf bytes.Buffer
	zw, _ := flate.NewWriter(&buf, flate.BestSpeed)
	zw.Write(raw)
	zw.Close()
	return buf.Bytes()
}

// TestBadMessagesRejected sends oversized, corrupt, unknown and foreign
// messages straight to a node (UDP and TCP): each is rejected with its
// reason counted, and the node keeps the good state it held.
func TestBadMessagesRejected(t *testing.T) {
	m := newTestMesh(t, time.Minute)
	a := m.start("a", 0, func(c *Config, _ *Options) { c.MaxFrameBytes, c.MaxBodyBytes = 64<<10, 64<<10 })
	b := m.start("b", 0, nil)
	b.setLocal(t, 1, 2)
	eventually(t, "a has b", func() bool { return revOf(a.remote("b")) == 1 })
	raw := rawSender(t, m)
	to := mlNode(t, a)

	digest, _ := wire.EncodeDigest(wire.Digest{Mesh: "mesh1", Cluster: "b", Origin: "b", Holder: "raw", Generation: 1})
	foreign, _ := wire.EncodeDigest(wire.Digest{Mesh: "nope", Cluster: "b", Origin: "b", Holder: "raw", Generation: 1 << 62})
	bodyRaw := []byte(`{"cluster":"b","services":[{"name":"s","hostname":"s.ns"}]}`)
	badHash, _ := wire.EncodeState(wire.State{Mesh: "mesh1", Holder: "raw", Record: wire.Record{Cluster: "b", Origin: "b",
		Generation: 1 << 62, Hash: wire.Hash{1}, Body: deflate(bodyRaw)}})
	bomb := bytes.Repeat([]byte{' '}, 200<<10)
	bombState, _ := wire.EncodeState(wire.State{Mesh: "mesh1", Holder: "raw", Record: wire.Record{Cluster: "b", Origin: "b",
		Generation: 1 << 62, Hash: sha256.Sum256(bomb), Body: deflate(bomb)}})
	big, _ := wire.EncodeState(wire.State{Mesh: "mesh1", Holder: "raw", Record: wire.Record{Cluster: "b", Origin: "b",
		Generation: 1 << 62, Body: make([]byte, 100<<10)}})
	tests := []struct {
		name, reason string
		msg          []byte
		reliable     bool
	}{
		{"garbage", ReasonCorrupt, []byte{wire.Version, byte(wire.TypeDigest), 0xff, 0xff}, false},
		{"truncated digest", ReasonCorrupt, digest[:len(digest)-1], false},
		{"future version", ReasonVersion, append([]byte{9}, digest[1:]...), false},
		{"unknown type", ReasonUnknownType, []byte{wire.Version, 99}, false},
		{"foreign mesh", ReasonForeignMesh, foreign, false},
		{"hash mismatch", ReasonCorrupt, badHash, true},
		{"decompression bomb", ReasonOversized, bombState, true},
		{"oversized frame", ReasonOversized, big, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := metrictest.Sum(t, a.reg, "meshgate_federation_rejected_messages_total", map[string]string{"reason": tc.reason})
			var err error
			if tc.reliable {
				err = raw.SendReliable(to, tc.msg)
			} else {
				err = raw.SendToAddress(to.FullAddress(), tc.msg)
			}
			if err != nil {
				t.Fatal(err)
			}
			eventually(t, tc.reason+" counted", func() bool {
				return metrictest.Sum(t, a.reg, "meshgate_federation_rejected_messages_total", map[string]string{"reason": tc.reason}) == before+1
			})
		})
	}
	// A valid state at b's current generation with other content is a
	// conflict; one at an older generation is stale: neither replaces it.
	body := wire.BodyFromState(clusterState("b", 7, 1), nil)
	z, h, _ := wire.EncodeBody(&body)
	for _, tc := range []struct {
		gen    uint64
		metric string
		labels map[string]string
	}{
		{b.LocalGeneration(), "meshgate_federation_rejected_messages_total", map[string]string{"reason": ReasonConflict}},
		// b's own periodic digests are stale too, hence "at least one more"
		{b.LocalGeneration() - 1, "meshgate_federation_stale_states_total", map[string]string{"cluster": "b"}},
	} {
		before := metrictest.Sum(t, a.reg, tc.metric, tc.labels)
		msg, _ := wire.EncodeState(wire.State{Mesh: "mesh1", Holder: "raw", Record: wire.Record{Cluster: "b", Origin: b.name, Generation: tc.gen, Hash: h, Body: z}})
		if err := raw.SendReliable(to, msg); err != nil {
			t.Fatal(err)
		}
		eventually(t, tc.metric+" counted", func() bool { return metrictest.Sum(t, a.reg, tc.metric, tc.labels) >= before+1 })
	}
	if got := a.remote("b"); revOf(got) != 1 || got.Generation != b.LocalGeneration() {
		t.Fatalf("a lost b's good state: %+v", got)
	}
}

func TestNewRequiresAKeyUnlessInsecure(t *testing.T) {
	c := DefaultConfig()
	c.MeshID, c.ClusterID = "m", "a"
	_, err := New(c, Options{})
	if err == nil || !strings.Contains(err.Error(), "keyringFile: gossip encryption needs a keyring file") {
		t.Fatalf("got %v", err)
	}
	c.Insecure = true
	if _, err := New(c, Options{}); err != nil {
		t.Fatalf("insecure: %v", err)
	}
}

func TestKeyringFileErrorsNeverShowKeys(t *testing.T) {
	dir := t.TempDir()
	good, _ := GenerateKey()
	short := "c2hvcnQta2V5" // "short-key"
	tests := []struct{ name, content, msg string }{
		{"empty", "# nothing\n\n", "no key"},
		{"not base64", good + "\n!!!" + good[3:] + "\n", "line 2: key is not valid base64"},
		{"short", short + "\n", "line 1: key is 9 bytes, want 32"},
		{"duplicate", good + "\n" + good + "\n", "line 2: duplicate key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := dir + "/" + strings.ReplaceAll(tc.name, " ", "-")
			if err := writeFile(p, tc.content); err != nil {
				t.Fatal(err)
			}
			_, err := LoadKeyringFile(p)
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("got %v, want %q", err, tc.msg)
			}
			if strings.Contains(err.Error(), good[:12]) || strings.Contains(err.Error(), short) {
				t.Fatalf("error shows key material: %v", err)
			}
		})
	}
	c := DefaultConfig()
	c.MeshID, c.ClusterID, c.KeyringFile = "m", "a", dir+"/missing"
	if _, err := New(c, Options{}); err == nil || !errors.Is(err, errNotExist()) {
		t.Fatalf("missing keyring file: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	c := DefaultConfig()
	c.BindAddr, c.MeshID, c.ClusterID, c.Insecure = "nohost", "m", "bad id", true
	c.Seeds = []string{"x"}
	c.FailStaticWindow = 0
	c.AdmitClusters = []string{"b", "bad id", "b"}
	c.ExportMode = "some"
	err := c.Validate()
	for _, want := range []string{"bindAddr", "seeds[0]", "clusterID: byte 3", "failStaticWindow: must be positive",
		`admitClusters[1]: "bad id"`, "admitClusters[2]: b is listed twice", `exportMode: "some"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want %q", err, want)
		}
	}
	c = DefaultConfig()
	c.MeshID, c.ClusterID, c.Insecure, c.AdmitClusters = "m", "a", true, []string{"a"}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "admitClusters[0]: a is the local cluster") {
		t.Errorf("Validate() = %v, want the local cluster refused", err)
	}
}
