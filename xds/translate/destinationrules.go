package translate

import (
	"cmp"
	"maps"
	"slices"
	"sort"

	"github.com/meshgate/meshgate/discovery/model"
)

// DestinationRule resolution, as istiod's PushContext does it
// (setDestinationRules, mergeDestinationRule, destinationRule and
// SidecarScope.DestinationRule):
//
//   - Rules are taken in order: those with a workloadSelector first, then by
//     name and namespace (istiod orders by creation time first; meshgate's
//     model has none, so rules created at the same time, as in the oracle,
//     order the same).
//   - Rules of one namespace for the same host merge when their exportTo sets
//     are equal (and neither or both have the same workloadSelector): the
//     first rule keeps its traffic policy (a later one fills it only when the
//     first has none), later subsets are appended unless their name is taken.
//     A rule whose exportTo is a strict superset is merged into the existing
//     one and kept on its own too; other rules stay apart.
//   - A proxy looks in its own namespace (for a proxy in the root namespace:
//     only the root namespace's private rules), then in the service's
//     namespace, then in the root namespace, taking the rules exported to it
//     (exact host before the most specific wildcard).
//   - Of the rules found, one whose workloadSelector matches the proxy (a rule
//     in the proxy's namespace) wins, else the last one without a selector.

// consolidatedDR is one (possibly merged) rule for a host.
type consolidatedDR struct {
	rule     *model.DestinationRule
	exportTo []string // sorted, unique; a rule with a selector is private (".")
	selector map[string]string
}

// drSet holds rules by resolved host.
type drSet struct {
	specific map[string][]*consolidatedDR
	wildcard map[string][]*consolidatedDR
	// wildcards are the keys of wildcard, most specific (longest) first.
	wildcards []string
}

func newDRSet() *drSet { return &drSet{} } // its maps are made by the first mergeDR

// drIndex is istiod's destinationRuleIndex.
type drIndex struct {
	local     map[string]*drSet // rules visible in their own namespace
	exported  map[string]*drSet // rules exported beyond their namespace
	rootLocal *drSet            // private rules of the root namespace
}

func (ix *Index) indexDestinationRules() {
	rules := make([]*model.DestinationRule, 0, len(ix.local.DestinationRules))
	for i := range ix.local.DestinationRules {
		rules = append(rules, &ix.local.DestinationRules[i])
	}
	slices.SortStableFunc(rules, func(a, b *model.DestinationRule) int {
		return cmp.Or(cmp.Compare(boolRank(a.WorkloadSelector == nil), boolRank(b.WorkloadSelector == nil)),
			cmp.Compare(a.Name, b.Name), cmp.Compare(a.Namespace, b.Namespace))
	})
	idx := &drIndex{rootLocal: newDRSet()} // local and exported made by their first rule
	for _, dr := range rules {
		host := resolveShortName(dr.Host, dr.Namespace, ix.opts.DomainSuffix)
		exportTo := slices.Compact(slices.Sorted(slices.Values(dr.ExportTo)))
		if dr.WorkloadSelector != nil {
			exportTo = []string{"."}
		}
		public := len(exportTo) == 0 || slices.Contains(exportTo, "*")
		if public || slices.Contains(exportTo, ".") || slices.Contains(exportTo, dr.Namespace) {
			if idx.local == nil {
				idx.local = map[string]*drSet{}
			}
			if idx.local[dr.Namespace] == nil {
				idx.local[dr.Namespace] = newDRSet()
			}
			ix.mergeDR(idx.local[dr.Namespace], host, dr, exportTo)
		}
		privateOnly := len(exportTo) == 1 && (exportTo[0] == "." || exportTo[0] == dr.Namespace)
		switch {
		case !privateOnly:
			if idx.exported == nil {
				idx.exported = map[string]*drSet{}
			}
			if idx.exported[dr.Namespace] == nil {
				idx.exported[dr.Namespace] = newDRSet()
			}
			ix.mergeDR(idx.exported[dr.Namespace], host, dr, exportTo)
		case dr.Namespace == RootNamespace:
			ix.mergeDR(idx.rootLocal, host, dr, exportTo)
		}
	}
	ix.drIndex = idx
}

