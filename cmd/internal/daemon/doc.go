// Package daemon wires `meshgate run`: configuration (flags, file,
// defaults) and the composition of the parts other packages provide. It
// holds no domain logic of its own.
//
//	flags (cliflag names) + config file (Resolve, configfile.go) ─▶ Config.Validate ─▶ New ─▶ Run
//
// The config file's keys are the flags' names; an unknown key is refused by
// name with the closest known one, a value of the wrong type with the type
// it wants; renamed keys (identity-ca-dir → ca-dir) are read with a note.
//
//	discovery.Source ─publish─▶ mesher ──Compose(source, gossiped)──▶ xds/sds (ROOTCA) ─▶ xds/server.Update ─▶ ADS (gRPC, xds-address)
//	 ├─ discovery/file.Source (--config-dir)             │
//	 └─ discovery/multicluster.Source                     └─SetLocal(local, remote secret)─▶ federation.Node ◀─▶ other daemons
//	    (--kubeconfig, --in-cluster: local API server     ▲ Subscribe (remote clusters)          │
//	     + remote secrets' clusters)                      └──────────────────────────────────────┘
//	remote.SecretRenewer (remote-secret-server) ─▶ mesher (publish the local cluster again)
//	mesher.serve ─Update─▶ discovery/gwstatus.Writer (Kubernetes mode): the local Gateway API status, written by the leader only
//	election.Elector (leader-elect, leader.go) ─onLead─▶ federation.Node.SetLeading; the SecretRenewer, the
//	           Gateway API status writer and the MCS writer run only while leading;
//	           federation.Members' leaders ─▶ /debug/clusters (publishers)
//	           federation.Node.OwnTerm ─KnownTerm─▶ the elector (a re-created Lease's count raised above the term)
//	federation remote secrets ─▶ multicluster.Source.SetFederatedSecrets; remote.Controller.PeerSeeds ─▶ federation re-join
//	remote secrets' meshgate.io/trust-bundle ─▶ federation.Node.Pin; --trust-pin ─▶ Config.TrustPins; --trust-pins-file persists pins;
//	--admit-cluster / --admit-any-cluster ─▶ Config.AdmitClusters / AdmitAnyCluster (who enters the remote set)
//	federation.Node.History ─▶ xds/server.SetHistory: /debug/explain says through which peer, generation and time a remote
//	           cluster's objects were learned, or when and why the cluster was withdrawn, refused or fenced (/federation/history)
//	xds/server ─▶ ADS on xds-address (plaintext; loopback unless insecure-xds)
//	           └▶ secure port (secure-xds-address, secure.go): TLS + xds/server/authn + ADS + caservice
//	monitoring HTTP (monitoring-address): /healthz /readyz /metrics, read-only
//	gateway probes (gateways.go, package gwhealth): serve marks other networks' unreachable east-west gateways
//	           (MeshState.Unreachable, left out by translate); a verdict change serves again; federation keeps a dead peer whose gateway answers;
//	           the down set travels in the local record (publishLocal), the peers' reports show in /debug/gateways only
//	admin API (admin-address, admin.go): /debug/ (+ /debug/clusters, /debug/sources, /debug/gateways, /debug/pprof/), /federation/ (503 without gossip),
//	           /ui (cmd/internal/ui: the topology page; its state from ui.go: the mesh last served, members, proxies, rejections);
//	           loopback or unix:PATH as is; off loopback only with admin-allow: TLS + xds/server/authn
//	           (SVID or token, audience meshgate-admin) + allow-list, 401/403 counted, changes logged with the caller
//
// Lifecycle: every long-running part has Run(ctx) error: federation.Node,
// remote.SecretRenewer, the mesher, xds/server.Server, xds/sds.Provider
// (SVID renewal), federation's record-signing renewal, gRPC Serve
// (plaintext and secure port), admin HTTP Serve, the source. Daemon.Run
// starts them in one errgroup (federation first: Run waits for Started
// before the rest); the first real error cancels the others and is what
// Run (and so `meshgate run`, with a non-zero exit) returns. A stop by ctx
// returns nil. Shutdown: gRPC GracefulStop once the xDS server has ended
// every stream, the admin server drained, both within ShutdownTimeout.
//
// With federation, the mesher serves nothing before federation.Node.Synced
// (every live peer's cluster learned, or --gossip-sync-timeout): a restarted
// daemon does not hand its gateways a mesh without the remote clusters.
// The local cluster is published to federation from the first load on.
//
// Rejected input (sources.go): the sources keep the last good version of
// a rejected object (discovery/lastgood) and hand each rejection to publish
// as a *discovery.Rejection; the daemon logs each once (and its fix),
// counts meshgate_config_rejected_objects{kind,reason} and lists them on
// /debug/sources. Each new composed configuration is checked for
// references to nothing (translate.CheckReferences), listed there too.
// /readyz stays about readiness: stale objects do not make it fail.
//
// Locks: none is held across a call into another package. The source's
// publish and federation's notifier only record state in the mesher, whose
// own goroutine hands it on (see mesher.go).
//
// Only cmd/ wires components together; this package holds that wiring so
// the cobra command stays thin.
package daemon
