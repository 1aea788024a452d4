// Package remote connects a daemon to the API servers of other clusters
// through Istio-compatible remote secrets, and creates and applies those
// secrets (meshgate create-remote-secret, meshgate join).
//
//	Secrets in the daemon's namespace   gossip (federation)
//	(label istio/multiCluster=true)      │ SetSecret / ReplaceSecrets
//	        │ WatchSecrets                ▼
//	        └──────────────▶ Controller: key = cluster id, value = kubeconfig
//	                           │ validate (no exec, auth-provider, file paths;
//	                           │ https + CA data, no skip-verify, no proxy-url)
//	                           ▼ per cluster (make-before-break on reload)
//	                         discovery/kube Source, ServicesOnly ──▶ Publish(ClusterState) / Remove(id)
//	                           │
//	                           └─▶ Statuses, Handler (/debug/clusters), metrics, Ready
//
// The remote secret (what create-remote-secret prints, as istioctl does): a
// v1 Secret istio-remote-secret-<cluster> with label istio/multiCluster:
// "true", annotation networking.istio.io/cluster: <cluster>, and one key,
// <cluster>, whose value is a kubeconfig with the server, its CA data and a
// bearer token of the reader ServiceAccount (meshgate-reader). The reader
// may get, list and watch services, endpointslices, pods, namespaces, nodes,
// CustomResourceDefinitions and Gateway API Gateways, and list and watch
// Multi-Cluster Services ServiceExports (ReaderRules: what meshgate's and
// istiod's remote-cluster watches read, so the secret works for an istiod
// too; the exports only with Config.ServiceExports), and nothing else: no
// Secrets, no ConfigMaps, no Istio configuration, no writes.
// meshgate adds the annotation meshgate.io/trust-bundle, the cluster's
// mesh trust bundle (--trust-bundle, or root-cert.pem of its Secret
// cacerts), which istiod ignores and the Controller hands to Options.Pin
// (the daemon's federation pin of that cluster) for secrets from
// Kubernetes, never gossiped ones.
//
// A remote secret's kubeconfig is refused, with an error naming the secret,
// the key and the field, and counted by reason in
// meshgate_remote_secret_rejections_total, when it could run commands or
// read files on the daemon's host (exec, auth-provider, file references:
// always refused) or send its token where others can read or redirect it
// (an http:// server, insecure-skip-tls-verify, proxy-url, an https server
// without certificate-authority-data: refused unless Policy.AllowInsecure,
// the daemon's and join's --allow-insecure-remote, which logs a warning for
// every key it lets through). Every cluster and user of the file is checked.
//
// A daemon can also gossip its own cluster's remote secret (SecretRenewer:
// a reader token from the TokenRequest API, renewed at half life), and
// joins the gossip of the clusters it watches through their meshgate-gossip
// Service (Controller.PeerSeeds, federation's seed source).
//
// Lifecycle: Controller.Run and Controller.WatchSecrets, SecretRenewer.Run
// return when ctx ends (nil) or with an error; discovery/multicluster runs
// the controller next to the local cluster's source.
//
// Remote clusters contribute services and endpoints only (no Istio
// configuration), as istiod does in a multi-primary mesh, and with
// Config.ServiceExports their ServiceExports where the reader may list
// them. Kubeconfigs and tokens are never logged or shown in status output.
//
// Never imports: ./federation/... and ./xds/... (only cmd/ wires the sources,
// the federation and the xDS server together).
package remote
