package caclient

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	pb "istio.io/api/security/v1alpha1"

	"github.com/meshgate/meshgate/identity"
)

// Config says where the CA is and how to prove who we are.
type Config struct {
	// Address is the daemon's secure port, host:port, or several,
	// comma-separated (replicas of the daemon): each is tried in turn.
	Address string
	// ServerName is the name verified in the daemon's serving certificate
	// (default: Address's host), e.g. meshgate.istio-system.svc.
	ServerName string
	// Roots are the mesh roots the serving certificate (and the issued
	// SVID) must chain to.
	Roots []*x509.Certificate
	// TokenFile is a projected service-account token (audience istio-ca),
	// re-read at every call so that kubelet's rotation is picked up. Without
	// it only renewal with a valid current SVID works.
	TokenFile string
	// ClusterID, when set, is sent as the ClusterID metadata, as pilot-agent
	// does; the daemon refuses a token of another cluster. Empty: not sent
	// (the daemon's own cluster).
	ClusterID string
	// TTL is the requested lifetime (0: the CA's default).
	TTL time.Duration
	// Expect, when set, is the only SPIFFE ID the client accepts.
	Expect spiffeid.ID
	// CallTimeout bounds one CreateCertificate (default 30s); RetryBase and
	// RetryMax the backoff after a failed renewal (default 1s, 1m).
	CallTimeout, RetryBase, RetryMax time.Duration
	// Logger (default slog.Default()); Registerer (default none) receives
	// meshgate_caclient_requests_total{result} and
	// meshgate_caclient_svid_expiry_seconds.
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// createCertificate asks the CA at addr.
func (c *Client) createCertificate(ctx context.Context, addr string, req *pb.IstioCertificateRequest) (*pb.IstioCertificateResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.CallTimeout)
	defer cancel()
	conn, err := grpc.NewClient(addr, c.dial...)
	if err != nil {
		return nil, fmt.Errorf("CreateCertificate at %s: %w", addr, err)
	}
	defer conn.Close()
	resp, err := pb.NewIstioCertificateServiceClient(conn).CreateCertificate(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("CreateCertificate at %s: %w", addr, err)
	}
	return resp, nil
}

func (c *Config) complete() error {
	var errs []error
	if c.Address == "" {
		errs = append(errs, errors.New("caclient: Address: required (the daemon's secure xDS port, host:port)"))
	}
	if len(c.Roots) == 0 {
		errs = append(errs, errors.New("caclient: Roots: required (the mesh root that signs the daemon's certificate)"))
	}
	if c.TTL < 0 {
		errs = append(errs, fmt.Errorf("caclient: TTL %v: must not be negative", c.TTL))
	}
	if c.ServerName == "" {
		// the first address's host: replicas carry the same name
		first, _, _ := strings.Cut(c.Address, ",")
		c.ServerName = first
		if i := strings.LastIndexByte(first, ':'); i >= 0 {
			c.ServerName = strings.Trim(first[:i], "[]")
		}
	}
	if c.CallTimeout <= 0 {
		c.CallTimeout = 30 * time.Second
	}
	if c.RetryBase <= 0 {
		c.RetryBase = time.Second
	}
	if c.RetryMax < c.RetryBase {
		c.RetryMax = max(time.Minute, c.RetryBase)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return errors.Join(errs...)
}

// Client obtains and renews one SVID.
type Client struct {
	cfg   Config
	pool  *x509.CertPool
	dial  []grpc.DialOption
	cur   atomic.Pointer[x509svid.SVID]
	first chan struct{} // closed when the first SVID is held
	once  sync.Once

	mu   sync.Mutex
	subs []func(*x509svid.SVID)

	requests *prometheus.CounterVec
	expiry   prometheus.Gauge
}

// New returns a client; it does not call the CA yet.
func New(cfg Config) (*Client, error) {
	if err := cfg.complete(); err != nil {
		return nil, err
	}
	c := &Client{cfg: cfg, pool: x509.NewCertPool(), first: make(chan struct{}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshgate_caclient_requests_total",
			Help: "CreateCertificate calls to the meshgate CA by result (issued, failed).",
		}, []string{"result"}),
		expiry: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "meshgate_caclient_svid_expiry_seconds",
			Help: "Unix time at which the current SVID expires.",
		})}
	for _, r := range cfg.Roots {
		c.pool.AddCert(r)
	}
	if cfg.Registerer != nil {
		for _, m := range []prometheus.Collector{c.requests, c.expiry} {
			if err := cfg.Registerer.Register(m); err != nil {
				return nil, fmt.Errorf("caclient metrics: %w", err)
			}
		}
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(c.TLSConfig()))}
	if cfg.TokenFile != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(tokenFile{path: cfg.TokenFile, cluster: cfg.ClusterID}))
	}
	c.dial = opts
	return c, nil
}

