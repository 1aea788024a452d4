package main

import (
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/meshgate/meshgate/cmd/internal/cliflag"
	"github.com/meshgate/meshgate/discovery/remote"
)

func init() { register(newCreateRemoteSecretCmd) }

type createRemoteSecretFlags struct {
	clusterID, server, namespace string
	tokenTTL                     time.Duration
	longLived                    bool
	longLivedWait                time.Duration
	kubeconfig, context          string
	trustBundle                  string
}

func newCreateRemoteSecretCmd() *cobra.Command {
	var f createRemoteSecretFlags
	cmd := &cobra.Command{
		Use:   "create-remote-secret --cluster-id CLUSTER [--server URL] [--namespace NS] [--token-ttl D] [--long-lived-token] [--kubeconfig F] [--context X]",
		Short: "Create a reader identity in this cluster and print its Istio-compatible remote secret",
		Long: `Run against cluster CLUSTER (--kubeconfig/--context; --cluster-id is its id in the mesh). It creates, idempotently,
the ServiceAccount meshgate-reader in --namespace and a ClusterRole/Binding that
may get, list and watch services, endpointslices, pods, namespaces, nodes, CRDs
and Gateway API Gateways, and list and watch MCS ServiceExports (what meshgate's
and istiod's remote-cluster watches read; never Secrets, ConfigMaps or Istio
configuration, never writes), mints a
token for it and prints the remote secret on stdout:

  a v1 Secret istio-remote-secret-CLUSTER, label istio/multiCluster: "true",
  annotation networking.istio.io/cluster: CLUSTER, one key CLUSTER holding a
  kubeconfig (server, CA data, bearer token)

the same as 'istioctl create-remote-secret'. Apply it in another cluster with
'meshgate join --remote-secret FILE' (or kubectl apply).

The token comes from the TokenRequest API and expires after --token-ttl; with
--long-lived-token it is read from a kubernetes.io/service-account-token Secret
(meshgate-reader-token) filled by the cluster's token controller, and never
expires. --server sets the API server address other clusters use; a loopback
address draws a warning.

The secret also carries the cluster's mesh trust bundle (annotation
meshgate.io/trust-bundle: --trust-bundle, or root-cert.pem of the Secret
cacerts in --namespace): a daemon that admits the secret pins it as the
cluster's federation trust anchor, so the cluster's gossiped records must be
signed under it from the first one on.`,
		Example: `  # in cluster B's context: B's remote secret, applied in cluster A
  meshgate create-remote-secret --context kind-b --cluster-id cluster-b --server https://172.18.0.3:6443 \
    | meshgate join --context kind-a --remote-secret -`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := runCreateRemoteSecret(cmd, f); err != nil {
				return failed(fmt.Errorf("create-remote-secret: %w", err))
			}
			return nil
		},
	}
	fl := cmd.Flags()
	cliflag.String(fl, &f.clusterID, cliflag.ClusterID, "", "the cluster's id in the mesh (the remote secret's key; the daemon's --cluster-id there)")
	cliflag.Alias(fl, "name", cliflag.ClusterID)
	fl.StringVar(&f.server, "server", "", "API server URL other clusters reach (default: the kubeconfig's)")
	cliflag.String(fl, &f.namespace, cliflag.Namespace, remote.DefaultNamespace, "namespace of the reader ServiceAccount and of the remote secret")
	fl.DurationVar(&f.tokenTTL, "token-ttl", remote.DefaultTokenTTL, "lifetime of the token (TokenRequest API)")
	fl.BoolVar(&f.longLived, "long-lived-token", false, "use a non-expiring token from a service-account-token Secret instead")
	fl.DurationVar(&f.longLivedWait, "long-lived-wait", remote.DefaultLongLivedWait, "how long to wait for the token controller to fill that Secret")
	fl.StringVar(&f.trustBundle, "trust-bundle", "", "PEM file of the cluster's mesh trust bundle (default: root-cert.pem of the Secret cacerts in --namespace)")
	cliflag.KubeconfigFlags(fl, &f.kubeconfig, &f.context)
	_ = cmd.MarkFlagRequired(string(cliflag.ClusterID))
	cmd.MarkFlagsMutuallyExclusive("token-ttl", "long-lived-token")
	return cmd
}

// loadRESTConfig reads a client configuration the way kubectl does.
func loadRESTConfig(kubeconfig, context string) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules,
		&clientcmd.ConfigOverrides{CurrentContext: context}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	return cfg, nil
}

func runCreateRemoteSecret(cmd *cobra.Command, f createRemoteSecretFlags) error {
	cfg, err := loadRESTConfig(f.kubeconfig, f.context)
	if err != nil {
		return err
	}
	var bundle []byte
	if f.trustBundle != "" {
		if bundle, err = os.ReadFile(f.trustBundle); err != nil {
			return fmt.Errorf("trust-bundle: %w", err)
		}
	}
	res, err := remote.CreateRemoteSecret(cmd.Context(), cfg, remote.CreateOptions{
		TrustBundle:    bundle,
		ClusterName:    f.clusterID,
		Namespace:      f.namespace,
		Server:         f.server,
		TokenTTL:       f.tokenTTL,
		LongLivedToken: f.longLived,
		LongLivedWait:  f.longLivedWait,
	})
	if err != nil {
		return err
	}
	for _, w := range res.Warnings {
		slog.Warn(w)
	}
	if !res.Expires.IsZero() {
		slog.Info("the token expires: create and apply a new remote secret before then", "expires", res.Expires.UTC().Format(time.RFC3339))
	}
	out, err := remote.MarshalSecret(res.Secret)
	if err != nil {
		return err
	}
	_, err = cmd.OutOrStdout().Write(out)
	return err
}
