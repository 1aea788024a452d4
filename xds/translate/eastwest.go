package translate

import (
	"slices"
)

// autoPassthroughChains builds the east-west gateway's SNI-routed chains for an
// AUTO_PASSTHROUGH server: one chain per service × port × DestinationRule
// subset whose host is within the server's hosts, matching the SNI
// outbound_.<port>_.<subset>_.<host> and Istio's mTLS ALPNs, with tcp_proxy to
// the cluster of the same name. TLS is not terminated. External (ServiceEntry)
// services and UDP ports are skipped.
func (b *builder) autoPassthroughChains(s *gwServer) []*chainOpts {
	var out []*chainOpts
	for _, h := range b.ix.hostnames {
		svc := b.ix.services[h]
		if svc.Entry != nil || !hostWithin(h, s.SNIHosts) || !b.ix.visible(svc, b.proxy.Namespace) {
			continue
		}
		dr := b.ix.destinationRule(h, b.proxy.Namespace, svc.Namespace, b.proxy.Labels)
		for _, p := range svc.Ports {
			if p.Protocol == "UDP" {
				continue
			}
			out = append(out, b.sniChain(h, p.Port, ""))
			if dr == nil {
				continue
			}
			for _, ss := range dr.Subsets {
				out = append(out, b.sniChain(h, p.Port, ss.Name))
			}
		}
	}
	return out
}

func (b *builder) sniChain(host string, port uint32, subset string) *chainOpts {
	name := sniName(port, subset, host)
	b.clusterRefs[name] = clusterRef{Host: host, Port: port, Subset: subset, SNIDNAT: true}
	return &chainOpts{sniHosts: []string{name}, alpn: slices.Clone(istioMTLSALPNs), network: tcpProxyTo(name)}
}

func hostWithin(h string, patterns []string) bool {
	for _, p := range patterns {
		if hostSubsetOf(h, p) {
			return true
		}
	}
	return false
}
