package netlab

import (
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"sync"
)

// Host numbers inside a network's public /24.
const (
	hostRouter   = 1  // router's end of the uplink
	hostNode     = 2  // node address: API server, daemon (xDS, gossip, admin)
	hostEastWest = 10 // east-west gateway's load-balancer address
	hostIngress  = 11 // ingress gateway's load-balancer address
	podBase      = 100
)

// Lab is a running topology. Close removes it.
type Lab struct {
	Prefix   string
	Router   string     // router namespace
	HostIP   netip.Addr // this process's address on the management link
	Networks []*Network

	octet    int // second octet: 200 + 5*slot + lab index
	hostLink string
	slot     *Slot
	labIdx   int
	mu       sync.Mutex
	rules    map[int]ruleUndo // installed fault rules by id
	nextRule int
}

// Network is one mesh network: a namespace with a node address, gateway
// addresses and a pod subnet.
type Network struct {
	Name   string // "net1"
	Index  int    // 1-based
	NS     string // namespace name
	Uplink string // interface towards the router, inside NS

	NodeIP, EastWestIP, IngressIP netip.Addr
	PublicCIDR, PodCIDR           netip.Prefix

	lab     *Lab
	mu      sync.Mutex
	nextPod int
}

// New builds a lab of n networks (1..9) under slot's prefix. On error nothing
// is left behind.
func New(slot *Slot, n int) (*Lab, error) {
	if n < 1 || n > 9 {
		return nil, fmt.Errorf("netlab: %d networks, want 1..9", n)
	}
	l, err := newLabInFreeSubnet(slot)
	if err != nil {
		return nil, err
	}
	for i := 1; i <= n; i++ {
		l.Networks = append(l.Networks, &Network{
			Name: fmt.Sprintf("net%d", i), Index: i, NS: fmt.Sprintf("%s-n%d", l.Prefix, i),
			Uplink: fmt.Sprintf("%s-u%d", l.Prefix, i), lab: l,
			NodeIP: l.addr(i, hostNode), EastWestIP: l.addr(i, hostEastWest), IngressIP: l.addr(i, hostIngress),
			PublicCIDR: netip.PrefixFrom(l.addr(i, 0), 24), PodCIDR: netip.PrefixFrom(l.addr(podBase+i, 0), 24),
		})
	}
	if err := l.build(); err != nil {
		return nil, errors.Join(err, l.Close())
	}
	return l, nil
}

// newLabInFreeSubnet reserves a lab index of the slot whose /16 this
// machine does not route yet (another lab index when it does).
func newLabInFreeSubnet(slot *Slot) (*Lab, error) {
	var skipped []int
	defer func() {
		for _, k := range skipped {
			slot.releaseLab(k)
		}
	}()
	var busy []error
	for {
		k, err := slot.takeLab()
		if err != nil {
			return nil, errors.Join(append(busy, err)...)
		}
		prefix := slot.Prefix + string(rune('a'+k))
		l := &Lab{Prefix: prefix, Router: prefix + "-rt", octet: 200 + LabsPerSlot*slot.N + k, hostLink: prefix + "-h",
			rules: map[int]ruleUndo{}, slot: slot, labIdx: k}
		l.HostIP = l.addr(0, 1)
		if err := l.checkFree(); err != nil {
			busy = append(busy, err)
			skipped = append(skipped, k)
			continue
		}
		return l, nil
	}
}

func (l *Lab) addr(third, fourth int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, byte(l.octet), byte(third), byte(fourth)})
}

// Supernet is the /16 holding every address of the lab.
func (l *Lab) Supernet() netip.Prefix { return netip.PrefixFrom(l.addr(0, 0), 16) }

// checkFree refuses to build over a subnet this machine already routes.
func (l *Lab) checkFree() error {
	out, err := exec.Command("ip", "-4", "route", "show", "root", l.Supernet().String()).Output()
	if err != nil {
		return fmt.Errorf("ip route show: %w", err)
	}
	if s := strings.TrimSpace(string(out)); s != "" {
		return fmt.Errorf("netlab: %s is already routed on this machine (%s); free it or use another slot", l.Supernet(), s)
	}
	return nil
}

