package cliflag

import (
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// Name is the name of a shared flag.
type Name string

// The shared flags. A command that takes one of these settings defines it
// with a helper of this package, under this name.
const (
	XDSAddress    Name = "xds-address"     // the daemon's xDS address: where run listens, what clients dial
	XDSServerName Name = "xds-server-name" // DNS name the daemon's certificate must carry
	Label         Name = "label"           // a gateway's pod labels, k=v (repeatable)
	Network       Name = "network"         // a network name (topology.istio.io/network)
	Namespace     Name = "namespace"       // a Kubernetes namespace
	ClusterID     Name = "cluster-id"      // a cluster's id in the mesh
	NodeID        Name = "node-id"         // an Istio xDS node id
	Locality      Name = "locality"        // a proxy's locality, region[/zone[/subzone]]
	CADir         Name = "ca-dir"          // a meshgate CA directory (created when empty)
	CACerts       Name = "cacerts"         // an Istio-style cacerts directory
	CARoot        Name = "ca-root"         // a PEM file of the mesh root
	TokenFile     Name = "token-file"      // a service-account token file
	SVIDTTL       Name = "svid-ttl"        // the lifetime of an SVID
	AdminAddress  Name = "admin-address"   // an admin API address
	TrustDomain   Name = "trust-domain"    // the SPIFFE trust domain
	DomainSuffix  Name = "domain-suffix"   // the cluster DNS domain
	LogLevel      Name = "log-level"       // debug, info, warn or error
	LogFormat     Name = "log-format"      // text or json
	Output        Name = "output"          // -o: the output format
	File          Name = "file"            // -f: an input file or directory, - for stdin
	Kubeconfig    Name = "kubeconfig"      // a kubeconfig file
	Context       Name = "context"         // a kubeconfig context
)

// Aliases are the old names of the shared flags: each still works where a
// command declares it with Alias, hidden and deprecated, for one release.
var Aliases = map[Name][]string{
	XDSAddress:   {"xds"},             // gateway
	Label:        {"proxy-labels"},    // translate
	Network:      {"proxy-network"},   // translate
	Namespace:    {"proxy-namespace"}, // translate
	ClusterID:    {"name"},            // create-remote-secret
	CADir:        {"identity-ca-dir"}, // run
	CARoot:       {"cacert"},          // members, keyring
	AdminAddress: {"admin"},           // members, keyring
	SVIDTTL:      {"ttl"},             // cert issue
}

// Names returns every shared name, sorted.
func Names() []Name {
	return slices.Sorted(maps.Keys(shorthands))
}

// shorthands are the one-letter forms; every Name has an entry ("" for none).
var shorthands = map[Name]string{
	XDSAddress: "", XDSServerName: "", Label: "", Network: "", Namespace: "", ClusterID: "", NodeID: "", Locality: "",
	CADir: "", CACerts: "", CARoot: "", TokenFile: "", SVIDTTL: "", AdminAddress: "", TrustDomain: "",
	DomainSuffix: "", LogLevel: "", LogFormat: "", Output: "o", File: "f", Kubeconfig: "", Context: "",
}

// Annotation marks a flag defined by this package (its value is the Name).
const Annotation = "meshgate.io/shared-flag"

// Var defines the shared flag n with value v. Every other helper ends here.
func Var(fs *pflag.FlagSet, v pflag.Value, n Name, usage string) *pflag.Flag {
	short, ok := shorthands[n]
	if !ok {
		panic(fmt.Sprintf("cliflag: %q is not a shared flag", n))
	}
	fs.VarP(v, string(n), short, usage)
	f := fs.Lookup(string(n))
	if f.Annotations == nil {
		f.Annotations = map[string][]string{}
	}
	f.Annotations[Annotation] = []string{string(n)}
	return f
}

// String defines a string flag n with default def.
func String(fs *pflag.FlagSet, p *string, n Name, def, usage string) *pflag.Flag {
	*p = def
	return Var(fs, (*stringValue)(p), n, usage)
}

// Strings defines a repeatable, comma-separated string flag n.
func Strings(fs *pflag.FlagSet, p *[]string, n Name, def []string, usage string) *pflag.Flag {
	tmp := pflag.NewFlagSet("", pflag.ContinueOnError)
	tmp.StringSliceVar(p, string(n), def, usage)
	return Var(fs, tmp.Lookup(string(n)).Value, n, usage)
}

// StringArray defines a repeatable string flag n (no comma splitting).
func StringArray(fs *pflag.FlagSet, p *[]string, n Name, usage string) *pflag.Flag {
	tmp := pflag.NewFlagSet("", pflag.ContinueOnError)
	tmp.StringArrayVar(p, string(n), nil, usage)
	return Var(fs, tmp.Lookup(string(n)).Value, n, usage)
}

// Duration defines a duration flag n with default def.
func Duration(fs *pflag.FlagSet, p *time.Duration, n Name, def time.Duration, usage string) *pflag.Flag {
	tmp := pflag.NewFlagSet("", pflag.ContinueOnError)
	tmp.DurationVar(p, string(n), def, usage)
	return Var(fs, tmp.Lookup(string(n)).Value, n, usage)
}

// Log defines --log-level and --log-format with their one usage text; the
// defaults are *level and *format, or info and text when empty.
func Log(fs *pflag.FlagSet, level, format *string) {
	if *level == "" {
		*level = "info"
	}
	if *format == "" {
		*format = "text"
	}
	String(fs, level, LogLevel, *level, "log level: debug, info, warn or error")
	String(fs, format, LogFormat, *format, "log format: text or json")
}

// OutputFlag defines -o/--output; the first format is the default.
func OutputFlag(fs *pflag.FlagSet, p *string, formats ...string) *pflag.Flag {
	return String(fs, p, Output, formats[0], "output format: "+orList(formats))
}

// CheckOutput says whether v is one of formats, in the words of every command.
func CheckOutput(v string, formats ...string) error {
	if slices.Contains(formats, v) {
		return nil
	}
	return fmt.Errorf("--output %q: want %s", v, orList(formats))
}

func orList(s []string) string {
	if len(s) == 1 {
		return s[0]
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

// Kubeconfig defines --kubeconfig and --context as kubectl reads them.
func KubeconfigFlags(fs *pflag.FlagSet, kubeconfig, context *string) {
	String(fs, kubeconfig, Kubeconfig, "", "kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
	String(fs, context, Context, "", "kubeconfig context (default: the current context)")
}

// Alias declares old, one of Aliases[n], as an old name of the flag n
// already defined in fs: same value, hidden from --help, deprecated
// (WarnDeprecated reports the old names a command line used).
func Alias(fs *pflag.FlagSet, old string, n Name) {
	if !slices.Contains(Aliases[n], old) {
		panic(fmt.Sprintf("cliflag: %q is not an old name of --%s", old, n))
	}
	f := fs.Lookup(string(n))
	if f == nil {
		panic(fmt.Sprintf("cliflag: alias %q of --%s, which is not defined", old, n))
	}
	// Hidden, with the note in an annotation rather than pflag's
	// Deprecated, whose message pflag writes wherever cobra pointed the
	// flag set's output (stdout, where it would corrupt a command's output).
	fs.AddFlag(&pflag.Flag{Name: old, Usage: "old name of --" + string(n), Value: f.Value, DefValue: f.DefValue, NoOptDefVal: f.NoOptDefVal,
		Hidden: true, Annotations: map[string][]string{DeprecatedAnnotation: {string(n)}}})
}

// DeprecatedAnnotation marks an old name (Alias); its value is the new name.
const DeprecatedAnnotation = "meshgate.io/deprecated-for"

// WarnDeprecated writes one line to w for every old flag name set in fs.
func WarnDeprecated(fs *pflag.FlagSet, w io.Writer) {
	fs.Visit(func(f *pflag.Flag) {
		if nw := f.Annotations[DeprecatedAnnotation]; len(nw) == 1 {
			fmt.Fprintf(w, "meshgate: flag --%s is deprecated, use --%s instead\n", f.Name, nw[0])
		}
	})
}

type stringValue string

func (s *stringValue) Set(v string) error { *s = stringValue(v); return nil }
func (s *stringValue) Type() string       { return "string" }
func (s *stringValue) String() string     { return string(*s) }

// Logger builds the text or JSON logger of --log-level and --log-format,
// writing to w. Errors name the flag (a config file uses the same names).
func Logger(level, format string, w io.Writer) (*slog.Logger, error) {
	l, err := ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("--log-level %w", err)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}

// ParseLevel reads a --log-level value.
func ParseLevel(level string) (slog.Level, error) {
	var l slog.Level
	switch level {
	case "debug", "info", "warn", "error":
		return l, l.UnmarshalText([]byte(level))
	}
	return l, fmt.Errorf("%q: want debug, info, warn or error", level)
}

// Changed reports whether the flag name, or one of its old names, was set.
func Changed(fs *pflag.FlagSet, name string) bool {
	if fs.Changed(name) {
		return true
	}
	for _, old := range Aliases[Name(name)] {
		if fs.Lookup(old) != nil && fs.Changed(old) {
			return true
		}
	}
	return false
}
