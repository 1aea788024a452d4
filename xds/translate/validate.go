package translate

import (
	"cmp"
	"errors"
	"fmt"
	"slices"

	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
)

// rdsName returns the route config name of a chain's HTTP connection manager.
func rdsName(fc *listenerv3.FilterChain) string {
	for _, f := range fc.GetFilters() {
		if f.GetName() != wellknown.HTTPConnectionManager {
			continue
		}
		h := &hcmv3.HttpConnectionManager{}
		if err := f.GetTypedConfig().UnmarshalTo(h); err == nil {
			return h.GetRds().GetRouteConfigName()
		}
	}
	return ""
}

type validator interface{ ValidateAll() error }

// validCLA validates an endpoint assignment as ValidateAll does, without
// validating istioTLSModeMetadata once per endpoint (most endpoints share
// it; it is constant and valid, TestIstioTLSModeMetadataValid): the
// endpoints that hold it are given none while the rest is validated, then
// get it back. The assignment is the translation's own, not yet published:
// no one else reads it meanwhile.
func validateOne(v validator) error {
	switch r := v.(type) {
	case *endpointv3.ClusterLoadAssignment:
		return validCLA{r}.ValidateAll()
	case *routev3.RouteConfiguration:
		return validateSplit(r, &r.VirtualHosts)
	case *listenerv3.Listener:
		return validateSplit(r, &r.FilterChains)
	}
	return v.ValidateAll()
}

// validateSplit is whole.ValidateAll() for a resource with many parts (the
// virtual hosts of a gateway's route configuration, the filter chains of an
// east-west listener: thousands): the parts are validated on every CPU, then
// the rest without them. Neither message has a rule on the number of parts;
// whenever anything fails, the whole is validated again as it is, so the
// error is exactly ValidateAll's. The resource is the translation's own, not
// yet published: no one else reads it meanwhile.
func validateSplit[P validator](whole validator, parts *[]P) error {
	ps := *parts
	if len(ps) < minSplitParts {
		return whole.ValidateAll()
	}
	errs := make([]error, len(ps))
	parallel(len(ps), func(i int) { errs[i] = ps[i].ValidateAll() })
	if errors.Join(errs...) != nil {
		return whole.ValidateAll()
	}
	*parts = nil
	err := whole.ValidateAll()
	*parts = ps
	if err != nil {
		return whole.ValidateAll()
	}
	return nil
}

// minSplitParts: below this many parts, validateSplit validates the whole at once.
const minSplitParts = 64

type validCLA struct {
	*endpointv3.ClusterLoadAssignment
}

func (v validCLA) ValidateAll() error {
	var buf [64]*endpointv3.LbEndpoint
	held := buf[:0]
	for _, lle := range v.Endpoints {
		for _, lb := range lle.GetLbEndpoints() {
			if lb != nil && lb.Metadata == istioTLSModeMetadata {
				lb.Metadata = nil
				held = append(held, lb)
			}
		}
	}
	err := validateCLAParts(v.ClusterLoadAssignment)
	for _, lb := range held {
		lb.Metadata = istioTLSModeMetadata
	}
	return err
}

// validateCLAParts is cla.ValidateAll() without its one allocation for a
// valid assignment (the generated code sorts the keys of NamedEndpoints
// with sort.Slice, even when there are none): the assignment's own rule
// (cluster_name: min_len 1; the only field with rules,
// TestCLARulesKnown) and its parts are checked here; whenever anything
// fails, or NamedEndpoints is set, it is ValidateAll's answer exactly.
func validateCLAParts(cla *endpointv3.ClusterLoadAssignment) error {
	if cla == nil {
		return nil
	}
	ok := cla.GetClusterName() != "" && len(cla.GetNamedEndpoints()) == 0 && cla.GetPolicy().ValidateAll() == nil
	for _, e := range cla.GetEndpoints() {
		if !ok {
			break
		}
		ok = e.ValidateAll() == nil
	}
	if ok {
		return nil
	}
	return cla.ValidateAll()
}

// keepValid drops resources that fail Envoy's validation rules (protoc-gen-validate)
// and reports each as an error naming the resource.
// The resources are validated on every CPU (ValidateAll only reads them),
// the errors reported in their order.
func keepValid[T validator](b *builder, kind string, in []T, name func(T) string) []T {
	errs := make([]error, len(in))
	parallel(len(in), func(i int) { errs[i] = validateOne(in[i]) })
	out := in[:0]
	for i, r := range in {
		if err := errs[i]; err != nil {
			b.out.Errors = append(b.out.Errors, fmt.Errorf("%s %q failed Envoy validation and was dropped: %w", kind, name(r), err))
			continue
		}
		out = append(out, r)
	}
	return out
}

// validate runs ValidateAll on every emitted resource.
func (b *builder) validate() {
	o := b.out
	o.Listeners = keepValid(b, "listener", o.Listeners, func(r *listenerv3.Listener) string { return r.GetName() })
	o.Routes = b.keepValidRoutes(o.Routes)
	o.Clusters = keepValid(b, "cluster", o.Clusters, clusterNameOf)
	o.Endpoints = keepValid(b, "endpoints", o.Endpoints, claName)
	o.Secrets = keepValid(b, "secret", o.Secrets, secretName)
}

func (b *builder) sortOutput() {
	o := b.out
	slices.SortFunc(o.Listeners, func(x, y *listenerv3.Listener) int { return cmp.Compare(x.GetName(), y.GetName()) })
	slices.SortFunc(o.Routes, byName(routeName))
	slices.SortFunc(o.Clusters, byName(clusterNameOf))
	slices.SortFunc(o.Endpoints, byName(claName))
	slices.SortFunc(o.Secrets, byName(secretName))
}

func byName[T any](name func(T) string) func(a, b T) int {
	return func(a, b T) int { return cmp.Compare(name(a), name(b)) }
}

// keepValidRoutes is keepValid for route configurations; the error of each
// one dropped also goes to its RouteDeps.
func (b *builder) keepValidRoutes(in []*routev3.RouteConfiguration) []*routev3.RouteConfiguration {
	orig := slices.Clone(in) // keepValid reuses in's array
	from := len(b.out.Errors)
	out := keepValid(b, "route config", in, routeName)
	errs, j := b.out.Errors[from:], 0
	for _, r := range orig {
		if j < len(out) && out[j] == r {
			j++
			continue
		}
		if len(errs) == 0 {
			break // cannot happen: every dropped one has its error
		}
		if d, ok := b.out.RouteDeps[r.GetName()]; ok {
			d.Errors = append(d.Errors, errs[0])
			b.out.RouteDeps[r.GetName()] = d
		}
		errs = errs[1:]
	}
	return out
}
