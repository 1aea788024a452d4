package remote

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// A daemon publishes its own cluster's remote secret over gossip, so that
// N clusters need N−1 joins, and renews it before its token expires:
//
//	daemon ──TokenRequest (meshgate-reader)──▶ own API server
//	       ──remote secret──▶ federation (encrypted gossip) ──▶ other daemons' Controllers
//
// and, joining through a remote secret, finds the remote daemon's gossip
// address through the remote API server (GossipSeeds).

// MintRemoteSecret mints a token of the reader ServiceAccount (which
// create-remote-secret or deploy/meshgate creates) with the TokenRequest API
// and returns the remote secret of cluster with it, as other clusters reach
// server. cfg is the daemon's own access to its API server: it needs only
// create on serviceaccounts/token of the reader. The token expires at expiry.
func MintRemoteSecret(ctx context.Context, cfg *rest.Config, cluster, namespace, server string, ttl time.Duration) (s *corev1.Secret, expiry time.Time, err error) {
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, time.Time{}, err
	}
	ca, err := caData(cfg)
	if err != nil {
		return nil, time.Time{}, err
	}
	token, expiry, err := requestToken(ctx, client, namespace, ttl)
	if err != nil {
		return nil, time.Time{}, err
	}
	s, err = BuildRemoteSecret(cluster, namespace, server, ca, token)
	return s, expiry, err
}

// GossipServiceName is the Service through which a cluster's daemon is reached for gossip.
const GossipServiceName = "meshgate-gossip"

// GossipSeeds looks up the meshgate-gossip Service of a remote cluster in
// namespace and returns its reachable addresses (load-balancer ingress, else
// external IPs) with its gossip port: how a daemon joins the gossip of a
// cluster it only has a remote secret for.
func GossipSeeds(ctx context.Context, cfg *rest.Config, namespace string) ([]string, error) {
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	svc, err := client.CoreV1().Services(namespace).Get(ctx, GossipServiceName, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("gossip Service %s/%s: %w", namespace, GossipServiceName, err)
	}
	port := int32(7946)
	for _, p := range svc.Spec.Ports {
		if p.Protocol == corev1.ProtocolTCP || p.Protocol == "" {
			port = p.Port
			break
		}
	}
	var hosts []string
	for _, in := range svc.Status.LoadBalancer.Ingress {
		if in.IP != "" {
			hosts = append(hosts, in.IP)
		} else if in.Hostname != "" {
			hosts = append(hosts, in.Hostname)
		}
	}
	if len(hosts) == 0 {
		hosts = svc.Spec.ExternalIPs
	}
	if len(hosts) == 0 {
		return nil, fmt.Errorf("gossip Service %s/%s has no load-balancer or external address", namespace, GossipServiceName)
	}
	out := make([]string, 0, len(hosts))
	for _, h := range hosts {
		out = append(out, net.JoinHostPort(h, strconv.Itoa(int(port))))
	}
	slices.Sort(out)
	return out, nil
}

// ClusterConfigs returns the API access of every remote cluster the
// controller currently watches, by cluster id (credentials: never log them).
func (c *Controller) ClusterConfigs() map[string]*rest.Config {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]*rest.Config{}
	for id, cl := range c.clusters {
		if cl.current != nil {
			out[id] = rest.CopyConfig(cl.current.cfg.Config)
		}
	}
	return out
}

// PeerSeeds is federation's seed source in Kubernetes mode: the gossip
// addresses (GossipSeeds) of every remote cluster the controller watches,
// found through that cluster's API server, each lookup bounded to 10s. A
// cluster without one is logged and skipped; it never fails.
func (c *Controller) PeerSeeds(ctx context.Context) ([]string, error) {
	var seeds []string
	for id, cfg := range c.ClusterConfigs() {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		s, err := GossipSeeds(cctx, cfg, c.cfg.Namespace)
		cancel()
		if err != nil {
			c.log.Warn("federation: no gossip address for a remote cluster", "cluster", id, "err", err)
			continue
		}
		seeds = append(seeds, s...)
	}
	return seeds, nil
}
