package federation

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/meshgate/meshgate/discovery/model"
	"github.com/meshgate/meshgate/federation/wire"
	"github.com/meshgate/meshgate/identity"
)

// netFilter is a test network between memberlist transports on 127.0.0.1:
// it drops packets and refuses streams between partitioned groups, and
// counts the bytes every node sends (packets) and moves over the streams it
// dials (both directions), so total traffic = packets + streams.
type netFilter struct {
	mu      sync.RWMutex
	groupOf map[string]int // "127.0.0.1:port" → group
	cut     bool           // groups cannot talk to each other
	down    map[string]bool
	apart   map[[2]int]bool // pairs of groups that cannot talk to each other (separate)

	packetBytes atomic.Int64
	streamBytes atomic.Int64
}

func newNetFilter() *netFilter {
	return &netFilter{groupOf: map[string]int{}, down: map[string]bool{}, apart: map[[2]int]bool{}}
}

func (f *netFilter) blocked(from, to string) bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.down[from] || f.down[to] {
		return true
	}
	if f.apart[[2]int{f.groupOf[from], f.groupOf[to]}] {
		return true
	}
	return f.cut && f.groupOf[from] != f.groupOf[to]
}

func (f *netFilter) partition(cut bool) {
	f.mu.Lock()
	f.cut = cut
	f.mu.Unlock()
}

// separate cuts groups g and h from each other only (both directions):
// each still talks to every other group, so messages between them go
// through a third node (a relay) or not at all.
func (f *netFilter) separate(g, h int) {
	f.mu.Lock()
	f.apart[[2]int{g, h}], f.apart[[2]int{h, g}] = true, true
	f.mu.Unlock()
}

// move puts the node at addr ("127.0.0.1:port") in another group.
func (f *netFilter) move(addr string, group int) {
	f.mu.Lock()
	f.groupOf[addr] = group
	f.mu.Unlock()
}

func (f *netFilter) total() int64 { return f.packetBytes.Load() + f.streamBytes.Load() }

type filteredTransport struct {
	memberlist.NodeAwareTransport
	f    *netFilter
	self string
}

func (f *netFilter) wrap(group int) func(memberlist.NodeAwareTransport) memberlist.NodeAwareTransport {
	return func(t memberlist.NodeAwareTransport) memberlist.NodeAwareTransport {
		self := "127.0.0.1:" + strconv.Itoa(t.(*memberlist.NetTransport).GetAutoBindPort())
		f.mu.Lock()
		f.groupOf[self] = group
		f.mu.Unlock()
		return &filteredTransport{NodeAwareTransport: t, f: f, self: self}
	}
}

func (t *filteredTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	return t.WriteToAddress(b, memberlist.Address{Addr: addr})
}

func (t *filteredTransport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	if t.f.blocked(t.self, a.Addr) {
		return time.Now(), nil // lost on the way
	}
	t.f.packetBytes.Add(int64(len(b)))
	return t.NodeAwareTransport.WriteToAddress(b, a)
}

func (t *filteredTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return t.DialAddressTimeout(memberlist.Address{Addr: addr}, timeout)
}

func (t *filteredTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	if t.f.blocked(t.self, a.Addr) {
		return nil, fmt.Errorf("test partition: %s cannot reach %s", t.self, a.Addr)
	}
	c, err := t.NodeAwareTransport.DialAddressTimeout(a, timeout)
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, n: &t.f.streamBytes}, nil
}

type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c *countingConn) Read(p []byte) (int, error) {
	k, err := c.Conn.Read(p)
	c.n.Add(int64(k))
	return k, err
}

func (c *countingConn) Write(p []byte) (int, error) {
	k, err := c.Conn.Write(p)
	c.n.Add(int64(k))
	return k, err
}

// testMesh runs nodes of one mesh in this process.
type testMesh struct {
	t       testing.TB
	keyFile string
	net     *netFilter
	window  time.Duration
	nodes   []*tnode
	cas     map[string]*identity.CA // each cluster's CA, made at its first node
}

// tnode is a started Node with its registry and a subscriber that records
// the remote set and checks that no cluster's generation ever goes back.
type tnode struct {
	*Node
	stop    func() // ends Run and checks its result
	cluster string
	reg     *prometheus.Registry
	mu      sync.Mutex
	set     []*model.ClusterState
	maxGen  map[string]uint64
	errs    []string
	calls   int
	history []snapshot
	arrival map[string]time.Time // "cluster@rev" → first notification holding it
	states  []stateIn            // every State frame received (stateHook)
}