// mergeDR is istiod's mergeDestinationRule (with enhanced merging, its default).
func (ix *Index) mergeDR(set *drSet, host string, dr *model.DestinationRule, exportTo []string) {
	if set.specific == nil { // made here: most sets (the root namespace's) stay empty
		set.specific, set.wildcard = map[string][]*consolidatedDR{}, map[string][]*consolidatedDR{}
	}
	byHost := set.specific
	if isWildcard(host) {
		byHost = set.wildcard
	}
	list, exists := byHost[host]
	if !exists {
		byHost[host] = []*consolidatedDR{{rule: dr, exportTo: exportTo, selector: dr.WorkloadSelector}}
		if isWildcard(host) {
			set.wildcards = append(set.wildcards, host)
			sort.SliceStable(set.wildcards, func(i, j int) bool { return len(set.wildcards[i]) > len(set.wildcards[j]) })
		}
		return
	}
	separate := true
	for _, mdr := range list {
		switch {
		case slices.Equal(exportTo, mdr.exportTo):
			separate = false
		case len(mdr.exportTo) > 0 && supersetOf(exportTo, mdr.exportTo):
			separate = true
		default:
			separate = true
			continue
		}
		bothWithout := dr.WorkloadSelector == nil && mdr.selector == nil
		bothWith := dr.WorkloadSelector != nil && mdr.selector != nil
		same := maps.Equal(dr.WorkloadSelector, mdr.selector)
		if bothWith && !same {
			separate = true
			continue
		}
		if bothWithout || bothWith && same {
			separate = false
		}
		merged := *mdr.rule
		merged.Subsets = slices.Clone(merged.Subsets)
		for _, s := range dr.Subsets {
			if findSubset(&merged, s.Name) != nil {
				// reported once, though the rule merges in several sets
				err := model.Errorf(model.RefOf(model.KindDestinationRule, dr.Meta), "spec.subsets",
					"subset %q of host %q is already defined by DestinationRule %s; this one is ignored", s.Name, host, mdr.rule.NamespacedName())
				if !slices.ContainsFunc(ix.errs, func(e error) bool { return e.Error() == err.Error() }) {
					ix.errs = append(ix.errs, err)
				}
				continue
			}
			merged.Subsets = append(merged.Subsets, s)
		}
		if merged.TrafficPolicy == nil {
			merged.TrafficPolicy = dr.TrafficPolicy
		}
		mdr.rule = &merged
	}
	if separate {
		byHost[host] = append(list, &consolidatedDR{rule: dr, exportTo: exportTo, selector: dr.WorkloadSelector})
	}
}

func supersetOf(a, b []string) bool {
	for _, x := range b {
		if !slices.Contains(a, x) {
			return false
		}
	}
	return true
}

// match is istiod's MostSpecificHostMatch: the exact host, else the most
// specific wildcard covering it.
func (s *drSet) match(host string) ([]*consolidatedDR, bool) {
	if s == nil {
		return nil, false
	}
	if l, ok := s.specific[host]; ok {
		return l, true
	}
	for _, w := range s.wildcards {
		if hostSubsetOf(host, w) {
			return s.wildcard[w], true
		}
	}
	return nil, false
}

// exportedTo keeps the rules of a namespace exported to the client namespace.
func (s *drSet) exportedTo(host, client string) []*consolidatedDR {
	l, _ := s.match(host)
	var out []*consolidatedDR
	for _, mdr := range l {
		if len(mdr.exportTo) == 0 || slices.Contains(mdr.exportTo, "*") || slices.Contains(mdr.exportTo, client) {
			out = append(out, mdr)
		}
	}
	return out
}

// destinationRule returns the (merged) DestinationRule a proxy in proxyNS with
// proxyLabels uses for hostname, a service in svcNS (see the top of this file).
func (ix *Index) destinationRule(hostname, proxyNS, svcNS string, proxyLabels map[string]string) *model.DestinationRule {
	idx := ix.drIndex
	var list []*consolidatedDR
	found := false
	if proxyNS != RootNamespace {
		list, found = idx.local[proxyNS].match(hostname)
	} else {
		list, found = idx.rootLocal.match(hostname)
	}
	if !found && svcNS != "" {
		list = idx.exported[svcNS].exportedTo(hostname, proxyNS)
	}
	if !found && len(list) == 0 {
		list = idx.exported[RootNamespace].exportedTo(hostname, proxyNS)
	}
	var catchAll *model.DestinationRule
	for _, mdr := range list {
		if mdr.selector == nil {
			catchAll = mdr.rule
			continue
		}
		if mdr.rule.Namespace == proxyNS && model.LabelsMatch(mdr.selector, proxyLabels) {
			return mdr.rule
		}
	}
	return catchAll
}
