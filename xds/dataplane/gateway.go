package dataplane

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/proto"

	"github.com/meshgate/meshgate/identity/caclient"
)

// Gateway is the built-in L4 gateway: an ADS client that applies listeners,
// clusters, endpoints and secrets, and the TCP proxy that serves them.
type Gateway struct {
	cfg  Config
	log  *slog.Logger
	m    *metrics
	node *corev3.Node
	ca   *caclient.Client // the gateway's identity (Config.Identity), or nil

	// Read lock-free by the data path; replaced by the ADS goroutine.
	secrets  atomic.Pointer[secretSet]
	clusters atomic.Pointer[map[string]*clusterRuntime]

	mu             sync.Mutex // guards the fields below
	listeners      map[string]*listenerRuntime
	draining       map[*listenerRuntime]struct{}
	clusterCfgs    map[string]*clusterConfig
	clusterStates  map[string]*clusterState
	endpoints      map[string]*endpointSet
	status         map[string]*typeStatus // by type URL
	gotLDS, gotCDS bool

	ready     chan struct{}
	readyOnce sync.Once

	running   atomic.Bool
	started   chan struct{}  // closed by Run once the admin address is bound
	adminAddr atomic.Value   // net.Addr, once Run has bound it
	accepts   sync.WaitGroup // accept loops; only they add to handlers
	handlers  sync.WaitGroup // connection handlers
}

// typeStatus is the xDS state of one resource type, for /config_dump.
type typeStatus struct {
	version      string
	lastUpdated  time.Time
	lastNACK     string // error detail of the last rejected response
	lastNACKAt   time.Time
	nackVersion  string
	nackName     string        // the rejected resource, when one is to blame
	nackResource proto.Message // its configuration
}

// resourceError is a rejection blamed on one resource of a response.
type resourceError struct {
	name string
	res  proto.Message
	err  error
}

func (e *resourceError) Error() string { return e.err.Error() }
func (e *resourceError) Unwrap() error { return e.err }

// New validates cfg and returns a Gateway; Run runs it.
func New(cfg Config) (*Gateway, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("gateway config: %w", err)
	}
	node, err := cfg.node()
	if err != nil {
		return nil, err
	}
	g := &Gateway{
		cfg: cfg, log: cfg.Logger, m: newMetrics(cfg.Registry), node: node,
		listeners: map[string]*listenerRuntime{}, draining: map[*listenerRuntime]struct{}{},
		clusterCfgs: map[string]*clusterConfig{}, clusterStates: map[string]*clusterState{},
		endpoints: map[string]*endpointSet{}, status: map[string]*typeStatus{},
		ready: make(chan struct{}), started: make(chan struct{}),
	}
	if cfg.Identity != nil {
		if g.ca, err = caclient.New(*cfg.Identity); err != nil {
			return nil, fmt.Errorf("gateway identity: %w", err)
		}
	}
	g.secrets.Store(&secretSet{byName: map[string]*secretEntry{}})
	g.clusters.Store(&map[string]*clusterRuntime{})
	return g, nil
}

// Run runs the gateway until ctx ends: it binds the admin server (when
// configured), keeps the ADS stream open (reconnecting while the control
// plane is unreachable) and serves the listeners it receives. When ctx ends
// it stops: the ADS client ends, every listener closes, open connections get
// up to ShutdownTimeout to finish and the rest are closed; Run returns when
// every connection handler has returned. It returns nil after ctx ended, or
// the error that stopped the gateway (the admin address cannot be bound,
// the ADS client cannot be built, the admin server fails). Started tells
// when the admin address is bound, Ready when the first configuration is
// applied. Run may be called once.
func (g *Gateway) Run(ctx context.Context) error {
	if !g.running.CompareAndSwap(false, true) {
		return errors.New("gateway: Run called twice")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var admin *http.Server
	adminErr := make(chan error, 1)
	adminDone := make(chan struct{})
	if g.cfg.AdminAddress == "" {
		close(adminDone)
	} else {
		ln, err := net.Listen("tcp", g.cfg.AdminAddress)
		if err != nil {
			return fmt.Errorf("admin address %s: %w", g.cfg.AdminAddress, err)
		}
		g.adminAddr.Store(ln.Addr())
		admin = &http.Server{Handler: g.adminHandler(), ReadHeaderTimeout: 10 * time.Second}
		go func() {
			defer close(adminDone)
			if err := admin.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				adminErr <- fmt.Errorf("admin server: %w", err)
			}
		}()
	}
	caDone := make(chan struct{})
	if g.ca != nil {
		go func() { defer close(caDone); _ = g.ca.Run(ctx) }()
	} else {
		close(caDone)
	}
	adsDone := make(chan error, 1)
	go func() { adsDone <- g.runADS(ctx) }()
	close(g.started)
	var err error
	select {
	case <-ctx.Done():
	case err = <-adminErr:
	case err = <-adsDone:
		adsDone <- err // runADS returns early only on an error; shutdown waits for it
	}
	cancel()
	<-adsDone
	<-caDone
	if admin != nil {
		admin.Close()
	}
	<-adminDone
	g.closeListeners()
	return err
}

// closeListeners closes every listener, waits up to ShutdownTimeout for
// connections to finish, closes the rest and returns when every connection
// handler has returned.
func (g *Gateway) closeListeners() {
	g.mu.Lock()
	var all []*listenerRuntime
	for _, lr := range g.listeners {
		all = append(all, lr)
	}
	for lr := range g.draining {
		all = append(all, lr)
	}
	g.listeners = map[string]*listenerRuntime{}
	g.mu.Unlock()
	for _, lr := range all {
		lr.closeSocket()
	}
	g.accepts.Wait()
	idle := make(chan struct{})
	go func() { g.handlers.Wait(); close(idle) }()
	if g.cfg.ShutdownTimeout > 0 {
		t := time.NewTimer(g.cfg.ShutdownTimeout)
		select {
		case <-idle:
		case <-t.C:
		}
		t.Stop()
	}
	for _, lr := range all {
		lr.closeAll()
	}
	<-idle
}

// Started is closed once Run has bound the admin address (AdminAddr is set)
// and started the ADS client. It is never closed when Run fails before.
func (g *Gateway) Started() <-chan struct{} { return g.started }

// Ready is closed once the first listeners and clusters have been applied.
func (g *Gateway) Ready() <-chan struct{} { return g.ready }

// ListenerAddr returns the bound address of an active listener (useful with
// port 0), or nil.
func (g *Gateway) ListenerAddr(name string) net.Addr {
	g.mu.Lock()
	defer g.mu.Unlock()
	if lr := g.listeners[name]; lr != nil {
		return lr.sock.ln.Addr()
	}
	return nil
}

// AdminAddr returns the bound admin address (useful with port 0), or nil
// before Run has bound it (see Started) or when there is no admin server.
func (g *Gateway) AdminAddr() net.Addr {
	a, _ := g.adminAddr.Load().(net.Addr)
	return a
}

func (g *Gateway) markReady() {
	if g.gotLDS && g.gotCDS {
		g.readyOnce.Do(func() {
			close(g.ready)
			g.log.Info("gateway ready: first listeners and clusters applied")
		})
	}
}

func (g *Gateway) typeStatus(typeURL string) *typeStatus {
	s := g.status[typeURL]
	if s == nil {
		s = &typeStatus{}
		g.status[typeURL] = s
	}
	return s
}
