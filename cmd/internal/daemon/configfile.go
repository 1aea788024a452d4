package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"reflect"
	"slices"
	"strings"

	"github.com/spf13/pflag"
	"sigs.k8s.io/yaml"

	"github.com/meshgate/meshgate/cmd/internal/cliflag"
)

// oldKeys are config file keys (and flags) that were renamed: still read,
// with a note, for one release.
var oldKeys = map[string]string{
	"identity-ca-dir": "ca-dir",
}

// Resolve overlays the config file (if any) on c, which holds defaults and
// parsed flags, without touching the fields whose flags were set: flags win.
// Errors name the file and the key in the flags' terms: an unknown key (with
// the closest known one), a value of the wrong type. notes are what to warn
// about: old key names that were read under their new name.
func Resolve(c Config, file string, fs *pflag.FlagSet) (_ Config, notes []string, _ error) {
	if file == "" {
		return c, nil, nil
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		return c, nil, fmt.Errorf("config file: %w", err)
	}
	js, err := yaml.YAMLToJSON(raw)
	if err != nil {
		return c, nil, fmt.Errorf("config file %s: %w", file, err)
	}
	fields := map[string]json.RawMessage{}
	if err := json.Unmarshal(js, &fields); err != nil || (len(fields) == 0 && strings.TrimSpace(string(js)) != "null") {
		return c, nil, fmt.Errorf("config file %s: want a mapping of settings (key: value, keys named like the flags of meshgate run)", file)
	}
	known := configKeys()
	var errs []error
	for _, key := range slices.Sorted(maps.Keys(fields)) {
		name := key
		if nw, ok := oldKeys[key]; ok {
			notes = append(notes, fmt.Sprintf("config file %s: key %q is deprecated, use %q", file, key, nw))
			name = nw
		}
		index, ok := known[name]
		if !ok {
			msg := fmt.Sprintf("config file %s: unknown key %q", file, key)
			if s := closest(key, slices.Collect(maps.Keys(known))); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			errs = append(errs, errors.New(msg))
			continue
		}
		if fs != nil && cliflag.Changed(fs, name) {
			continue // the flag wins
		}
		field := reflect.ValueOf(&c).Elem().FieldByIndex(index)
		v := reflect.New(field.Type())
		if err := json.Unmarshal(fields[key], v.Interface()); err != nil {
			errs = append(errs, fmt.Errorf("config file %s: key %q: %s", file, key, valueError(err, field.Type(), fields[key])))
			continue
		}
		field.Set(v.Elem())
	}
	return c, notes, errors.Join(errs...)
}

// configKeys maps each config file key (a Config field's json name) to the
// field's index.
func configKeys() map[string][]int {
	out := map[string][]int{}
	var walk func(t reflect.Type, prefix []int)
	walk = func(t reflect.Type, prefix []int) {
		for i := range t.NumField() {
			f := t.Field(i)
			index := append(slices.Clone(prefix), i)
			if f.Anonymous && f.Type.Kind() == reflect.Struct {
				walk(f.Type, index)
				continue
			}
			if name, _, _ := strings.Cut(f.Tag.Get("json"), ","); name != "" && name != "-" {
				out[name] = index
			}
		}
	}
	walk(reflect.TypeOf(Config{}), nil)
	return out
}

// valueError says what a key wants, in the file's terms.
func valueError(err error, t reflect.Type, raw json.RawMessage) string {
	var te *json.UnmarshalTypeError
	if !errors.As(err, &te) {
		return err.Error() // a Duration's own message
	}
	want := "a string"
	switch t.Kind() {
	case reflect.Bool:
		want = "true or false"
	case reflect.Slice:
		want = "a list of strings"
	}
	got := string(raw)
	if len(got) > 40 {
		got = got[:40] + "…"
	}
	return fmt.Sprintf("want %s, got %s", want, got)
}

// closest is the known key nearest to key by edit distance, if near enough
// to be a typo.
func closest(key string, known []string) string {
	best, bestD := "", len(key)/3+2
	for _, k := range slices.Sorted(slices.Values(known)) {
		if d := editDistance(key, k); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
