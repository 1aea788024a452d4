package federation

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"
)

// TestRunLifecycle: Run starts the node (Started, Addr), returns nil when
// its context ends and stops memberlist (the port is free again); a second
// Run is refused; Run on a port that is taken returns the bind error and
// never closes Started.
func TestRunLifecycle(t *testing.T) {
	m := newTestMesh(t, time.Minute)
	cfg := m.testConfig("a")
	n, err := New(cfg, Options{Logger: testLogger(), Auth: m.auth("a")})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	<-n.Started()
	addr := n.Addr()
	if err := n.Run(ctx); err == nil || !strings.Contains(err.Error(), "already started") {
		t.Fatalf("second Run: %v", err)
	}

	// a node on the same port cannot start
	taken := m.testConfig("b")
	taken.BindAddr = addr
	n2, err := New(taken, Options{Logger: testLogger(), Auth: m.auth("b")})
	if err != nil {
		t.Fatal(err)
	}
	if err := n2.Run(context.Background()); err == nil || !strings.Contains(err.Error(), addr) {
		t.Fatalf("Run on a taken port: %v, want an error naming %s", err, addr)
	}
	select {
	case <-n2.Started():
		t.Fatal("Started closed for a node that did not start")
	default:
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run after cancel: %v", err)
	}
	// memberlist is shut down: the TCP port can be bound again
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("port still held after Run returned: %v", err)
	}
	ln.Close()
}
