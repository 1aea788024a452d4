package server

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"time"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/emptypb"
)

// kind indexes the resource types a build holds (everything but endpoints,
// which live in the group's LinearCache).
type kind int

const (
	kCluster kind = iota
	kListener
	kRoute
	kSecret
	numKinds
)

var kindTypeURL = [numKinds]string{resource.ClusterType, resource.ListenerType, resource.RouteType, resource.SecretType}

var kindCacheType = [numKinds]types.ResponseType{types.Cluster, types.Listener, types.Route, types.Secret}

// shortType names a type URL in metrics and debug output.
func shortType(typeURL string) string {
	switch typeURL {
	case resource.ClusterType:
		return "cluster"
	case resource.ListenerType:
		return "listener"
	case resource.RouteType:
		return "route"
	case resource.SecretType:
		return "secret"
	case resource.EndpointType:
		return "endpoint"
	}
	return "other"
}

// item is one resource with its content hash and its encoding, made once.
type item struct {
	res  types.Resource
	raw  types.Resource // res marshalled (see marshalled)
	hash string
	name string // set for endpoints: the name every request's copy is replaced with (intern)
	// Set for endpoints: raw wrapped once for every state-of-the-world
	// response, and the item's share of content versions (edscache.go).
	any *anypb.Any
	mix [2]uint64
	gen uint64 // set for endpoints: the group's generation when it last changed (edsHeld)
}

// typed is the resources of one kind and their version: a hash of every
// (name, content hash) pair, so equal content gives equal versions.
type typed struct {
	version string
	items   map[string]item
	// res and vm are items as a snapshot holds them (sealed): made once
	// per typed, shared by every snapshot that holds this typed.
	res cache.Resources
	vm  map[string]string
}

// sealed fills t's version and snapshot form from its items.
func (t typed) sealed() typed {
	t.version = versionOf(t.items)
	items := make(map[string]types.ResourceWithTTL, len(t.items))
	vm := make(map[string]string, len(t.items))
	for n, it := range t.items {
		items[n] = types.ResourceWithTTL{Resource: it.raw}
		vm[n] = it.hash
	}
	t.res, t.vm = cache.Resources{Version: t.version, Items: items}, vm
	return t
}

// build is an immutable configuration (all kinds but endpoints). Builds are
// shared by every proxy of a group; snapshot is built once.
type build struct {
	kinds [numKinds]typed
	// changedAt is when the input change that produced this build arrived;
	// origins are the clusters whose change it carries (convergence.go).
	changedAt time.Time
	origins   origins
	snap      *cache.Snapshot
	// routeDeps (by route configuration name) and listenerClusters are the
	// translation's translate.Result.RouteDeps (errors located) and
	// ListenerClusters, for the route-only rebuild (routes.go); nil when
	// the translator gives none.
	routeDeps        map[string]routeDeps
	listenerClusters []string
}

// marshal encodes r once (deterministically, as go-control-plane does)
// and returns the encoding as a resource of its own and its content hash.
func marshal(r types.Resource) (raw types.Resource, hash string, err error) {
	b, err := cache.MarshalResource(r)
	if err != nil {
		return nil, "", err
	}
	return marshalled(b), cache.HashResource(b), nil
}

// marshalled is a message whose encoding is exactly b: an empty message
// holding b as unknown fields. go-control-plane marshals every resource of
// every response again (per stream, per push); handed this instead of the
// resource, it copies b and does no proto work. What the proxy receives is
// the same bytes, because a response's type URL comes from the request, not
// from the resource. Nothing may modify b afterwards.
func marshalled(b []byte) types.Resource {
	m := &emptypb.Empty{}
	m.ProtoReflect().SetUnknown(b)
	return m
}

// unmarshalled decodes what marshalled holds into a new message of into's
// type (for debug output); nil when it does not decode.
func unmarshalled[T proto.Message](raw types.Resource, into T) T {
	if err := proto.Unmarshal(raw.ProtoReflect().GetUnknown(), into); err != nil {
		var zero T
		return zero
	}
	return into
}

