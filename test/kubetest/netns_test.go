//go:build integration

package kubetest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestNetworkNamespace runs a cluster inside a network namespace that the
// test makes (Options.ExecPrefix + BindAddress), as the e2e harness will:
// both processes live in the namespace and serve on its address, reached
// from here over a veth pair. Needs root (ip netns), as these machines and
// CI have.
func TestNetworkNamespace(t *testing.T) {
	ns, hostIP, nsIP := makeNetns(t)
	c := New(t, Options{
		Name:          "netns",
		BindAddress:   nsIP,
		ExecPrefix:    []string{"ip", "netns", "exec", ns},
		SkipIstioCRDs: true,
	})
	if want := "https://" + nsIP + ":"; !strings.HasPrefix(c.URL(), want) {
		t.Fatalf("URL %s, want %s...", c.URL(), want)
	}
	createNamespace(t, clientset(t, c.RESTConfig()), "in-netns")

	out, err := exec.Command("ip", "netns", "pids", ns).Output()
	if err != nil {
		t.Fatalf("ip netns pids %s: %v", ns, err)
	}
	pids := strings.Fields(string(out))
	for _, p := range []*process{c.apiserver, c.etcd} {
		if pid := strconv.Itoa(p.Pid()); !slices.Contains(pids, pid) {
			t.Errorf("%s (pid %s) is not in namespace %s (pids %v)", p.Name, pid, ns, pids)
		}
	}
	// Nothing listens on the host side of the pair.
	port := c.URL()[strings.LastIndex(c.URL(), ":")+1:]
	if conn, err := net.DialTimeout("tcp", net.JoinHostPort(hostIP, port), time.Second); err == nil {
		conn.Close()
		t.Errorf("apiserver port %s answers on the host address %s", port, hostIP)
	}
}

// makeNetns creates a network namespace joined to this one by a veth pair
// with a /30 of its own, deleted when the test ends. It returns the
// namespace's name, the host-side and the namespace-side address.
func makeNetns(t *testing.T) (ns, hostIP, nsIP string) {
	t.Helper()
	id := os.Getpid() % 10000
	ns = fmt.Sprintf("kubetest-%d", id)
	host, peer := fmt.Sprintf("kth%d", id), fmt.Sprintf("ktn%d", id)
	subnet := fmt.Sprintf("10.213.%d.", id%256) // per process; traffic stays on the pair
	hostIP, nsIP = subnet+"1", subnet+"2"
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	run("netns", "add", ns)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() }) // also removes the pair
	run("link", "add", host, "type", "veth", "peer", "name", peer)
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", host).Run() })
	run("link", "set", peer, "netns", ns)
	run("addr", "add", hostIP+"/30", "dev", host)
	run("link", "set", host, "up")
	run("-n", ns, "addr", "add", nsIP+"/30", "dev", peer)
	run("-n", ns, "link", "set", peer, "up")
	run("-n", ns, "link", "set", "lo", "up")
	return ns, hostIP, nsIP
}
