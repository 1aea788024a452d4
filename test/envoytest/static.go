package envoytest

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// Resources are the xDS resources of one proxy, as translate.Result holds
// them.
type Resources struct {
	Listeners []*listenerv3.Listener
	Routes    []*routev3.RouteConfiguration
	Clusters  []*clusterv3.Cluster
	Endpoints []*endpointv3.ClusterLoadAssignment
	Secrets   []*tlsv3.Secret
}

// Report says what StaticBootstrap put into the bootstrap and what it had to
// substitute.
type Report struct {
	Listeners, Clusters, Secrets int
	// InlinedRoutes counts the HCMs whose rds became an inline route_config.
	InlinedRoutes int
	// StaticEDS counts the EDS clusters turned into STATIC clusters with their
	// ClusterLoadAssignment; EmptyEDS names those that had none (loaded
	// without endpoints, as Envoy would hold them until EDS answers).
	StaticEDS int
	EmptyEDS  []string
	// GeneratedSecrets are SDS names that got throwaway material (identity
	// secrets, missing credentialName Secrets).
	GeneratedSecrets []string
	// PlaceholderSecrets are secrets whose key material was not PEM (test
	// inputs hold placeholders such as "foo") and got throwaway material.
	PlaceholderSecrets []string
	// SubstitutedFiles are file names (the gateway's own file system) that
	// were replaced by throwaway files.
	SubstitutedFiles []string
}

// sdsKinds maps the field holding an SdsSecretConfig to the kind of secret
// it names.
var sdsKinds = map[string]string{
	"tlsCertificateSdsSecretConfigs":   "certificate",
	"validationContextSdsSecretConfig": "validation",
}

// StaticBootstrap renders res as an Envoy bootstrap (JSON) holding only
// static resources, for `envoy --mode validate` (see the package doc). m
// supplies the throwaway key material. An error means res cannot be made
// static (an rds naming a route configuration res does not hold, an SDS
// reference in an unknown place): Envoy would never get that resource either.
func StaticBootstrap(nodeID string, res Resources, m *Material) ([]byte, *Report, error) {
	s := &staticizer{m: m, routes: map[string]any{}, endpoints: map[string]any{},
		sds: map[string]string{}, files: map[string]string{}, rep: &Report{}}
	for _, r := range res.Routes {
		j, err := toJSON(r)
		if err != nil {
			return nil, nil, err
		}
		s.routes[r.GetName()] = j
	}
	for _, e := range res.Endpoints {
		j, err := toJSON(e)
		if err != nil {
			return nil, nil, err
		}
		s.endpoints[e.GetClusterName()] = j
	}
	var listeners, clusters []any
	for _, l := range res.Listeners {
		j, err := toJSON(l)
		if err != nil {
			return nil, nil, err
		}
		s.walk(j, "", "listener "+l.GetName())
		listeners = append(listeners, j)
	}
	for _, c := range res.Clusters {
		j, err := toJSON(c)
		if err != nil {
			return nil, nil, err
		}
		s.cluster(j.(map[string]any), c)
		s.walk(j, "", "cluster "+c.GetName())
		clusters = append(clusters, j)
	}
	secrets := map[string]any{}
	for _, sec := range res.Secrets {
		sec, replaced, err := m.replacePlaceholders(sec)
		if err != nil {
			return nil, nil, err
		}
		if replaced {
			s.rep.PlaceholderSecrets = append(s.rep.PlaceholderSecrets, sec.GetName())
		}
		j, err := toJSON(sec)
		if err != nil {
			return nil, nil, err
		}
		s.walk(j, "", "secret "+sec.GetName())
		secrets[sec.GetName()] = j
	}
	for name, kind := range s.sds {
		if _, ok := secrets[name]; ok {
			continue
		}
		var sec *tlsv3.Secret
		var err error
		if kind == "validation" {
			sec, err = m.ValidationSecret(name)
		} else {
			sec, err = m.CertificateSecret(name)
		}
		if err != nil {
			return nil, nil, err
		}
		j, err := toJSON(sec)
		if err != nil {
			return nil, nil, err
		}
		secrets[name] = j
		s.rep.GeneratedSecrets = append(s.rep.GeneratedSecrets, name)
	}
	if err := errors.Join(s.errs...); err != nil {
		return nil, nil, err
	}
	names := make([]string, 0, len(secrets))
	for n := range secrets {
		names = append(names, n)
	}
	sort.Strings(names)
	secretList := make([]any, 0, len(names))
	for _, n := range names {
		secretList = append(secretList, secrets[n])
	}
	for f := range s.files {
		s.rep.SubstitutedFiles = append(s.rep.SubstitutedFiles, f)
	}
	sort.Strings(s.rep.GeneratedSecrets)
	sort.Strings(s.rep.SubstitutedFiles)
	s.rep.Listeners, s.rep.Clusters, s.rep.Secrets = len(listeners), len(clusters), len(secretList)
	boot := map[string]any{
		"node": map[string]any{"id": nodeID, "cluster": "envoytest"},
		"staticResources": map[string]any{
			"listeners": nonNil(listeners),
			"clusters":  nonNil(clusters),
			"secrets":   secretList,
		},
	}
	b, err := json.MarshalIndent(boot, "", " ")
	if err != nil {
		return nil, nil, err
	}
	return b, s.rep, nil
}

