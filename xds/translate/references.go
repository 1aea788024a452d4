package translate

import (
	"github.com/meshgate/meshgate/discovery/model"
)

// CheckReferences reports the references between objects of mesh that
// point at nothing, for no proxy in particular, so that a source's load can
// say so before any proxy connects: the cross-object errors of BuildIndex
// (a VirtualService bound to a Gateway that does not exist, a missing or
// unexported delegate, DestinationRules that do not merge), and route
// destinations (http, tcp, tls, mirrors) whose host is no Service or
// ServiceEntry of the mesh. Each is a *model.FieldError naming the object and field; the
// object's file (or cluster) is its Meta.Source. It is pure, like
// Translate.
func CheckReferences(mesh *model.MeshState, opts Options) []*model.FieldError {
	ix := BuildIndex(mesh, opts)
	var out []*model.FieldError
	for _, e := range ix.errs {
		if fe, ok := e.(*model.FieldError); ok {
			out = append(out, fe)
		}
	}
	for _, vs := range ix.vss {
		ref := model.RefOf(model.KindVirtualService, vs.Meta)
		check := func(field string, d model.Destination) {
			if d.Host == "" {
				return
			}
			h := resolveShortName(d.Host, vs.Namespace, ix.opts.DomainSuffix)
			if isWildcard(h) || ix.services[h] != nil {
				return
			}
			out = append(out, model.Errorf(ref, field+".host", "no Service or ServiceEntry %s in the mesh; routes to it fail until it exists", h))
		}
		for i, r := range vs.HTTP {
			for j, d := range r.Route {
				check(fieldIndex(fieldIndex("spec.http", i)+".route", j)+".destination", d.Destination)
			}
			for j, m := range r.Mirrors {
				check(fieldIndex(fieldIndex("spec.http", i)+".mirrors", j)+".destination", m.Destination)
			}
		}
		for i, r := range vs.TCP {
			for j, d := range r.Route {
				check(fieldIndex(fieldIndex("spec.tcp", i)+".route", j)+".destination", d.Destination)
			}
		}
		for i, r := range vs.TLS {
			for j, d := range r.Route {
				check(fieldIndex(fieldIndex("spec.tls", i)+".route", j)+".destination", d.Destination)
			}
		}
	}
	return out
}