func (l *Lab) build() error {
	r := &runner{}
	rt := l.Router
	hostPeer := l.Prefix + "-hr"
	mgmt := l.addr(0, 2)
	r.ip("netns", "add", rt)
	r.ip("-n", rt, "link", "set", "lo", "up")
	r.ip("link", "add", l.hostLink, "type", "veth", "peer", "name", hostPeer)
	r.ip("link", "set", hostPeer, "netns", rt)
	r.ip("addr", "add", l.HostIP.String()+"/24", "dev", l.hostLink)
	r.ip("link", "set", l.hostLink, "up")
	r.ip("-n", rt, "addr", "add", mgmt.String()+"/24", "dev", hostPeer)
	r.ip("-n", rt, "link", "set", hostPeer, "up")
	for _, n := range l.Networks {
		n.build(r)
	}
	// The test process sends the whole lab range to the router (never out
	// of the machine); the router forwards to public addresses only.
	r.ip("route", "add", l.Supernet().String(), "via", mgmt.String(), "dev", l.hostLink)
	r.run("ip", "netns", "exec", rt, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
	r.ipt(rt, "-P", "FORWARD", "DROP")
	r.ipt(rt, "-A", "FORWARD", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT")
	r.ipt(rt, "-A", "FORWARD", "-d", l.addr(0, 0).String()+"/24", "-j", "ACCEPT")
	for _, n := range l.Networks {
		for _, a := range []netip.Addr{n.NodeIP, n.EastWestIP, n.IngressIP} {
			r.ipt(rt, "-A", "FORWARD", "-d", a.String(), "-j", "ACCEPT")
		}
	}
	return r.err
}

func (n *Network) build(r *runner) {
	l := n.lab
	rtSide := fmt.Sprintf("%s-r%d", l.Prefix, n.Index)
	r.ip("netns", "add", n.NS)
	r.ip("-n", n.NS, "link", "set", "lo", "up")
	r.ip("-n", l.Router, "link", "add", rtSide, "type", "veth", "peer", "name", n.Uplink, "netns", n.NS)
	r.ip("-n", l.Router, "addr", "add", l.addr(n.Index, hostRouter).String()+"/24", "dev", rtSide)
	r.ip("-n", l.Router, "link", "set", rtSide, "up")
	r.ip("-n", n.NS, "addr", "add", n.NodeIP.String()+"/24", "dev", n.Uplink)
	r.ip("-n", n.NS, "addr", "add", n.EastWestIP.String()+"/32", "dev", n.Uplink)
	r.ip("-n", n.NS, "addr", "add", n.IngressIP.String()+"/32", "dev", n.Uplink)
	r.ip("-n", n.NS, "link", "set", n.Uplink, "up")
	r.ip("-n", n.NS, "route", "add", "default", "via", l.addr(n.Index, hostRouter).String(), "src", n.NodeIP.String())
	// Pod traffic leaves the network with the node's address, as on a node.
	r.ipt(n.NS, "-t", "nat", "-A", "POSTROUTING", "-s", n.PodCIDR.String(), "-o", n.Uplink,
		"-j", "SNAT", "--to-source", n.NodeIP.String())
}

// Close deletes the namespaces (and with them every link, address, route and
// iptables rule inside) and the host end of the management link, after
// killing any process still inside. It is safe to call more than once.
func (l *Lab) Close() error {
	err := Sweep(l.Prefix)
	if err == nil {
		l.slot.releaseLab(l.labIdx)
	}
	return err
}

// Network returns the network named name ("net1"), or nil.
func (l *Lab) Network(name string) *Network {
	for _, n := range l.Networks {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// AddPod adds a new pod address to the network and returns it.
func (n *Network) AddPod() (netip.Addr, error) {
	n.mu.Lock()
	n.nextPod++
	host := 10 + n.nextPod
	n.mu.Unlock()
	if host > 250 {
		return netip.Addr{}, fmt.Errorf("network %s: out of pod addresses", n.Name)
	}
	a := n.lab.addr(podBase+n.Index, host)
	if out, err := exec.Command("ip", "-n", n.NS, "addr", "add", a.String()+"/32", "dev", "lo").CombinedOutput(); err != nil {
		return netip.Addr{}, fmt.Errorf("add pod address %s in %s: %v: %s", a, n.NS, err, out)
	}
	return a, nil
}

// Exec is the command prefix that runs a command inside the network.
func (n *Network) Exec() []string { return []string{"ip", "netns", "exec", n.NS} }

// runner runs commands until the first error.
type runner struct{ err error }

func (r *runner) run(name string, args ...string) {
	if r.err != nil {
		return
	}
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		r.err = fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
}

func (r *runner) ip(args ...string) { r.run("ip", args...) }

// ipt runs iptables inside namespace ns.
func (r *runner) ipt(ns string, args ...string) {
	r.run("ip", append([]string{"netns", "exec", ns, "iptables", "-w"}, args...)...)
}