// stateIn is one State frame a node received.
type stateIn struct {
	cluster    string
	generation uint64
	size       int
	delta      bool
}

// statesOf is the State frames tn received for generation gen of cluster.
func (tn *tnode) statesOf(cluster string, gen uint64) []stateIn {
	tn.mu.Lock()
	defer tn.mu.Unlock()
	var out []stateIn
	for _, s := range tn.states {
		if s.cluster == cluster && s.generation == gen {
			out = append(out, s)
		}
	}
	return out
}

// snapshot is one notification: when, and each cluster's revision.
type snapshot struct {
	at   time.Time
	revs map[string]int
}

func newTestMesh(t testing.TB, window time.Duration) *testMesh {
	dir := t.TempDir()
	key, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "keyring")
	if err := os.WriteFile(keyFile, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	m := &testMesh{t: t, keyFile: keyFile, net: newNetFilter(), window: window, cas: map[string]*identity.CA{}}
	t.Cleanup(func() {
		for _, n := range m.nodes {
			n.Close()
		}
	})
	return m
}

// ca returns cluster's CA (a self-signed root per cluster, as each
// cluster's daemon has its own).
func (m *testMesh) ca(cluster string) *identity.CA {
	m.t.Helper()
	if ca := m.cas[cluster]; ca != nil {
		return ca
	}
	ca, err := identity.NewSelfSignedCA(identity.CAConfig{TrustDomain: spiffeid.RequireTrustDomainFromString("cluster.local")}, identity.CAOptions{})
	if err != nil {
		m.t.Fatal(err)
	}
	m.cas[cluster] = ca
	return ca
}

// auth is a signer for cluster under its CA.
func (m *testMesh) auth(cluster string) *X509Auth {
	m.t.Helper()
	a, err := NewX509Auth(m.ca(cluster), cluster, time.Hour)
	if err != nil {
		m.t.Fatal(err)
	}
	return a
}

func testLogger() *slog.Logger {
	if os.Getenv("FEDERATION_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// testConfig is a fast-gossip configuration on 127.0.0.1.
func (m *testMesh) testConfig(cluster string) Config {
	c := DefaultConfig()
	c.BindAddr = "127.0.0.1:0"
	c.MeshID, c.ClusterID = "mesh1", cluster
	c.KeyringFile = m.keyFile
	c.FailStaticWindow = m.window
	c.GossipInterval, c.ProbeInterval, c.ProbeTimeout = 20*time.Millisecond, 100*time.Millisecond, 50*time.Millisecond
	c.SuspicionMult, c.PushPullInterval, c.TCPTimeout = 2, 500*time.Millisecond, 2*time.Second
	c.DeadNodeReclaimTime = 100 * time.Millisecond
	c.FetchInterval, c.FetchTimeout = 10*time.Millisecond, 2*time.Second
	c.RejoinMin, c.RejoinMax = 50*time.Millisecond, 500*time.Millisecond
	c.ReconnectInterval = 200 * time.Millisecond
	c.AdmitClusters = admittedTestClusters(cluster)
	return c
}

// admittedTestClusters is what the operator of every test node admits:
// every cluster id the tests start nodes of (a–f, i, p, x, old,
// cluster-a, cluster-b, c00–c99), but the node's own. Impostors use other
// ids.
func admittedTestClusters(self string) []string {
	ids := []string{"a", "b", "c", "d", "e", "f", "i", "p", "x", "old", "cluster-a", "cluster-b"}
	for i := range 100 {
		ids = append(ids, fmt.Sprintf("c%02d", i))
	}
	return slices.DeleteFunc(ids, func(id string) bool { return id == self })
}

// start starts a node of cluster in group (for partitions), joining the
// first node of the mesh if there is one.
func (m *testMesh) start(cluster string, group int, mod func(*Config, *Options)) *tnode {
	m.t.Helper()
	cfg := m.testConfig(cluster)
	reg := prometheus.NewRegistry()
	opts := Options{Logger: testLogger(), Registerer: reg, WrapTransport: m.net.wrap(group), Auth: m.auth(cluster)}
	if mod != nil {
		mod(&cfg, &opts)
	}
	if len(m.nodes) > 0 && len(cfg.Seeds) == 0 {
		cfg.Seeds = []string{m.nodes[0].Addr()}
	}
	n, err := New(cfg, opts)
	if err != nil {
		m.t.Fatal(err)
	}
	tn := &tnode{Node: n, cluster: cluster, reg: reg, maxGen: map[string]uint64{}, arrival: map[string]time.Time{}}
	n.stateHook = func(st *wire.State, size int) {
		tn.mu.Lock()
		tn.states = append(tn.states, stateIn{cluster: st.Record.Cluster, generation: st.Record.Generation, size: size, delta: st.DeltaBase != nil})
		tn.mu.Unlock()
	}
	n.Subscribe(tn.observe)
	tn.stop = runNode(m.t, n)
	m.nodes = append(m.nodes, tn)
	return tn
}

// Close kills the node without a goodbye: its Run returns.
func (tn *tnode) Close() { tn.stop() }

// runNode runs n until the returned stop is called, which waits for Run to
// return and fails the test if it returned an error. It returns once n has
// started.
func runNode(t testing.TB, n *Node) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	select {
	case <-n.Started():
	case err := <-done:
		cancel()
		t.Fatalf("node %s did not start: %v", n.Name(), err)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("node %s: Run: %v", n.Name(), err)
			}
		})
	}
}

