package convert

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	networking "istio.io/api/networking/v1alpha3"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/meshgate/meshgate/discovery/model"
)

// Helpers shared by the Istio kinds: durations, percentages, string matches,
// destinations, labels.

func duration(d *durationpb.Duration) *time.Duration {
	if d == nil {
		return nil
	}
	v := d.AsDuration()
	return &v
}

// validateDuration is Istio's ValidateDuration: at least 1ms, ms precision.
func validateDuration(d *durationpb.Duration) error {
	if d == nil {
		return nil
	}
	if err := d.CheckValid(); err != nil {
		return err
	}
	v := d.AsDuration()
	if v < time.Millisecond {
		return fmt.Errorf("duration %v must be at least 1ms", v)
	}
	if v%time.Millisecond != 0 {
		return fmt.Errorf("duration %v: only durations to ms precision are supported", v)
	}
	return nil
}

func percent(p *networking.Percent) *float64 {
	if p == nil {
		return nil
	}
	v := p.GetValue()
	return &v
}

// validatePercentage is Istio's: 0, or in [0.0001, 100].
func validatePercentage(p *networking.Percent) error {
	if p == nil {
		return nil
	}
	if v := p.GetValue(); v < 0 || v > 100 || (v > 0 && v < 0.0001) {
		return fmt.Errorf("percentage %v is neither 0.0, nor in range [0.0001, 100.0]", v)
	}
	return nil
}

func boolPtr(b *wrapperspb.BoolValue) *bool {
	if b == nil {
		return nil
	}
	v := b.GetValue()
	return &v
}

func uint32Ptr(u *wrapperspb.UInt32Value) *uint32 {
	if u == nil {
		return nil
	}
	v := u.GetValue()
	return &v
}

func cloneMap[V any](m map[string]V) map[string]V {
	if len(m) == 0 {
		return nil
	}
	return maps.Clone(m)
}

func cloneSlice[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return slices.Clone(s)
}

// stringMatch converts a StringMatch; an empty match ({}) has Kind "" and
// means "present".
func stringMatch(m *networking.StringMatch) *model.StringMatch {
	if m == nil {
		return nil
	}
	out := &model.StringMatch{}
	switch t := m.GetMatchType().(type) {
	case *networking.StringMatch_Exact:
		out.Exact, out.Kind = t.Exact, "exact"
	case *networking.StringMatch_Prefix:
		out.Prefix, out.Kind = t.Prefix, "prefix"
	case *networking.StringMatch_Regex:
		out.Regex, out.Kind = t.Regex, "regex"
	}
	return out
}

func stringMatchMap(m map[string]*networking.StringMatch) map[string]model.StringMatch {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]model.StringMatch, len(m))
	for k, v := range m {
		if sm := stringMatch(v); sm != nil {
			out[k] = *sm
		} else {
			out[k] = model.StringMatch{}
		}
	}
	return out
}

// validateStringMatch: a prefix may not be empty (except for uri), a regex
// must compile as RE2 and be at most 1024 bytes.
func validateStringMatch(m *networking.StringMatch, allowEmptyPrefix bool) error {
	switch t := m.GetMatchType().(type) {
	case *networking.StringMatch_Prefix:
		if t.Prefix == "" && !allowEmptyPrefix {
			return errors.New("prefix string match should not be empty")
		}
	case *networking.StringMatch_Regex:
		return validateRegex(t.Regex)
	}
	return nil
}

func validateRegex(re string) error {
	if re == "" {
		return errors.New("regex string match should not be empty")
	}
	if len(re) > 1024 {
		return errors.New("regex is too large, max length allowed is 1024")
	}
	if _, err := regexp.Compile(re); err != nil {
		return fmt.Errorf("%v; Istio uses RE2 style regex-based match (https://github.com/google/re2/wiki/Syntax)", err)
	}
	return nil
}

func destination(d *networking.Destination) model.Destination {
	if d == nil {
		return model.Destination{}
	}
	return model.Destination{Host: d.GetHost(), Subset: d.GetSubset(), Port: d.GetPort().GetNumber()}
}

