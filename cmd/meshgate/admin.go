package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/meshgate/meshgate/cmd/internal/cliflag"
	"github.com/meshgate/meshgate/federation"
)

// defaultAdmin is `meshgate run`'s default --admin-address.
const defaultAdmin = "127.0.0.1:9901"

// adminFlags reach a daemon's admin API: on loopback or a Unix socket as
// is (in a pod: kubectl exec deploy/meshgate -- meshgate members), or an
// authenticated one (https://) with a token or a client certificate.
type adminFlags struct {
	addr, tokenFile, caFile, certFile, keyFile, serverName string
}

func (f *adminFlags) bind(fs *pflag.FlagSet) {
	cliflag.String(fs, &f.addr, cliflag.AdminAddress, defaultAdmin, "the daemon's admin API (its run --admin-address): HOST:PORT, unix:PATH, or https://HOST:PORT when it requires authentication")
	cliflag.Alias(fs, "admin", cliflag.AdminAddress)
	cliflag.String(fs, &f.tokenFile, cliflag.TokenFile, "", "file holding a service-account token for audience meshgate-admin (authenticated admin API)")
	cliflag.String(fs, &f.caFile, cliflag.CARoot, "", "PEM mesh root that verifies an https admin API")
	cliflag.Alias(fs, "cacert", cliflag.CARoot)
	fs.StringVar(&f.certFile, "cert", "", "PEM client certificate chain (an SVID of the mesh CA) for an https admin API")
	fs.StringVar(&f.keyFile, "key", "", "PEM private key of --cert")
	fs.StringVar(&f.serverName, "server-name", "", "name the https admin API's certificate must carry (default: the host of --admin-address; the daemon's is meshgate.<namespace>.svc)")
}

// get fetches path from the daemon's admin API (at most max bytes, within a
// minute): a request the daemon refuses as bad (HTTP 400) is the caller's
// error (exit 2), anything else a failure.
func (f *adminFlags) get(ctx context.Context, path string, max int64) ([]byte, error) {
	c, err := f.client()
	if err != nil {
		return nil, rejected(err)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	b, err := c.Get(ctx, path, max)
	if se := (*federation.StatusError)(nil); errors.As(err, &se) && se.Status == http.StatusBadRequest {
		return nil, rejected(err)
	} else if err != nil {
		return nil, failed(err)
	}
	return b, nil
}

func (f *adminFlags) client() (*federation.AdminClient, error) {
	c := &federation.AdminClient{Addr: f.addr}
	if f.tokenFile != "" {
		b, err := os.ReadFile(f.tokenFile)
		if err != nil {
			return nil, fmt.Errorf("--token-file: %w", err)
		}
		if c.Token = strings.TrimSpace(string(b)); c.Token == "" {
			return nil, fmt.Errorf("--token-file %s is empty", f.tokenFile)
		}
	}
	if f.caFile == "" && f.certFile == "" && f.keyFile == "" && f.serverName == "" {
		if c.Token != "" && !strings.HasPrefix(f.addr, "https://") && !strings.HasPrefix(f.addr, "unix:") && !isLoopbackHost(f.addr) {
			return nil, errors.New("--token-file: a token is only sent over https:// (or to loopback)")
		}
		return c, nil
	}
	if !strings.HasPrefix(f.addr, "https://") {
		return nil, errors.New("--ca-root, --cert, --key and --server-name need an https:// --admin-address")
	}
	tc := &tls.Config{ServerName: f.serverName, MinVersion: tls.VersionTLS12}
	if f.caFile != "" {
		pem, err := os.ReadFile(f.caFile)
		if err != nil {
			return nil, fmt.Errorf("--ca-root: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca-root %s: no PEM certificate", f.caFile)
		}
	}
	if (f.certFile == "") != (f.keyFile == "") {
		return nil, errors.New("--cert and --key go together")
	}
	if f.certFile != "" {
		cert, err := tls.LoadX509KeyPair(f.certFile, f.keyFile)
		if err != nil {
			return nil, fmt.Errorf("--cert/--key: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	c.HTTP = &http.Client{Transport: &http.Transport{TLSClientConfig: tc}}
	return c, nil
}

func isLoopbackHost(addr string) bool {
	addr = strings.TrimPrefix(addr, "http://")
	host := addr
	if i := strings.LastIndex(addr, ":"); i >= 0 {
		host = addr[:i]
	}
	host = strings.Trim(host, "[]")
	return host == "localhost" || strings.HasPrefix(host, "127.") || host == "::1"
}
