//go:build e2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/meshgate/meshgate/test/e2e/netlab"
)

// TestTopologyReachability proves the network model every scenario relies
// on: inside a network pods reach each other; across networks only the
// public (node and gateway) addresses are reachable, and they see the
// caller's node address, never its pod address; pod addresses of another
// network are unreachable from pods, from the router and from this process;
// a partition cuts the public path and healing restores it.
func TestTopologyReachability(t *testing.T) {
	lab := newLab(t, 2)
	n1, n2 := lab.Networks[0], lab.Networks[1]
	pod1 := addPod(t, n1)
	pod1b := addPod(t, n1)
	pod2 := addPod(t, n2)

	// Servers that report the address they see the caller at.
	gw2 := serveRemoteAddr(t, n2, netip.AddrPortFrom(n2.EastWestIP, 15443))
	podSrv2 := serveRemoteAddr(t, n2, netip.AddrPortFrom(pod2, 8080))
	podSrv1b := serveRemoteAddr(t, n1, netip.AddrPortFrom(pod1b, 8080))

	from1 := netlab.Dialer{Net: n1, Src: pod1}
	t.Run("same network pod to pod", func(t *testing.T) {
		if got := mustCall(t, from1, podSrv1b); got != pod1.String() {
			t.Errorf("pod in %s seen as %s, want its pod address %s", n1.Name, got, pod1)
		}
	})
	t.Run("pod to remote gateway address, seen as node address", func(t *testing.T) {
		if got := mustCall(t, from1, gw2); got != n1.NodeIP.String() {
			t.Errorf("remote gateway saw the caller as %s, want %s's node address %s", got, n1.Name, n1.NodeIP)
		}
	})
	t.Run("pod to remote pod is unreachable", func(t *testing.T) {
		mustNotReach(t, "pod in "+n1.Name, from1, podSrv2)
		mustNotReach(t, "node of "+n1.Name, netlab.Dialer{Net: n1}, podSrv2)
	})
	t.Run("router and test process cannot reach pods", func(t *testing.T) {
		router := &netlab.Network{Name: "router", NS: lab.Router}
		mustNotReach(t, "router", netlab.Dialer{Net: router}, podSrv2)
		mustNotReach(t, "test process", hostDialer{}, podSrv2)
		if got := mustCall(t, hostDialer{}, gw2); got != lab.HostIP.String() {
			t.Errorf("gateway saw the test process as %s, want %s", got, lab.HostIP)
		}
	})
	t.Run("partition and heal", func(t *testing.T) {
		f, err := lab.Partition(n1, n2)
		if err != nil {
			t.Fatal(err)
		}
		mustNotReach(t, "pod in "+n1.Name+" during partition", from1, gw2)
		if err := f.Heal(); err != nil {
			t.Fatal(err)
		}
		mustCall(t, from1, gw2)
	})
}

