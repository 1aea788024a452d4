package meshlab

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/meshgate/meshgate/identity"
)

// PKI is the mesh's trust: one root shared by every cluster and an
// Istio-style intermediate ("cacerts") per cluster, as multi-primary meshes
// are set up. Workload SVIDs are issued by the real `meshgate cert issue`.
type PKI struct {
	TrustDomain spiffeid.TrustDomain
	Root        *identity.CA
	bin, dir    string
}

// NewPKI creates the root in memory; intermediates are written under dir.
func NewPKI(bin, dir, trustDomain string) (*PKI, error) {
	td, err := spiffeid.TrustDomainFromString(trustDomain)
	if err != nil {
		return nil, err
	}
	root, err := identity.NewSelfSignedCA(identity.CAConfig{TrustDomain: td}, identity.CAOptions{})
	if err != nil {
		return nil, err
	}
	return &PKI{TrustDomain: td, Root: root, bin: bin, dir: dir}, nil
}

// ClusterCA writes cluster's intermediate CA as a cacerts directory and
// returns its path.
func (p *PKI) ClusterCA(ctx context.Context, cluster string) (string, error) {
	ca, err := p.Root.NewIntermediate(p.TrustDomain, 30*24*time.Hour)
	if err != nil {
		return "", err
	}
	m, err := ca.Material()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(p.dir, "cacerts-"+cluster)
	if err := (identity.DirStore{Dir: dir}).Save(ctx, m); err != nil {
		return "", err
	}
	return dir, nil
}

// WorkloadID is spiffe://<td>/ns/<ns>/sa/<sa>.
func (p *PKI) WorkloadID(ns, sa string) spiffeid.ID {
	id, err := identity.NewWorkloadID(p.TrustDomain.Name(), ns, sa)
	if err != nil {
		panic(err) // names are the suite's own constants
	}
	return id
}

// Issue runs `meshgate cert issue` with the cluster's cacerts for the
// workload ns/sa and returns the directory holding its files.
func (p *PKI) Issue(ctx context.Context, cacerts, ns, sa, name string) (string, error) {
	out := filepath.Join(p.dir, "svid-"+name)
	cmd := exec.CommandContext(ctx, p.bin, "cert", "issue", "--cacerts", cacerts,
		"--spiffe-id", p.WorkloadID(ns, sa).String(), "--out", out, "--svid-ttl", "24h")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("meshgate cert issue for %s: %v: %s", name, err, b)
	}
	return out, nil
}
