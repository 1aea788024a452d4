package netlab

import (
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"
)

// Fault is an installed fault (iptables rules); Heal removes it. Heal is
// idempotent.
type Fault struct {
	lab  *Lab
	id   int
	Name string
}

// ruleUndo deletes a fault's rules.
type ruleUndo struct {
	ns    string
	specs [][]string // each a rule spec as given to -I/-A (without the verb)
}

// Partition cuts every packet between networks a and b in the router, in
// both directions, established connections included.
func (l *Lab) Partition(a, b *Network) (*Fault, error) {
	specs := [][]string{
		{"FORWARD", "-s", a.PublicCIDR.String(), "-d", b.PublicCIDR.String(), "-j", "DROP"},
		{"FORWARD", "-s", b.PublicCIDR.String(), "-d", a.PublicCIDR.String(), "-j", "DROP"},
	}
	return l.install(fmt.Sprintf("partition %s<->%s", a.Name, b.Name), l.Router, specs)
}

// Isolate cuts a network off from every other network and from this process.
func (l *Lab) Isolate(n *Network) (*Fault, error) {
	specs := [][]string{
		{"FORWARD", "-s", n.PublicCIDR.String(), "-j", "DROP"},
		{"FORWARD", "-d", n.PublicCIDR.String(), "-j", "DROP"},
	}
	return l.install("isolate "+n.Name, l.Router, specs)
}

// Loss drops packets to and from addr in the router at random with the
// given probability (iptables statistic match).
func (l *Lab) Loss(addr netip.Addr, probability float64) (*Fault, error) {
	p := strconv.FormatFloat(probability, 'f', 4, 64)
	specs := [][]string{
		{"FORWARD", "-d", addr.String(), "-m", "statistic", "--mode", "random", "--probability", p, "-j", "DROP"},
		{"FORWARD", "-s", addr.String(), "-m", "statistic", "--mode", "random", "--probability", p, "-j", "DROP"},
	}
	return l.install(fmt.Sprintf("loss %s p=%s", addr, p), l.Router, specs)
}

// Redirect makes TCP connections opened inside network n to dst go to to
// instead (iptables DNAT in n's OUTPUT chain), e.g. through a Toxiproxy.
// Connections already open are not affected.
func (l *Lab) Redirect(n *Network, dst, to netip.AddrPort) (*Fault, error) {
	specs := [][]string{{"OUTPUT", "-t", "nat", "-p", "tcp", "-d", dst.Addr().String(),
		"--dport", strconv.Itoa(int(dst.Port())), "-j", "DNAT", "--to-destination", to.String()}}
	return l.install(fmt.Sprintf("redirect %s: %s -> %s", n.Name, dst, to), n.NS, specs)
}

// DropConnectionsTo drops, inside network n, every packet of the TCP
// connections opened to dst (their original destination, before any DNAT:
// requests and answers, established connections included), in n's OUTPUT
// chain: a process of n loses its way to dst while others keep theirs to
// the same server by another address.
func (l *Lab) DropConnectionsTo(n *Network, dst netip.AddrPort) (*Fault, error) {
	specs := [][]string{{"OUTPUT", "-p", "tcp", "-m", "conntrack", "--ctorigdst", dst.Addr().String(),
		"--ctorigdstport", strconv.Itoa(int(dst.Port())), "-j", "DROP"}}
	return l.install(fmt.Sprintf("drop %s: connections to %s", n.Name, dst), n.NS, specs)
}

func (l *Lab) install(name, ns string, specs [][]string) (*Fault, error) {
	var done [][]string
	for _, s := range specs {
		if err := iptables(ns, "-I", s); err != nil {
			_ = deleteRules(ns, done)
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		done = append(done, s)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.nextRule++
	l.rules[l.nextRule] = ruleUndo{ns: ns, specs: specs}
	return &Fault{lab: l, id: l.nextRule, Name: name}, nil
}

// Heal removes the fault's rules.
func (f *Fault) Heal() error {
	f.lab.mu.Lock()
	u, ok := f.lab.rules[f.id]
	delete(f.lab.rules, f.id)
	f.lab.mu.Unlock()
	if !ok {
		return nil
	}
	return deleteRules(u.ns, u.specs)
}

// HealAll removes every fault still installed.
func (l *Lab) HealAll() error {
	l.mu.Lock()
	ids := make([]int, 0, len(l.rules))
	for id := range l.rules {
		ids = append(ids, id)
	}
	l.mu.Unlock()
	var errs []error
	for _, id := range ids {
		errs = append(errs, (&Fault{lab: l, id: id}).Heal())
	}
	return errors.Join(errs...)
}

func deleteRules(ns string, specs [][]string) error {
	var errs []error
	for _, s := range specs {
		errs = append(errs, iptables(ns, "-D", s))
	}
	return errors.Join(errs...)
}

// iptables runs "iptables -w [-t table] verb chain rest..." inside ns; spec
// is chain followed by the rule, with an optional "-t table" right after
// the chain.
func iptables(ns, verb string, spec []string) error {
	args := []string{"netns", "exec", ns, "iptables", "-w"}
	chain, rest := spec[0], spec[1:]
	if len(rest) >= 2 && rest[0] == "-t" {
		args = append(args, "-t", rest[1])
		rest = rest[2:]
	}
	args = append(append(args, verb, chain), rest...)
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
