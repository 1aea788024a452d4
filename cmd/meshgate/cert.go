package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/meshgate/meshgate/cmd/internal/cliflag"
	"github.com/meshgate/meshgate/identity"
)

func init() { register(newCertCmd) }

func newCertCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cert",
		Short: "Issue SPIFFE certificates from a meshgate or Istio-style CA",
		Example: `  meshgate cert issue --spiffe-id spiffe://cluster.local/ns/istio-system/sa/eastwest \
    --ca-dir ca --out eastwest --dns eastwest.istio-system.svc`,
	}
	cmd.AddCommand(newCertIssueCmd())
	return cmd
}

type certIssueFlags struct {
	spiffeID string
	out      string
	caDir    string
	cacerts  string
	ttl      time.Duration
	dns      []string
}

func newCertIssueCmd() *cobra.Command {
	var f certIssueFlags
	cmd := &cobra.Command{
		Use:   "issue --spiffe-id spiffe://TD/ns/NS/sa/SA --out DIR (--ca-dir DIR | --cacerts DIR) [--svid-ttl D] [--dns NAME ...]",
		Short: "Issue an X.509 SVID and write it with its trust bundle to a directory",
		Long: `Issue an ECDSA P-256 X.509 SVID for a SPIFFE ID and write three files to --out:

  cert-chain.pem  the SVID certificate followed by any intermediate CAs
  key.pem         its private key (PKCS#8, mode 0600)
  root-cert.pem   the root certificates of the CA's trust domain

The names match what gRPC-Go's "file_watcher" certificate provider reads
(certificate_file, private_key_file, ca_certificate_file), so a gRPC xDS
client's bootstrap can point at them directly; files are replaced atomically.

The CA is either
  --ca-dir DIR   a meshgate CA directory, created with a new self-signed root for
                 the SPIFFE ID's trust domain if it holds no CA, and reused after; or
  --cacerts DIR  an Istio-style plug-in CA (ca-cert.pem, ca-key.pem, root-cert.pem,
                 cert-chain.pem): an intermediate under a root shared by clusters.

--dns names are checked (RFC 1123 host names; the leftmost label may be *).`,
		Example: `  # a workload SVID from a new (or the existing) meshgate CA in ./ca
  meshgate cert issue --spiffe-id spiffe://cluster.local/ns/default/sa/client --ca-dir ca --out client
  # a serving certificate with DNS names, from an Istio-style cacerts directory
  meshgate cert issue --spiffe-id spiffe://cluster.local/ns/istio-system/sa/meshgate \
    --cacerts cacerts --out serving --dns meshgate.istio-system.svc --dns '*.istio-system.svc' --svid-ttl 72h`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := f.check(); err != nil {
				return rejected(fmt.Errorf("cert issue: %w", err))
			}
			if err := runCertIssue(cmd.Context(), cmd, f); err != nil {
				return failed(fmt.Errorf("cert issue: %w", err))
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.spiffeID, "spiffe-id", "", "SPIFFE ID to issue for, e.g. spiffe://cluster.local/ns/istio-system/sa/eastwest")
	fl.StringVar(&f.out, "out", "", "directory to write cert-chain.pem, key.pem and root-cert.pem to")
	cliflag.String(fl, &f.caDir, cliflag.CADir, "", "meshgate CA directory (created if it holds no CA)")
	cliflag.String(fl, &f.cacerts, cliflag.CACerts, "", "Istio-style cacerts directory holding an existing CA")
	cliflag.Duration(fl, &f.ttl, cliflag.SVIDTTL, identity.DefaultSVIDTTL, "lifetime of the certificate")
	cliflag.Alias(fl, "ttl", cliflag.SVIDTTL)
	fl.StringSliceVar(&f.dns, "dns", nil, "DNS SAN to add (repeatable): an RFC 1123 host name, the leftmost label may be *")
	_ = cmd.MarkFlagRequired("spiffe-id")
	_ = cmd.MarkFlagRequired("out")
	cmd.MarkFlagsMutuallyExclusive(string(cliflag.CADir), string(cliflag.CACerts))
	cmd.MarkFlagsOneRequired(string(cliflag.CADir), string(cliflag.CACerts))
	return cmd
}

// check validates the flag values (rejected input: exit 2).
func (f certIssueFlags) check() error {
	if _, err := spiffeid.FromString(f.spiffeID); err != nil {
		return fmt.Errorf("--spiffe-id %q: %w", f.spiffeID, err)
	}
	if f.ttl <= 0 {
		return fmt.Errorf("--svid-ttl %s: must be positive", f.ttl)
	}
	for _, n := range f.dns {
		if err := identity.ValidateDNSName(n); err != nil {
			return fmt.Errorf("--dns: %w", err)
		}
	}
	if sameDir(f.caDirectory(), f.out) {
		return fmt.Errorf("--out %q is the CA directory: its cert-chain.pem and root-cert.pem would be overwritten", f.out)
	}
	return nil
}

// caDirectory is --ca-dir or --cacerts.
func (f certIssueFlags) caDirectory() string {
	if f.caDir != "" {
		return f.caDir
	}
	return f.cacerts
}

func runCertIssue(ctx context.Context, cmd *cobra.Command, f certIssueFlags) error {
	if ctx == nil {
		ctx = context.Background()
	}
	id, err := spiffeid.FromString(f.spiffeID)
	if err != nil {
		return fmt.Errorf("--spiffe-id %q: %w", f.spiffeID, err)
	}
	caDir, create := f.caDirectory(), f.caDir != ""
	store := identity.DirStore{Dir: caDir}
	var ca *identity.CA
	if create {
		var created bool
		ca, created, err = identity.LoadOrCreateCA(ctx, store, identity.CAConfig{TrustDomain: id.TrustDomain()}, identity.CAOptions{})
		if created {
			slog.Info("created a new self-signed CA", "trustDomain", id.TrustDomain().String(), "dir", caDir)
		}
	} else {
		ca, err = identity.LoadCA(ctx, store, id.TrustDomain(), nil)
	}
	if err != nil {
		return err
	}
	svid, err := ca.IssueX509SVID(id, identity.SVIDOptions{TTL: f.ttl, DNSNames: f.dns})
	if err != nil {
		return err
	}
	if err := identity.WriteSVIDFiles(f.out, svid, identity.NewBundleSet(ca.Bundle())); err != nil {
		return err
	}
	leaf := svid.Certificates[0]
	fmt.Fprintf(cmd.OutOrStdout(), "wrote %s, %s and %s to %s\nSPIFFE ID %s, serial %s, valid until %s\n",
		identity.SVIDFileCertChain, identity.SVIDFileKey, identity.SVIDFileRoots, f.out,
		svid.ID, leaf.SerialNumber.Text(16), leaf.NotAfter.UTC().Format(time.RFC3339))
	return nil
}

// sameDir reports whether a and b name the same directory.
func sameDir(a, b string) bool {
	ia, errA := os.Stat(a)
	ib, errB := os.Stat(b)
	if errA == nil && errB == nil {
		return os.SameFile(ia, ib)
	}
	if errors.Is(errA, os.ErrNotExist) || errors.Is(errB, os.ErrNotExist) {
		pa, _ := filepath.Abs(a)
		pb, _ := filepath.Abs(b)
		return pa == pb
	}
	return false
}