func newTyped(rs []types.Resource) (typed, error) {
	t := typed{items: make(map[string]item, len(rs))}
	for _, r := range rs {
		name := cache.GetResourceName(r)
		if _, dup := t.items[name]; dup {
			return typed{}, fmt.Errorf("duplicate resource name %q", name)
		}
		raw, h, err := marshal(r)
		if err != nil {
			return typed{}, fmt.Errorf("%s: %w", name, err)
		}
		t.items[name] = item{res: r, raw: raw, hash: h}
	}
	return t.sealed(), nil
}

// versionOf hashes the sorted (name, hash) pairs; 16 hex digits are plenty.
func versionOf(items map[string]item) string {
	names := make([]string, 0, len(items))
	for n := range items {
		names = append(names, n)
	}
	slices.Sort(names)
	h := sha256.New()
	for _, n := range names {
		h.Write([]byte(n))
		h.Write([]byte{0})
		h.Write([]byte(items[n].hash))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// newBuild hashes the resources of each kind and makes the snapshot.
func newBuild(byKind [numKinds][]types.Resource, ch change) (*build, error) {
	b := &build{changedAt: ch.at, origins: ch.origins}
	for k := range numKinds {
		t, err := newTyped(byKind[k])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", shortType(kindTypeURL[k]), err)
		}
		b.kinds[k] = t
	}
	b.snap = b.snapshot()
	return b, nil
}

// snapshot fills a go-control-plane Snapshot with the marshalled resources
// (shared by every proxy that gets this build: each response copies their
// bytes instead of marshalling again), including the per-resource version
// map delta xDS needs.
func (b *build) snapshot() *cache.Snapshot {
	s := &cache.Snapshot{VersionMap: map[string]map[string]string{}}
	for k := range numKinds {
		t := b.kinds[k]
		s.Resources[kindCacheType[k]] = t.res
		s.VersionMap[kindTypeURL[k]] = t.vm
	}
	return s
}

// sameAs reports whether b and o hold the same content.
func (b *build) sameAs(o *build) bool {
	if b == nil || o == nil {
		return b == o
	}
	for k := range numKinds {
		if b.kinds[k].version != o.kinds[k].version {
			return false
		}
	}
	return true
}

// stage1 is the first make-before-break step from published to target: the
// clusters and secrets of both (the new ones for what comes, the old ones
// for the listeners and routes still in use), with published's listeners
// and routes.
func stage1(published, target *build) *build { return merged(published, target, published) }

// stage2 switches listeners and routes to target's while keeping the
// clusters and secrets of both; removals come after it.
func stage2(published, target *build) *build { return merged(published, target, target) }

func merged(published, target, users *build) *build {
	s := &build{changedAt: target.changedAt, origins: target.origins}
	for k := range numKinds {
		switch kind(k) {
		case kListener, kRoute:
			s.kinds[k] = users.kinds[k]
		default:
			s.kinds[k] = union(published.kinds[k], target.kinds[k])
		}
	}
	if s.sameAs(target) {
		return target // no step needed: share target's snapshot
	}
	s.snap = s.snapshot()
	return s
}

// union is target's resources plus those only published has; target itself
// when it has them all (the common case: nothing removed).
func union(published, target typed) typed {
	extra := false
	for n := range published.items {
		if _, ok := target.items[n]; !ok {
			extra = true
			break
		}
	}
	if !extra {
		return target
	}
	items := make(map[string]item, len(published.items)+len(target.items))
	for n, it := range published.items {
		items[n] = it
	}
	for n, it := range target.items {
		items[n] = it
	}
	return typed{items: items}.sealed()
}

// usersChange reports whether going from published to target changes
// listeners or routes, the resources that use clusters.
func usersChange(published, target *build) bool {
	if published == nil {
		return false
	}
	return published.kinds[kListener].version != target.kinds[kListener].version ||
		published.kinds[kRoute].version != target.kinds[kRoute].version
}

// resources returns the resources of a kind sorted by name (for debug output).
func (b *build) resources(k kind) []types.Resource {
	t := b.kinds[k]
	names := make([]string, 0, len(t.items))
	for n := range t.items {
		names = append(names, n)
	}
	slices.Sort(names)
	out := make([]types.Resource, len(names))
	for i, n := range names {
		out[i] = t.items[n].res
	}
	return out
}

// asResources converts typed proto slices.
func asResources[T proto.Message](in []T) []types.Resource {
	out := make([]types.Resource, len(in))
	for i, r := range in {
		out[i] = r
	}
	return out
}