func (tn *tnode) observe(set []*model.ClusterState) {
	tn.mu.Lock()
	defer tn.mu.Unlock()
	tn.calls++
	tn.set = set
	snap := snapshot{at: time.Now(), revs: map[string]int{}}
	for _, c := range set {
		snap.revs[c.ID] = revOf(c)
		if k := fmt.Sprintf("%s@%d", c.ID, revOf(c)); tn.arrival[k].IsZero() {
			tn.arrival[k] = snap.at
		}
	}
	tn.history = append(tn.history, snap)
	for _, c := range set {
		if c.Generation < tn.maxGen[c.ID] {
			tn.errs = append(tn.errs, fmt.Sprintf("%s: cluster %s went back from generation %d to %d", tn.name, c.ID, tn.maxGen[c.ID], c.Generation))
		}
		tn.maxGen[c.ID] = max(tn.maxGen[c.ID], c.Generation)
	}
}

// remote returns the last notified state of cluster, or nil.
func (tn *tnode) remote(cluster string) *model.ClusterState {
	tn.mu.Lock()
	defer tn.mu.Unlock()
	for _, c := range tn.set {
		if c.ID == cluster {
			return c
		}
	}
	return nil
}

func (tn *tnode) checkMonotonic(t testing.TB) {
	t.Helper()
	tn.mu.Lock()
	defer tn.mu.Unlock()
	for _, e := range tn.errs {
		t.Error(e)
	}
}

// eventually polls cond until it holds. The bound is generous: failing it
// means the mesh did not converge at all, not that it was slow.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never happened: %s", what)
		}
		time.Sleep(5 * time.Millisecond) // poll interval, not a wait for an outcome
	}
}

// clusterState builds cluster's state at revision rev: one service whose
// endpoints' addresses encode rev, so each revision replaces all endpoints.
func clusterState(cluster string, rev, endpoints int) *model.ClusterState {
	svc := model.Service{Meta: model.Meta{Name: "svc-" + cluster, Namespace: "ns"},
		Hostname: "svc-" + cluster + ".ns.svc.cluster.local",
		Ports:    []model.ServicePort{{Name: "http", Port: 8080}}}
	for i := range endpoints {
		svc.Endpoints = append(svc.Endpoints, model.Endpoint{Address: endpointAddr(rev, i), Ready: true,
			TLSMode: "istio", ServiceAccount: "sa", Labels: map[string]string{"app": cluster, "rev": strconv.Itoa(rev)},
			Locality: model.Locality{Region: "r1", Zone: "z" + strconv.Itoa(i%3)},
			Ports:    []model.EndpointPort{{Name: "http", Port: 8080}}})
	}
	c := &model.ClusterState{ID: cluster, Network: "net-" + cluster, TrustDomain: "cluster.local",
		Services:        []model.Service{svc},
		NetworkGateways: []model.NetworkGateway{{Network: "net-" + cluster, Cluster: cluster, Address: "192.0.2.1", Port: 15443}}}
	c.Normalize()
	return c
}

