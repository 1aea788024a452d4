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
)

// Gateway is the built-in L4 gateway: an ADS client that applies listeners,
// clusters, endpoints and secrets, and the TCP proxy that serves them.
type Gateway struct {
	cfg  Config
	log  *slog.Logger
	m    *metrics
	node *corev3.Node

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

	started  atomic.Bool
	cancel   context.CancelFunc
	done     chan struct{}
	accepts  sync.WaitGroup // accept loops; only they add to handlers
	handlers sync.WaitGroup // connection handlers
	admin    *http.Server
	adminLn  net.Listener
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

// New validates cfg and returns a Gateway; Start runs it.
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
		ready: make(chan struct{}), done: make(chan struct{}),
	}
	g.secrets.Store(&secretSet{byName: map[string]*secretEntry{}})
	g.clusters.Store(&map[string]*clusterRuntime{})
	return g, nil
}

// Start binds the admin server (when configured) and starts the ADS client
// in the background. It returns once the admin address is bound.
func (g *Gateway) Start(ctx context.Context) error {
	if !g.started.CompareAndSwap(false, true) {
		return errors.New("gateway already started")
	}
	ctx, g.cancel = context.WithCancel(ctx)
	if g.cfg.AdminAddress != "" {
		ln, err := net.Listen("tcp", g.cfg.AdminAddress)
		if err != nil {
			g.cancel()
			close(g.done)
			return fmt.Errorf("admin address %s: %w", g.cfg.AdminAddress, err)
		}
		g.adminLn = ln
		g.admin = &http.Server{Handler: g.adminHandler(), ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := g.admin.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				g.log.Error("admin server stopped", "err", err)
			}
		}()
	}
	go func() {
		defer close(g.done)
		g.runADS(ctx)
	}()
	return nil
}

// Run starts the gateway, blocks until ctx is done, then stops it.
func (g *Gateway) Run(ctx context.Context) error {
	if err := g.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	g.Stop()
	return nil
}

// Stop ends the ADS client, closes every listener, waits up to
// ShutdownTimeout for connections to finish, closes the rest and returns
// when every connection handler has returned.
func (g *Gateway) Stop() {
	if !g.started.Load() {
		return
	}
	g.cancel()
	<-g.done
	if g.admin != nil {
		g.admin.Close()
	}
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

// AdminAddr returns the bound admin address, or nil.
func (g *Gateway) AdminAddr() net.Addr {
	if g.adminLn == nil {
		return nil
	}
	return g.adminLn.Addr()
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