// validateDestination checks a route destination (field is its path).
func validateDestination(fe *fieldErrs, field string, d *networking.Destination) {
	if d == nil {
		fe.add(field, "destination is required")
		return
	}
	switch {
	case d.Host == "":
		fe.add(field+".host", "destination host is required")
	case d.Host == "*":
		fe.add(field+".host", "invalid destination host \"*\"")
	case strings.Contains(d.Host, "/"):
		fe.add(field+".host", "invalid destination host %q: a host cannot contain '/'", d.Host)
	default:
		fe.addErr(field+".host", validateWildcardDomain(d.Host))
	}
	if d.Subset != "" {
		fe.addErr(field+".subset", validateSubsetName(d.Subset))
	}
	if d.Port != nil {
		fe.addErr(field+".port.number", validatePort(d.Port.GetNumber()))
	}
}

func validateSubsetName(name string) error {
	if name == "" {
		return errors.New("subset name cannot be empty")
	}
	if !isDNS1123Label(name) {
		return fmt.Errorf("invalid subset name %q: %s", name, strings.Join(validation.IsDNS1123Label(name), "; "))
	}
	return nil
}

func validatePort(p uint32) error {
	if p < 1 || p > 65535 {
		return fmt.Errorf("port number %d must be in the range 1..65535", p)
	}
	return nil
}

// validateLabels checks a label map (selector, subset labels) as Kubernetes
// does: qualified-name keys and valid values, no wildcards.
func validateLabels(fe *fieldErrs, field string, labels map[string]string) {
	for _, k := range model.SortedKeys(labels) {
		for _, msg := range validation.IsQualifiedName(k) {
			fe.add(key(field, k), "invalid label key %q: %s", k, msg)
		}
		for _, msg := range validation.IsValidLabelValue(labels[k]) {
			fe.add(key(field, k), "invalid label value %q: %s", labels[k], msg)
		}
	}
}

// protocolOf parses an Istio port protocol (case-insensitive) into the model's
// upper-case form; ok is false for protocols the model does not know.
func protocolOf(p string) (model.Protocol, bool) {
	up := model.Protocol(strings.ToUpper(p))
	switch up {
	case model.ProtocolHTTP, model.ProtocolHTTPS, model.ProtocolHTTP2, model.ProtocolGRPC,
		model.ProtocolGRPCWeb, model.ProtocolTCP, model.ProtocolTLS, model.ProtocolMongo,
		model.ProtocolMySQL, model.ProtocolRedis, model.ProtocolUDP:
		return up, true
	}
	return "", false
}

const supportedProtocols = "HTTP, HTTPS, HTTP2, GRPC, GRPC-WEB, TCP, TLS, MONGO, MYSQL, REDIS, UDP"

// validatePortName checks a port name as Istio does (a DNS-1123 label).
func validatePortName(name string) error {
	if !isDNS1123Label(name) {
		return fmt.Errorf("invalid port name %q: %s", name, strings.Join(validation.IsDNS1123Label(name), "; "))
	}
	return nil
}

// ValidateDefaultExportTo checks a mesh default exportTo
// (MeshConfig.defaultServiceExportTo) as an object's exportTo is checked.
func ValidateDefaultExportTo(exportTo []string) error {
	fe := &fieldErrs{}
	validateExportTo(fe, "defaultServiceExportTo", "", exportTo)
	var errs []error
	for _, e := range fe.list {
		if f := (*model.FieldError)(nil); errors.As(e, &f) {
			e = fmt.Errorf("%s: %s", f.Field, f.Msg) // no object to name
		}
		errs = append(errs, e)
	}
	return errors.Join(errs...)
}

// validateExportTo checks exportTo entries: ".", "*", "~" or a namespace, no
// duplicates.
func validateExportTo(fe *fieldErrs, field string, namespace string, exportTo []string) {
	seen := map[string]bool{}
	for i, e := range exportTo {
		k := e
		if e == "." {
			k = namespace
		}
		switch {
		case e == "." || e == "*" || e == "~":
		case !isDNS1123Label(e):
			fe.add(idx(field, i), "invalid namespace %q", e)
		}
		if seen[k] {
			fe.add(idx(field, i), "duplicate entry %q", e)
		}
		seen[k] = true
	}
	if (seen["*"] || seen["~"]) && len(exportTo) > 1 {
		fe.add(field, "\"*\" and \"~\" cannot be combined with other entries")
	}
}

func validateNonNegative(d *durationpb.Duration) error {
	if d == nil {
		return nil
	}
	if err := d.CheckValid(); err != nil {
		return err
	}
	if d.AsDuration() < 0 {
		return fmt.Errorf("duration %v must not be negative", d.AsDuration())
	}
	return nil
}
