package cliflag

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/spf13/pflag"
)

// Labels defines --label: a gateway's pod labels, given as k=v, repeatable,
// and comma-separated lists k=v,k2=v2 accepted too (a label value cannot
// hold a comma). The first --label replaces def; later ones add to it.
func Labels(fs *pflag.FlagSet, m *map[string]string, def map[string]string, usage string) *pflag.Flag {
	*m = maps.Clone(def)
	if *m == nil {
		*m = map[string]string{}
	}
	return Var(fs, &labelsValue{m: m}, Label, usage)
}

type labelsValue struct {
	m   *map[string]string
	set bool
}

func (v *labelsValue) Set(s string) error {
	if !v.set {
		*v.m = map[string]string{}
		v.set = true
	}
	for _, kv := range strings.Split(s, ",") {
		k, val, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return fmt.Errorf("%q: want key=value", kv)
		}
		(*v.m)[k] = val
	}
	return nil
}

func (v *labelsValue) Type() string { return "k=v" }

func (v *labelsValue) String() string {
	keys := slices.Sorted(maps.Keys(*v.m))
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k + "=" + (*v.m)[k]
	}
	return strings.Join(out, ",")
}
