package dataplane

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"

	"github.com/meshgate/meshgate/xds/dataplane/tlsinspect"
)

// chainMatch is a compiled FilterChainMatch.
type chainMatch struct {
	destPort     uint32 // 0: any
	destPrefixes []netip.Prefix
	serverNames  []string // lower-case; exact or "*.suffix"
	transport    string
	alpn         []string
	directSrc    []netip.Prefix
	sourceType   listenerv3.FilterChainMatch_ConnectionSourceType
	srcPrefixes  []netip.Prefix
	srcPorts     []uint32
}

func (m *chainMatch) needsInspector() bool {
	return len(m.serverNames) > 0 || len(m.alpn) > 0 || m.transport == "tls"
}

func compileMatch(fcm *listenerv3.FilterChainMatch) (chainMatch, error) {
	var m chainMatch
	if fcm == nil {
		return m, nil
	}
	if err := checkFields(fcm, "destination_port", "prefix_ranges", "server_names", "transport_protocol",
		"application_protocols", "direct_source_prefix_ranges", "source_type", "source_prefix_ranges", "source_ports"); err != nil {
		return m, err
	}
	m.destPort = fcm.GetDestinationPort().GetValue()
	m.transport = fcm.GetTransportProtocol()
	m.alpn = fcm.GetApplicationProtocols()
	m.sourceType = fcm.GetSourceType()
	m.srcPorts = fcm.GetSourcePorts()
	for i, n := range fcm.GetServerNames() {
		n = strings.ToLower(n)
		if rest, wild := strings.CutPrefix(n, "*."); strings.Contains(rest, "*") || (!wild && strings.Contains(n, "*")) || n == "" {
			return m, fmt.Errorf("server_names[%d]: %q: only exact names and \"*.\" prefix wildcards are supported", i, n)
		}
		m.serverNames = append(m.serverNames, n)
	}
	var err error
	if m.destPrefixes, err = cidrs(fcm.GetPrefixRanges()); err != nil {
		return m, at("prefix_ranges", err)
	}
	if m.directSrc, err = cidrs(fcm.GetDirectSourcePrefixRanges()); err != nil {
		return m, at("direct_source_prefix_ranges", err)
	}
	if m.srcPrefixes, err = cidrs(fcm.GetSourcePrefixRanges()); err != nil {
		return m, at("source_prefix_ranges", err)
	}
	return m, nil
}

// connInfo is what a filter chain is matched against.
type connInfo struct {
	dst, src netip.AddrPort
	hello    tlsinspect.Hello
}

// criterion scores one level of Envoy's filter-chain match: ok=false means
// the chain is out; among the rest the highest score wins; an unset
// criterion scores 0 (the fallback of that level).
type criterion func(m *chainMatch, ci *connInfo) (score int, ok bool)

// criteria are in Envoy's order of precedence.
var criteria = []criterion{
	func(m *chainMatch, ci *connInfo) (int, bool) { // destination_port
		if m.destPort == 0 {
			return 0, true
		}
		return 1, uint32(ci.dst.Port()) == m.destPort
	},
	func(m *chainMatch, ci *connInfo) (int, bool) { return prefixScore(m.destPrefixes, ci.dst.Addr()) },
	func(m *chainMatch, ci *connInfo) (int, bool) {
		return serverNameScore(m.serverNames, ci.hello.ServerName)
	},
	func(m *chainMatch, ci *connInfo) (int, bool) { // transport_protocol
		if m.transport == "" {
			return 0, true
		}
		return 1, m.transport == ci.hello.TransportProtocol()
	},
	func(m *chainMatch, ci *connInfo) (int, bool) { // application_protocols: the client's first protocol any chain has wins
		if len(m.alpn) == 0 {
			return 0, true
		}
		for i, p := range ci.hello.ALPN {
			if slices.Contains(m.alpn, p) {
				return len(ci.hello.ALPN) - i, true
			}
		}
		return 0, false
	},
	func(m *chainMatch, ci *connInfo) (int, bool) { return prefixScore(m.directSrc, ci.src.Addr()) },
	func(m *chainMatch, ci *connInfo) (int, bool) { // source_type
		local := ci.src.Addr().IsLoopback() || ci.src.Addr() == ci.dst.Addr()
		switch m.sourceType {
		case listenerv3.FilterChainMatch_SAME_IP_OR_LOOPBACK:
			return 1, local
		case listenerv3.FilterChainMatch_EXTERNAL:
			return 1, !local
		}
		return 0, true
	},
	func(m *chainMatch, ci *connInfo) (int, bool) { return prefixScore(m.srcPrefixes, ci.src.Addr()) },
	func(m *chainMatch, ci *connInfo) (int, bool) { // source_ports
		if len(m.srcPorts) == 0 {
			return 0, true
		}
		return 1, slices.Contains(m.srcPorts, uint32(ci.src.Port()))
	},
}

