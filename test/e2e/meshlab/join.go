package meshlab

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/meshgate/meshgate/discovery/remote"
	"github.com/meshgate/meshgate/identity"
)

// Joining clusters as a user does (Options.JoinByRemoteSecret):
//
//	cluster B: meshgate create-remote-secret --cluster-id B --server <B's API> ─▶ secret
//	cluster A: meshgate join --remote-secret -                            ◀─ secret
//	A's daemon: watches B's API server with it, finds B's daemon through B's
//	meshgate-gossip Service and joins its gossip; B learns A (and A's own
//	remote secret) through gossip: N clusters need N−1 joins.

// remoteReaderYAML is the reader identity deploy/meshgate installs (the
// daemon mints its own gossiped remote secret's token for it).
func remoteReaderYAML() (string, error) {
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile(filepath.Join(root, "deploy", "meshgate", "15-remote-reader.yaml"))
	return string(b), err
}

// gossipServiceObject is the cluster's meshgate-gossip Service: how another
// cluster's daemon, given a remote secret, finds this one's gossip address.
func gossipServiceObject(c *Cluster) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Service
metadata: {name: %s, namespace: %s}
spec:
  externalIPs: [%s]
  ports: [{name: tcp-gossip, port: %d, protocol: TCP}]
`, remote.GossipServiceName, SystemNS, c.Net.NodeIP, GossipPort)
}

// CreateRemoteSecret runs `meshgate create-remote-secret` with the
// cluster's admin kubeconfig and its mesh trust bundle (the root of its
// cacerts) and returns the secret it prints.
func (c *Cluster) CreateRemoteSecret(ctx context.Context) ([]byte, error) {
	cmd := exec.CommandContext(ctx, c.Mesh.Bin, "create-remote-secret", "--cluster-id", c.ID,
		"--server", c.Kube.URL(), "--kubeconfig", c.Kube.KubeconfigPath(),
		"--trust-bundle", filepath.Join(c.CACerts, identity.FileRootCert))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s: meshgate create-remote-secret: %v: %s", c.ID, err, stderr.Bytes())
	}
	return out, nil
}

// Join runs `meshgate join --remote-secret -` in the cluster with secret
// on stdin and returns what the command printed.
func (c *Cluster) Join(ctx context.Context, secret []byte) (string, error) {
	cmd := exec.CommandContext(ctx, c.Mesh.Bin, "join", "--remote-secret", "-", "--kubeconfig", c.Kube.KubeconfigPath())
	cmd.Stdin = bytes.NewReader(secret)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s: meshgate join: %v: %s", c.ID, err, out)
	}
	return string(out), nil
}

// RemoteClusters reads the daemon's /debug/clusters: the remote clusters it
// watches, with the source of each one's secret and its state.
func (c *Cluster) RemoteClusters(ctx context.Context) (*remote.Debug, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://admin/debug/clusters", nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.AdminClient().Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s /debug/clusters: %s", c.ID, resp.Status)
	}
	var d remote.Debug
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil {
		return nil, fmt.Errorf("%s /debug/clusters: %w", c.ID, err)
	}
	return &d, nil
}

// RemoteCluster returns the daemon's status of remote cluster id (false
// when it does not watch it).
func (c *Cluster) RemoteCluster(ctx context.Context, id string) (remote.ClusterStatus, bool, error) {
	d, err := c.RemoteClusters(ctx)
	if err != nil {
		return remote.ClusterStatus{}, false, err
	}
	for _, r := range d.Remote {
		if r.Cluster == id {
			return r, true, nil
		}
	}
	return remote.ClusterStatus{}, false, nil
}
