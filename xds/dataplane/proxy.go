package dataplane

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshgate/meshgate/xds/dataplane/lb"
	"github.com/meshgate/meshgate/xds/dataplane/tlsinspect"
)

// proxy is envoy.filters.network.tcp_proxy: connect to an endpoint of the
// chosen cluster (retrying on another endpoint), replay what the TLS
// inspector peeked, then copy both ways until both sides are done.
func (g *Gateway) proxy(listener string, down net.Conn, p *tcpProxy) {
	cluster := p.pickCluster()
	cr := (*g.clusters.Load())[cluster]
	if cr == nil {
		g.m.upNoHealthy.WithLabelValues(cluster).Inc()
		g.log.Debug("tcp_proxy: unknown cluster; closing", "listener", listener, "cluster", cluster)
		return
	}
	attempts := p.maxAttempts
	if attempts == 0 {
		attempts = g.cfg.ConnectAttempts
	}
	up, lease, err := g.connectUpstream(cr, attempts)
	if err != nil {
		g.log.Debug("tcp_proxy: no upstream connection; closing", "listener", listener, "cluster", cluster, "err", err)
		return
	}
	defer lease.Release()
	defer cr.st.active.Add(-1)
	defer up.Close()
	if ic, ok := down.(*tlsinspect.Conn); ok {
		if prefix := ic.TakePrefix(); len(prefix) > 0 {
			if _, err := up.Write(prefix); err != nil {
				return
			}
			g.m.bytesRx.WithLabelValues(listener).Add(float64(len(prefix)))
		}
		down = ic.Raw()
	}
	pipe(down, up, p.idleTimeout, p.maxDuration,
		g.m.bytesRx.WithLabelValues(listener), g.m.bytesTx.WithLabelValues(listener))
}

var errNoEndpoint = errors.New("no healthy endpoint")

// connectUpstream connects to an endpoint of cr, trying up to attempts
// times, on endpoints not tried yet while there are some. Connect failures
// feed outlier detection.
func (g *Gateway) connectUpstream(cr *clusterRuntime, attempts int) (net.Conn, *lb.Lease, error) {
	name := cr.cfg.name
	if cr.bal == nil || cr.bal.Len() == 0 {
		g.m.upNoHealthy.WithLabelValues(name).Inc()
		return nil, nil, errNoEndpoint
	}
	if max := cr.cfg.maxConnections; max > 0 && cr.st.active.Load() >= int64(max) {
		g.m.upOverflow.WithLabelValues(name).Inc()
		return nil, nil, fmt.Errorf("cluster %q: max_connections %d reached", name, max)
	}
	var tried []string
	var lastErr error = errNoEndpoint
	for i := range attempts {
		lease, ok := cr.bal.Pick(tried)
		if !ok && len(tried) > 0 {
			lease, ok = cr.bal.Pick(nil) // every endpoint tried: try again from the top
		}
		if !ok {
			break
		}
		if i > 0 {
			g.m.upRetry.WithLabelValues(name).Inc()
		}
		addr := lease.Endpoint.Address
		tried = append(tried, addr)
		conn, err := g.dial(cr, lease.Endpoint)
		var cfgErr *tlsConfigError
		switch {
		case errors.As(err, &cfgErr):
			lease.Release()
			g.m.upTLSConfig.WithLabelValues(name).Inc()
			level := slog.LevelDebug
			if cfgErr.first {
				level = slog.LevelWarn // once per secret set, not per connection
			}
			g.log.Log(context.Background(), level, "upstream TLS settings unavailable; closing", "cluster", name, "err", err)
			return nil, nil, err
		case err != nil:
			lastErr = err
			g.m.upConnectFail.WithLabelValues(name).Inc()
			lease.Failure()
			g.log.Debug("upstream connect failed", "cluster", name, "endpoint", addr, "attempt", i+1, "err", err)
			continue
		}
		lease.Success()
		cr.st.active.Add(1)
		g.m.upCx.WithLabelValues(name).Inc()
		return conn, lease, nil
	}
	if errors.Is(lastErr, errNoEndpoint) {
		g.m.upNoHealthy.WithLabelValues(name).Inc()
	}
	return nil, nil, lastErr
}

type tlsConfigError struct {
	err   error
	first bool
}

func (e *tlsConfigError) Error() string { return e.err.Error() }

// dial opens a TCP connection to ep within connect_timeout and, when the
// endpoint's transport socket is TLS, completes the handshake (also within
// connect_timeout, like Envoy which counts a connection as connected once
// its TLS handshake is done).
func (g *Gateway) dial(cr *clusterRuntime, ep *lb.Endpoint) (net.Conn, error) {
	var tcfg *tls.Config
	if t, _ := ep.Data.(*upstreamTLS); t != nil {
		cfg, first, err := t.config(g.secrets.Load())
		if err != nil {
			return nil, &tlsConfigError{err, first}
		}
		tcfg = cfg
	}
	ctx, cancel := context.WithTimeout(context.Background(), cr.cfg.connectTimeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", ep.Address)
	if err != nil {
		return nil, err
	}
	if tcfg == nil {
		return conn, nil
	}
	tc := tls.Client(conn, tcfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("upstream TLS handshake: %w", err)
	}
	return tc, nil
}

// copyBufSize is the per-direction copy buffer (loopback MSS is ~64 KiB).
const copyBufSize = 64 * 1024

var bufPool = sync.Pool{New: func() any { b := make([]byte, copyBufSize); return &b }}

// pipe copies down→up and up→down. EOF on one side half-closes the other;
// an error on either side, the idle timeout (no byte either way) or the
// maximum duration closes both.
func pipe(down, up net.Conn, idle, maxDur time.Duration, rx, tx prometheus.Counter) {
	var last atomic.Int64
	last.Store(time.Now().UnixNano())
	var once sync.Once
	closeBoth := func() { once.Do(func() { down.Close(); up.Close() }) }
	if idle > 0 {
		var t *time.Timer
		t = time.AfterFunc(idle, func() {
			if left := idle - time.Since(time.Unix(0, last.Load())); left > 0 {
				t.Reset(left)
				return
			}
			closeBoth()
		})
		defer t.Stop()
	}
	if maxDur > 0 {
		t := time.AfterFunc(maxDur, closeBoth)
		defer t.Stop()
	}
	var wg sync.WaitGroup
	wg.Go(func() { copyHalf(up, down, rx, &last, closeBoth) })
	copyHalf(down, up, tx, &last, closeBoth)
	wg.Wait()
	closeBoth()
}

// copyHalf copies src to dst. Byte counters are updated every MiB and at
// the end, not per read, to keep the hot loop cheap.
func copyHalf(dst, src net.Conn, count prometheus.Counter, last *atomic.Int64, closeBoth func()) {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	pending := 0
	defer func() { count.Add(float64(pending)) }()
	for {
		n, err := src.Read(buf)
		if n > 0 {
			last.Store(time.Now().UnixNano())
			if pending += n; pending >= 1<<20 {
				count.Add(float64(pending))
				pending = 0
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				closeBoth()
				return
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				if cw, ok := dst.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
					return
				}
			}
			closeBoth()
			return
		}
	}
}
