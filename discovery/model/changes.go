package model

import (
	"fmt"
	"reflect"
	"strings"
)

// KindChanges counts one kind's objects in a new state and what changed
// since the old one.
type KindChanges struct {
	Kind                    Kind
	Total                   int
	Added, Removed, Changed int
}

// Changes compares two states of one cluster kind by kind (old nil: every
// object is added). Kinds with no objects in either state are left out;
// the order is fixed.
type Changes []KindChanges

// Changed reports whether any object was added, removed or changed.
func (c Changes) Changed() bool {
	for _, k := range c {
		if k.Added+k.Removed+k.Changed > 0 {
			return true
		}
	}
	return false
}

// Only returns the changes of the kinds given.
func (c Changes) Only(kinds ...Kind) Changes {
	var out Changes
	for _, k := range c {
		for _, want := range kinds {
			if k.Kind == want {
				out = append(out, k)
			}
		}
	}
	return out
}

// String is "Gateway 2 (+1), VirtualService 3 (~1 -1), Service 4": every
// kind's count, with what changed.
func (c Changes) String() string {
	var b strings.Builder
	for i, k := range c {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %d", k.Kind, k.Total)
		var d []string
		if k.Added > 0 {
			d = append(d, fmt.Sprintf("+%d", k.Added))
		}
		if k.Changed > 0 {
			d = append(d, fmt.Sprintf("~%d", k.Changed))
		}
		if k.Removed > 0 {
			d = append(d, fmt.Sprintf("-%d", k.Removed))
		}
		if len(d) > 0 {
			b.WriteString(" (" + strings.Join(d, " ") + ")")
		}
	}
	return b.String()
}

// CompareClusters returns the changes from old to new.
func CompareClusters(old, new *ClusterState) Changes {
	if old == nil {
		old = &ClusterState{}
	}
	if new == nil {
		new = &ClusterState{}
	}
	var out Changes
	add := func(k KindChanges) {
		if k.Total+k.Removed > 0 {
			out = append(out, k)
		}
	}
	add(compareKind(KindNamespace, old.Namespaces, new.Namespaces, func(n Namespace) Meta { return n.Meta }))
	add(compareKind(KindService, old.Services, new.Services, func(s Service) Meta { return s.Meta }))
	add(compareKind(KindGateway, old.Gateways, new.Gateways, func(g Gateway) Meta { return g.Meta }))
	add(compareKind(KindVirtualService, old.VirtualServices, new.VirtualServices, func(v VirtualService) Meta { return v.Meta }))
	add(compareKind(KindDestinationRule, old.DestinationRules, new.DestinationRules, func(d DestinationRule) Meta { return d.Meta }))
	add(compareKind(KindServiceEntry, old.ServiceEntries, new.ServiceEntries, func(e ServiceEntry) Meta { return e.Meta }))
	add(compareKind(KindSecret, old.Secrets, new.Secrets, func(s Secret) Meta { return s.Meta }))
	return out
}

func compareKind[T any](kind Kind, old, new []T, meta func(T) Meta) KindChanges {
	c := KindChanges{Kind: kind, Total: len(new)}
	before := make(map[string]*T, len(old))
	for i := range old {
		before[meta(old[i]).NamespacedName()] = &old[i]
	}
	for i := range new {
		key := meta(new[i]).NamespacedName()
		o, ok := before[key]
		switch {
		case !ok:
			c.Added++
		case !reflect.DeepEqual(*o, new[i]):
			c.Changed++
		}
		delete(before, key)
	}
	c.Removed = len(before)
	return c
}