type staticizer struct {
	m         *Material
	routes    map[string]any    // route configuration name → JSON
	endpoints map[string]any    // cluster name → ClusterLoadAssignment JSON
	sds       map[string]string // SDS secret name → kind (sdsKinds)
	files     map[string]string // original file name → substitute
	rep       *Report
	errs      []error
}

// cluster makes an EDS cluster STATIC with its ClusterLoadAssignment inline.
func (s *staticizer) cluster(j map[string]any, c *clusterv3.Cluster) {
	if c.GetType() != clusterv3.Cluster_EDS {
		return
	}
	name := c.GetEdsClusterConfig().GetServiceName()
	if name == "" {
		name = c.GetName()
	}
	cla, ok := s.endpoints[name]
	if !ok {
		cla = map[string]any{"clusterName": name}
		s.rep.EmptyEDS = append(s.rep.EmptyEDS, c.GetName())
	}
	delete(j, "edsClusterConfig")
	j["type"] = "STATIC"
	j["loadAssignment"] = deepCopy(cla)
	s.rep.StaticEDS++
}

// walk rewrites, in place, what refers to dynamic resources or to the
// gateway's files. key is the field that holds v (for list elements, the
// list's field); where names the resource, for errors.
func (s *staticizer) walk(v any, key, where string) {
	switch x := v.(type) {
	case []any:
		for _, c := range x {
			s.walk(c, key, where)
		}
	case map[string]any:
		if rds, ok := x["rds"].(map[string]any); ok {
			name, _ := rds["routeConfigName"].(string)
			rc, ok := s.routes[name]
			if !ok {
				s.errs = append(s.errs, fmt.Errorf("%s: rds names route configuration %q, which the proxy does not get", where, name))
			} else {
				delete(x, "rds")
				x["routeConfig"] = deepCopy(rc)
				s.rep.InlinedRoutes++
			}
		}
		if _, ok := x["sdsConfig"]; ok {
			kind, known := sdsKinds[key]
			name, _ := x["name"].(string)
			switch {
			case !known:
				s.errs = append(s.errs, fmt.Errorf("%s: SDS reference %q in field %s, which envoytest does not know", where, name, key))
			case s.sds[name] != "" && s.sds[name] != kind:
				s.errs = append(s.errs, fmt.Errorf("%s: SDS secret %q used both as %s and as %s", where, name, s.sds[name], kind))
			default:
				s.sds[name] = kind
				delete(x, "sdsConfig")
			}
		}
		if f, ok := x["filename"].(string); ok {
			var sub string
			switch key {
			case "certificateChain":
				sub = s.m.CertFile
			case "privateKey":
				sub = s.m.KeyFile
			case "trustedCa":
				sub = s.m.CAFile
			}
			if sub != "" {
				x["filename"] = sub
				s.files[f] = sub
			}
		}
		for k, c := range x {
			s.walk(c, k, where)
		}
	}
}

func toJSON(m proto.Message) (any, error) {
	b, err := protojson.Marshal(m)
	if err != nil {
		return nil, err
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, err
	}
	return v, nil
}

func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		c := make(map[string]any, len(x))
		for k, e := range x {
			c[k] = deepCopy(e)
		}
		return c
	case []any:
		c := make([]any, len(x))
		for i, e := range x {
			c[i] = deepCopy(e)
		}
		return c
	default:
		return v
	}
}

func nonNil(v []any) []any {
	if v == nil {
		return []any{}
	}
	return v
}