// prefixScore: the longest matching prefix wins.
func prefixScore(ps []netip.Prefix, a netip.Addr) (int, bool) {
	if len(ps) == 0 {
		return 0, true
	}
	best := -1
	for _, p := range ps {
		if p.Contains(a.Unmap()) || p.Contains(a) {
			best = max(best, p.Bits())
		}
	}
	return best + 1, best >= 0
}

// serverNameScore: an exact name beats any wildcard; a longer wildcard
// suffix beats a shorter one.
func serverNameScore(names []string, sni string) (int, bool) {
	if len(names) == 0 {
		return 0, true
	}
	best := -1
	for _, n := range names {
		if n == sni {
			return 1 << 20, true
		}
		if suffix, ok := strings.CutPrefix(n, "*"); ok && len(sni) > len(suffix) && strings.HasSuffix(sni, suffix) {
			best = max(best, len(suffix))
		}
	}
	return best, best >= 0
}

// matchChain picks the filter chain for a connection like Envoy: level by
// level, keep the chains with the most specific matching criterion (or, when
// none matches specifically, those without that criterion). No chain left
// means the default chain, which may be nil.
func matchChain(chains []*filterChain, def *filterChain, ci *connInfo) *filterChain {
	cands := chains
	for _, crit := range criteria {
		var next []*filterChain
		best := -1
		for _, c := range cands {
			s, ok := crit(&c.match, ci)
			switch {
			case !ok:
			case s > best:
				next, best = append(next[:0], c), s
			case s == best:
				next = append(next, c)
			}
		}
		cands = next
		if len(cands) == 0 {
			return def
		}
	}
	return cands[0]
}

// checkOverlaps rejects chains that match the same connections with the same
// specificity, as Envoy does ("multiple filter chains with the same matching rules").
func checkOverlaps(chains []*filterChain) error {
	seen := map[string]int{}
	for i, c := range chains {
		for _, k := range c.match.keys() {
			if j, dup := seen[k]; dup {
				return fmt.Errorf("filter chains %d and %d have the same matching rules (%s)", j, i, strings.ReplaceAll(k, "\x00", " "))
			}
			seen[k] = i
		}
	}
	return nil
}

// keys expands a match into one key per combination of its list criteria.
func (m *chainMatch) keys() []string {
	dims := [][]string{
		{fmt.Sprint(m.destPort)}, prefixStrings(m.destPrefixes), orAny(m.serverNames), {m.transport},
		orAny(m.alpn), prefixStrings(m.directSrc), {m.sourceType.String()}, prefixStrings(m.srcPrefixes),
	}
	ports := []string{""}
	if len(m.srcPorts) > 0 {
		ports = ports[:0]
		for _, p := range m.srcPorts {
			ports = append(ports, fmt.Sprint(p))
		}
	}
	dims = append(dims, ports)
	out := []string{""}
	for _, d := range dims {
		var next []string
		for _, prefix := range out {
			for _, v := range d {
				next = append(next, prefix+"\x00"+v)
			}
		}
		out = next
	}
	return out
}

func orAny(s []string) []string {
	if len(s) == 0 {
		return []string{""}
	}
	return s
}

func prefixStrings(ps []netip.Prefix) []string {
	if len(ps) == 0 {
		return []string{""}
	}
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

// wrrState is smooth weighted round robin over weighted clusters.
type wrrState struct {
	mu  sync.Mutex
	cur []int64
}

func (w *wrrState) next(cs []weightedCluster) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.cur) != len(cs) {
		w.cur = make([]int64, len(cs))
	}
	var total int64
	best := 0
	for i, c := range cs {
		w.cur[i] += int64(c.weight)
		total += int64(c.weight)
		if w.cur[i] > w.cur[best] {
			best = i
		}
	}
	w.cur[best] -= total
	return best
}
