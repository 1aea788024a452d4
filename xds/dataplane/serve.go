package dataplane

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/meshgate/meshgate/xds/dataplane/tlsinspect"
)

// serve handles one accepted connection: tls_inspector, filter-chain match,
// optional TLS termination, then tcp_proxy.
func (lr *listenerRuntime) serve(c net.Conn) {
	g, name := lr.g, lr.name
	d := &downConn{raw: c}
	lr.track(d)
	defer lr.untrack(d)
	defer d.close()
	g.m.cxTotal.WithLabelValues(name).Inc()
	active := g.m.cxActive.WithLabelValues(name)
	active.Inc()
	defer active.Dec()

	cfg := lr.cfg.Load()
	ci := connInfo{dst: addrPort(c.LocalAddr()), src: addrPort(c.RemoteAddr())}
	var conn net.Conn = c
	if ic := cfg.inspector; ic != nil {
		var ok bool
		if conn, ok = lr.inspect(c, ic, &ci); !ok {
			return
		}
	}
	chain := matchChain(cfg.chains, cfg.def, &ci)
	if chain == nil {
		g.m.noChainMatch.WithLabelValues(name).Inc()
		g.log.Debug("no filter chain matched; closing", "listener", name, "sni", ci.hello.ServerName,
			"alpn", ci.hello.ALPN, "transport", ci.hello.TransportProtocol())
		return
	}
	lr.setChain(d, chain.key)
	if chain.tls != nil {
		tc, err := lr.terminate(conn, chain)
		if err != nil {
			g.m.downstreamTLSFail.WithLabelValues(name).Inc()
			g.log.Debug("downstream TLS handshake failed", "listener", name, "chain", chain.name, "err", err)
			return
		}
		conn = tc
	}
	g.proxy(name, conn, chain.proxy)
}

// inspect runs the TLS inspector; ok=false means the connection is to be closed.
func (lr *listenerRuntime) inspect(c net.Conn, ic *inspectorConfig, ci *connInfo) (net.Conn, bool) {
	if ic.timeout > 0 {
		c.SetReadDeadline(time.Now().Add(ic.timeout))
	}
	hello, conn, err := tlsinspect.Inspect(c, ic.maxHello)
	c.SetReadDeadline(time.Time{})
	ci.hello = hello
	reason := ""
	switch {
	case err == nil:
		return conn, true
	case errors.Is(err, os.ErrDeadlineExceeded):
		if ic.continueOnTimeout {
			return conn, true
		}
		reason = "timeout"
	case errors.Is(err, tlsinspect.ErrTooLarge):
		reason = "too_large"
	case errors.Is(err, tlsinspect.ErrMalformed):
		if !ic.closeOnParseError {
			return conn, true // Envoy: treated as plain text
		}
		reason = "malformed"
	default:
		reason = "read" // the client went away
	}
	lr.g.m.inspectorErrors.WithLabelValues(lr.name, reason).Inc()
	lr.g.log.Debug("tls inspector gave up; closing", "listener", lr.name, "reason", reason, "err", err)
	return nil, false
}

// terminate runs the server side of TLS for a filter chain with a
// DownstreamTlsContext.
func (lr *listenerRuntime) terminate(conn net.Conn, chain *filterChain) (net.Conn, error) {
	cfg, err := chain.tls.config(lr.g.secrets.Load())
	if err != nil {
		return nil, err
	}
	timeout := chain.handshakeTimeout
	if timeout == 0 {
		timeout = lr.g.cfg.HandshakeTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	tc := tls.Server(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, err
	}
	return tc, nil
}

func addrPort(a net.Addr) netip.AddrPort {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.AddrPort()
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}