func endpointAddr(rev, i int) string {
	return fmt.Sprintf("10.%d.%d.%d", rev&0xff, (i>>8)&0xff, i&0xff)
}

// revOf returns the revision a remote state carries (-1 if none).
func revOf(c *model.ClusterState) int {
	if c == nil || len(c.Services) == 0 || len(c.Services[0].Endpoints) == 0 {
		return -1
	}
	r, err := strconv.Atoi(c.Services[0].Endpoints[0].Labels["rev"])
	if err != nil {
		return -1
	}
	return r
}

func (tn *tnode) setLocal(t testing.TB, rev, endpoints int) {
	t.Helper()
	if err := tn.SetLocal(clusterState(tn.cluster, rev, endpoints), []byte("kubeconfig-of-"+tn.cluster)); err != nil {
		t.Fatal(err)
	}
}

// allHave reports whether every other started node holds cluster at rev.
func (m *testMesh) allHave(nodes []*tnode, cluster string, rev int) bool {
	for _, n := range nodes {
		if n.cluster == cluster {
			continue
		}
		if revOf(n.remote(cluster)) != rev {
			return false
		}
	}
	return true
}

// waitSecrets waits until every node holds every other node's remote
// secret ("kubeconfig-of-<cluster>", setLocal's), each sealed for it, and
// the sealing has settled: each node's record is sealed for all the others
// and they all hold its current generation.
func (m *testMesh) waitSecrets(t testing.TB, nodes []*tnode) {
	t.Helper()
	for _, n := range nodes {
		var others []string
		for _, o := range nodes {
			if o.cluster != n.cluster {
				others = append(others, o.cluster)
				eventually(t, n.cluster+" holds the remote secret of "+o.cluster, func() bool {
					return string(n.RemoteSecrets()[o.cluster]) == "kubeconfig-of-"+o.cluster
				})
			}
		}
		slices.Sort(others)
		eventually(t, n.cluster+"'s current record, sealed for every other cluster, everywhere", func() bool {
			if !slices.Equal(n.SealedFor(), others) {
				return false
			}
			gen := n.LocalGeneration()
			for _, o := range nodes {
				if o != n && o.heldGeneration(n.cluster) != gen {
					return false
				}
			}
			return true
		})
	}
}

// heldGeneration is the generation of cluster's record tn holds (0: none).
func (tn *tnode) heldGeneration(cluster string) uint64 {
	tn.Node.mu.Lock()
	defer tn.Node.mu.Unlock()
	if r := tn.records[cluster]; r != nil {
		return r.rec.Generation
	}
	return 0
}

// historySince returns the notifications at or after t.
func (tn *tnode) historySince(t time.Time) []snapshot {
	tn.mu.Lock()
	defer tn.mu.Unlock()
	var out []snapshot
	for _, s := range tn.history {
		if !s.at.Before(t) {
			out = append(out, s)
		}
	}
	return out
}

// lastSeenWith returns the time of the last notification holding cluster
// before the first one after since that does not hold it (the withdrawal).
func (tn *tnode) withdrawnAt(cluster string, since time.Time) (time.Time, bool) {
	for _, s := range tn.historySince(since) {
		if _, ok := s.revs[cluster]; !ok {
			return s.at, true
		}
	}
	return time.Time{}, false
}

// memberState returns what tn's member table says of the member named name.
func (tn *tnode) memberState(name string) (Member, bool) {
	for _, m := range tn.Members() {
		if m.Name == name {
			return m, true
		}
	}
	return Member{}, false
}

// waitJoined waits until every node sees every other alive. Records reach
// everyone through any node that holds them, so "every node has every
// state" can hold while two nodes only know each other through the seed;
// a test that then kills the seed leaves them apart for good (their only
// seed is gone), which is the set-up's fault, not the protocol's.
func (m *testMesh) waitJoined(t testing.TB, nodes []*tnode) {
	t.Helper()
	for _, n := range nodes {
		for _, o := range nodes {
			if o != n {
				eventually(t, n.name+" sees "+o.name+" alive", func() bool { return n.sees(o.name, "alive") })
			}
		}
	}
}

func (tn *tnode) sees(name, state string) bool {
	m, ok := tn.memberState(name)
	return ok && m.State == state
}

func writeFile(p, content string) error { return os.WriteFile(p, []byte(content), 0o600) }

func errNotExist() error { return os.ErrNotExist }
