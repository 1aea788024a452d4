package dataplane

import (
	"net/http"
	"slices"
	"time"

	adminv3 "github.com/envoyproxy/go-control-plane/envoy/admin/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// adminHandler serves /metrics, /healthz, /ready and /config_dump.
func (g *Gateway) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(g.cfg.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/ready", func(w http.ResponseWriter, _ *http.Request) {
		select {
		case <-g.ready:
			w.Write([]byte("LIVE\n"))
		default:
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte("PRE_INITIALIZING\n"))
		}
	})
	mux.HandleFunc("/config_dump", func(w http.ResponseWriter, _ *http.Request) {
		b, err := g.ConfigDump()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(b)
	})
	return mux
}

// ConfigDump returns the applied configuration as an Envoy admin ConfigDump
// in protojson, with every field Envoy marks sensitive (private keys,
// passwords, session ticket keys) replaced by "[redacted]". The last
// rejected resource of each type appears as its error_state.
func (g *Gateway) ConfigDump() ([]byte, error) {
	g.mu.Lock()
	dump := &adminv3.ConfigDump{Configs: []*anypb.Any{
		mustAny(g.listenersDumpLocked()), mustAny(g.clustersDumpLocked()),
		mustAny(g.endpointsDumpLocked()), mustAny(g.secretsDumpLocked()),
	}}
	g.mu.Unlock()
	return protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(dump)
}

func mustAny(m proto.Message) *anypb.Any {
	a, err := anypb.New(m)
	if err != nil {
		panic(err) // only known admin types are packed here
	}
	return a
}

// redactedAny clones m, redacts it and packs it.
func redactedAny(m proto.Message) *anypb.Any {
	c := proto.Clone(m)
	redact(c.ProtoReflect())
	a, err := anypb.New(c)
	if err != nil {
		return nil
	}
	return a
}

func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func (g *Gateway) failureLocked(typeURL string) (*adminv3.UpdateFailureState, string) {
	st := g.status[typeURL]
	if st == nil || st.lastNACK == "" || st.lastNACKAt.Before(st.lastUpdated) {
		return nil, ""
	}
	f := &adminv3.UpdateFailureState{Details: st.lastNACK, VersionInfo: st.nackVersion, LastUpdateAttempt: ts(st.lastNACKAt)}
	if st.nackResource != nil {
		f.FailedConfiguration = redactedAny(st.nackResource)
	}
	return f, st.nackName
}

func (g *Gateway) listenersDumpLocked() *adminv3.ListenersConfigDump {
	st := g.typeStatus(resourcev3.ListenerType)
	d := &adminv3.ListenersConfigDump{VersionInfo: st.version}
	failure, failedName := g.failureLocked(resourcev3.ListenerType)
	names := sortedKeys(g.listeners)
	if failure != nil && failedName != "" && !slices.Contains(names, failedName) {
		names = append(names, failedName)
	}
	for _, name := range names {
		dl := &adminv3.ListenersConfigDump_DynamicListener{Name: name}
		if lr := g.listeners[name]; lr != nil {
			dl.ActiveState = &adminv3.ListenersConfigDump_DynamicListenerState{
				VersionInfo: st.version, Listener: redactedAny(lr.cfg.Load().proto), LastUpdated: ts(st.lastUpdated),
			}
		}
		if failure != nil && name == failedName {
			dl.ErrorState = failure
		}
		d.DynamicListeners = append(d.DynamicListeners, dl)
	}
	for lr := range g.draining {
		d.DynamicListeners = append(d.DynamicListeners, &adminv3.ListenersConfigDump_DynamicListener{
			Name:          lr.name,
			DrainingState: &adminv3.ListenersConfigDump_DynamicListenerState{Listener: redactedAny(lr.cfg.Load().proto)},
		})
	}
	return d
}

func (g *Gateway) clustersDumpLocked() *adminv3.ClustersConfigDump {
	st := g.typeStatus(resourcev3.ClusterType)
	d := &adminv3.ClustersConfigDump{VersionInfo: st.version}
	failure, failedName := g.failureLocked(resourcev3.ClusterType)
	for _, name := range sortedKeys(g.clusterCfgs) {
		dc := &adminv3.ClustersConfigDump_DynamicCluster{
			VersionInfo: st.version, Cluster: redactedAny(g.clusterCfgs[name].proto), LastUpdated: ts(st.lastUpdated),
		}
		if failure != nil && name == failedName {
			dc.ErrorState = failure
			failure = nil
		}
		d.DynamicActiveClusters = append(d.DynamicActiveClusters, dc)
	}
	if failure != nil {
		d.DynamicWarmingClusters = append(d.DynamicWarmingClusters, &adminv3.ClustersConfigDump_DynamicCluster{ErrorState: failure})
	}
	return d
}

func (g *Gateway) endpointsDumpLocked() *adminv3.EndpointsConfigDump {
	st := g.typeStatus(resourcev3.EndpointType)
	d := &adminv3.EndpointsConfigDump{}
	failure, _ := g.failureLocked(resourcev3.EndpointType)
	for _, name := range sortedKeys(g.endpoints) {
		d.DynamicEndpointConfigs = append(d.DynamicEndpointConfigs, &adminv3.EndpointsConfigDump_DynamicEndpointConfig{
			VersionInfo: st.version, EndpointConfig: redactedAny(g.endpoints[name].proto), LastUpdated: ts(st.lastUpdated),
		})
	}
	if failure != nil {
		d.DynamicEndpointConfigs = append(d.DynamicEndpointConfigs, &adminv3.EndpointsConfigDump_DynamicEndpointConfig{ErrorState: failure})
	}
	return d
}

func (g *Gateway) secretsDumpLocked() *adminv3.SecretsConfigDump {
	st := g.typeStatus(resourcev3.SecretType)
	d := &adminv3.SecretsConfigDump{}
	secrets := g.secrets.Load().byName
	failure, failedName := g.failureLocked(resourcev3.SecretType)
	for _, name := range sortedKeys(secrets) {
		ds := &adminv3.SecretsConfigDump_DynamicSecret{
			Name: name, VersionInfo: st.version, Secret: redactedAny(secrets[name].proto), LastUpdated: ts(st.lastUpdated),
		}
		if failure != nil && name == failedName {
			ds.ErrorState = failure
			failure = nil
		}
		d.DynamicActiveSecrets = append(d.DynamicActiveSecrets, ds)
	}
	if failure != nil {
		d.DynamicWarmingSecrets = append(d.DynamicWarmingSecrets, &adminv3.SecretsConfigDump_DynamicSecret{Name: failedName, ErrorState: failure})
	}
	return d
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