// Close releases nothing today (each call has its own connection); it is
// kept so that callers need not change when it does.
func (c *Client) Close() error { return nil }

// Current returns the SVID held now (nil before the first Fetch).
func (c *Client) Current() *x509svid.SVID { return c.cur.Load() }

// Ready is closed once the client holds an SVID.
func (c *Client) Ready() <-chan struct{} { return c.first }

// Subscribe calls fn with every SVID that replaces the current one (from
// Run's goroutine, one call at a time).
func (c *Client) Subscribe(fn func(*x509svid.SVID)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.subs = append(c.subs, fn)
}

// TLSConfig connects to the daemon's secure port: the serving certificate
// verified against Roots for ServerName, the current SVID (while valid) as
// client certificate. It is a fresh copy each call.
func (c *Client) TLSConfig() *tls.Config {
	return &tls.Config{
		RootCAs: c.pool, ServerName: c.cfg.ServerName, MinVersion: tls.VersionTLS12,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			s := c.cur.Load()
			if s == nil || !time.Now().Before(s.Certificates[0].NotAfter) {
				return &tls.Certificate{}, nil // none: the token speaks
			}
			return TLSCertificate(s), nil
		},
	}
}

// TLSCertificate is svid as a tls.Certificate (leaf and intermediates).
func TLSCertificate(svid *x509svid.SVID) *tls.Certificate {
	out := &tls.Certificate{PrivateKey: svid.PrivateKey, Leaf: svid.Certificates[0]}
	for _, x := range svid.Certificates {
		out.Certificate = append(out.Certificate, x.Raw)
	}
	return out
}

// Fetch obtains a new SVID (a new key) and makes it current.
func (c *Client) Fetch(ctx context.Context) (*x509svid.SVID, error) {
	svid, err := c.fetch(ctx)
	if err != nil {
		c.requests.WithLabelValues("failed").Inc()
		return nil, err
	}
	c.requests.WithLabelValues("issued").Inc()
	c.expiry.Set(float64(svid.Certificates[0].NotAfter.Unix()))
	c.cur.Store(svid)
	c.once.Do(func() { close(c.first) })
	c.cfg.Logger.Info("SVID obtained from the CA", identity.SVIDAttr("svid", svid))
	return svid, nil
}