// TestSweepRemovesLeftovers checks the startup sweep: a namespace, a link and
// a process left by a dead run of a slot are removed.
func TestSweepRemovesLeftovers(t *testing.T) {
	requireLab(t)
	prefix := slot.Prefix + "z" // a lab letter no lab of this run uses
	ns, link := prefix+"-n1", prefix+"-h"
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	run("netns", "add", ns)
	t.Cleanup(func() { _ = netlab.Sweep(prefix) })
	run("link", "add", link, "type", "veth", "peer", "name", prefix+"-hr")
	run("link", "set", prefix+"-hr", "netns", ns)
	sleeper := exec.Command("ip", "netns", "exec", ns, "sleep", "600")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- sleeper.Wait() }()
	// Start returns once `ip netns exec` is forked, before it has entered the
	// namespace: sweep only once the namespace lists the process (under load
	// the sweep otherwise ran first and the sleeper entered a namespace being
	// deleted).
	inNS := time.After(time.Minute) // bound only
	for {
		out, _ := exec.Command("ip", "netns", "pids", ns).Output()
		if strings.Contains(" "+strings.Join(strings.Fields(string(out)), " ")+" ", fmt.Sprintf(" %d ", sleeper.Process.Pid)) {
			break
		}
		select {
		case <-inNS:
			t.Fatalf("the process never entered namespace %s", ns)
		case <-time.After(10 * time.Millisecond): // poll interval; ip netns has no event for it
		}
	}

	if err := netlab.Sweep(slot.Prefix); err != nil {
		t.Fatalf("sweep: %v", err)
	}
	select {
	case err := <-exited:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Errorf("process in the leftover namespace ended with %v, want SIGKILL", err)
		}
	case <-time.After(time.Minute): // bound only; the kill is immediate
		t.Fatal("process in the leftover namespace still runs after the sweep")
	}
	if out, _ := exec.Command("ip", "netns", "list").Output(); strings.Contains(string(out), ns) {
		t.Errorf("namespace %s still exists after the sweep", ns)
	}
	if err := exec.Command("ip", "link", "show", link).Run(); err == nil {
		t.Errorf("link %s still exists after the sweep", link)
	}
}

func addPod(t *testing.T, n *netlab.Network) netip.Addr {
	t.Helper()
	a, err := n.AddPod()
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// serveRemoteAddr listens at addr inside n and answers each connection with
// the caller's IP address as the server sees it.
func serveRemoteAddr(t *testing.T, n *netlab.Network, addr netip.AddrPort) netip.AddrPort {
	t.Helper()
	l, err := n.Listen(addr.String())
	if err != nil {
		t.Fatalf("listen %s in %s: %v", addr, n.Name, err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
			_, _ = io.WriteString(c, host)
			c.Close()
		}
	}()
	return addr
}

type contextDialer interface {
	DialContext(ctx context.Context, network, addr string) (net.Conn, error)
}

type hostDialer struct{}

func (hostDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

// call connects to addr and returns what the server wrote.
func call(d contextDialer, addr netip.AddrPort, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", addr.String())
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	b, err := io.ReadAll(c)
	return string(b), err
}

func mustCall(t *testing.T, d contextDialer, addr netip.AddrPort) string {
	t.Helper()
	got, err := call(d, addr, 10*time.Second)
	if err != nil {
		t.Fatalf("call %s: %v", addr, err)
	}
	return got
}

// mustNotReach asserts that a TCP connection to addr cannot be made. An
// unroutable address fails at once (no route, ICMP unreachable); a dropped
// one times out after 2 s, which is also a failure to connect.
func mustNotReach(t *testing.T, who string, d contextDialer, addr netip.AddrPort) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", addr.String())
	if err == nil {
		t.Errorf("%s connected to %s (%s -> %s); want unreachable", who, addr, c.LocalAddr(), c.RemoteAddr())
		c.Close()
		return
	}
	t.Logf("%s -> %s: %v (unreachable, as wanted)", who, addr, err)
}

// TestLabCloseRemovesEverything checks that closing a lab leaves no
// namespace, link or route behind.
func TestLabCloseRemovesEverything(t *testing.T) {
	lab := newLab(t, 3)
	if err := lab.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	out, _ := exec.Command("ip", "netns", "list").Output()
	if strings.Contains(string(out), lab.Prefix) {
		t.Errorf("namespaces of %s remain after Close:\n%s", lab.Prefix, out)
	}
	out, _ = exec.Command("ip", "-o", "link", "show").Output()
	if strings.Contains(string(out), lab.Prefix) {
		t.Errorf("links of %s remain after Close:\n%s", lab.Prefix, out)
	}
	out, _ = exec.Command("ip", "-4", "route", "show", "root", lab.Supernet().String()).Output()
	if s := strings.TrimSpace(string(out)); s != "" {
		t.Errorf("routes into %s remain after Close: %s", lab.Supernet(), s)
	}
}