func (c *Client) fetch(ctx context.Context) (*x509svid.SVID, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
	if err != nil {
		return nil, err
	}
	req := &pb.IstioCertificateRequest{Csr: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))}
	if c.cfg.TTL > 0 {
		req.ValidityDuration = int64(math.Ceil(c.cfg.TTL.Seconds()))
	}
	if c.cfg.TokenFile == "" && c.cfg.ClusterID != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "ClusterID", c.cfg.ClusterID)
	}
	// A connection per call (one every half life): the TLS handshake then
	// presents the SVID held now, so renewals prove themselves with it.
	// Several addresses (replicas of the daemon): each in turn, within
	// CallTimeout each, until one answers.
	var resp *pb.IstioCertificateResponse
	var errs []error
	for _, addr := range strings.Split(c.cfg.Address, ",") {
		if resp, err = c.createCertificate(ctx, addr, req); err == nil {
			break
		}
		errs = append(errs, err)
	}
	if resp == nil {
		return nil, errors.Join(errs...)
	}
	var certs []*x509.Certificate
	for i, p := range resp.GetCertChain() {
		cs, err := identity.ParseCertificatesPEM([]byte(p))
		if err != nil {
			return nil, fmt.Errorf("CreateCertificate: cert_chain[%d]: %w", i, err)
		}
		certs = append(certs, cs...)
	}
	// Istio sends [leaf, intermediates..., root]: an SVID holds no root.
	for len(certs) > 1 && isSelfSigned(certs[len(certs)-1]) {
		certs = certs[:len(certs)-1]
	}
	if len(certs) == 0 {
		return nil, errors.New("CreateCertificate: empty cert_chain")
	}
	if !key.PublicKey.Equal(certs[0].PublicKey) {
		return nil, errors.New("CreateCertificate: the issued certificate does not carry the CSR's key")
	}
	svid := &x509svid.SVID{Certificates: certs, PrivateKey: key}
	if svid.ID, err = x509svid.IDFromCert(certs[0]); err != nil {
		return nil, fmt.Errorf("CreateCertificate: issued leaf: %w", err)
	}
	if !c.cfg.Expect.IsZero() && svid.ID != c.cfg.Expect {
		return nil, fmt.Errorf("CreateCertificate: issued for %s, want %s", svid.ID, c.cfg.Expect)
	}
	inter := x509.NewCertPool()
	for _, x := range certs[1:] {
		inter.AddCert(x)
	}
	if _, err := certs[0].Verify(x509.VerifyOptions{Roots: c.pool, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return nil, fmt.Errorf("CreateCertificate: issued certificate does not chain to the mesh root: %w", err)
	}
	return svid, nil
}

func isSelfSigned(c *x509.Certificate) bool {
	return c.IsCA && c.CheckSignatureFrom(c) == nil
}

// renewAt is half-way through the validity the SVID has left now.
func renewAt(svid *x509svid.SVID, now time.Time) time.Time {
	return now.Add(max(svid.Certificates[0].NotAfter.Sub(now)/2, time.Second))
}

// Run obtains the first SVID (retrying until it succeeds, unless one is
// held already) and renews it at half life until ctx ends; it returns nil
// then. Failed renewals are logged, counted and retried with backoff while
// the current SVID keeps serving.
func (c *Client) Run(ctx context.Context) error {
	backoff := c.cfg.RetryBase
	next := time.Now()
	if s := c.Current(); s != nil {
		next = renewAt(s, time.Now())
	}
	for {
		t := time.NewTimer(time.Until(next))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		svid, err := c.Fetch(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			wait := backoff/2 + mrand.N(backoff/2+1)
			c.cfg.Logger.Warn("SVID request failed; retrying", "ca", c.cfg.Address, "err", err, "retry_in", wait,
				"current_expires", expires(c.Current()))
			next = time.Now().Add(wait)
			backoff = min(2*backoff, c.cfg.RetryMax)
			continue
		}
		backoff = c.cfg.RetryBase
		next = renewAt(svid, time.Now())
		c.mu.Lock()
		subs := append([]func(*x509svid.SVID){}, c.subs...)
		c.mu.Unlock()
		for _, fn := range subs {
			fn(svid)
		}
	}
}

func expires(s *x509svid.SVID) any {
	if s == nil {
		return "none"
	}
	return s.Certificates[0].NotAfter
}

// tokenFile is pilot-agent's per-RPC credential, the token re-read each call.
type tokenFile struct{ path, cluster string }

func (t tokenFile) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	b, err := os.ReadFile(t.path)
	if err != nil {
		return nil, fmt.Errorf("token file: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return nil, fmt.Errorf("token file %s: empty", t.path)
	}
	md := map[string]string{"authorization": "Bearer " + tok}
	if t.cluster != "" {
		md["ClusterID"] = t.cluster
	}
	return md, nil
}

func (tokenFile) RequireTransportSecurity() bool { return true }
