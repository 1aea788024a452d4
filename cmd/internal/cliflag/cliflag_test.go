package cliflag

import (
	"slices"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func TestLabelsAndAlias(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{nil, "istio=ingressgateway"},                                                         // the default
		{[]string{"--label", "app=a"}, "app=a"},                                               // replaces the default
		{[]string{"--label", "app=a", "--label", "v=1"}, "app=a,v=1"},                         // repeatable
		{[]string{"--label", "app=a,v=1"}, "app=a,v=1"},                                       // comma-separated
		{[]string{"--proxy-labels", "app=a", "--label", "v=1"}, "app=a,v=1"},                  // the old name, same value
		{[]string{"--label", "app=a", "--proxy-labels", "app=b,x=y"}, "app=b,x=y"},            // last wins per key
		{[]string{"--label", "topology.istio.io/network=n1"}, "topology.istio.io/network=n1"}, // label keys with prefixes
	} {
		fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
		var m map[string]string
		Labels(fs, &m, map[string]string{"istio": "ingressgateway"}, "labels")
		Alias(fs, "proxy-labels", Label)
		if err := fs.Parse(tt.args); err != nil {
			t.Fatalf("%v: %v", tt.args, err)
		}
		if got := fs.Lookup("label").Value.String(); got != tt.want || len(m) != strings.Count(tt.want, "=") {
			t.Errorf("%v: labels %q (%v), want %q", tt.args, got, m, tt.want)
		}
		old := slices.Contains(tt.args, "--proxy-labels")
		if Changed(fs, "label") != (len(tt.args) > 0) || fs.Changed("proxy-labels") != old {
			t.Errorf("%v: Changed(label) = %v", tt.args, Changed(fs, "label"))
		}
		if f := fs.Lookup("proxy-labels"); !f.Hidden || f.Annotations[DeprecatedAnnotation][0] != "label" {
			t.Errorf("alias not hidden and deprecated: %+v", f)
		}
		var note strings.Builder
		WarnDeprecated(fs, &note)
		if old != (note.String() == "meshgate: flag --proxy-labels is deprecated, use --label instead\n") {
			t.Errorf("%v: deprecation note %q", tt.args, note.String())
		}
	}
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	var m map[string]string
	Labels(fs, &m, nil, "labels")
	for _, bad := range []string{"novalue", "=v", "a=b,c"} {
		if err := fs.Parse([]string{"--label", bad}); err == nil || !strings.Contains(err.Error(), "want key=value") {
			t.Errorf("--label %q: %v", bad, err)
		}
	}
}

func TestMisuseIsAProgrammingError(t *testing.T) {
	for name, f := range map[string]func(){
		"not a shared name": func() { String(pflag.NewFlagSet("t", 0), new(string), "xds", "", "") },
		"alias of nothing":  func() { Alias(pflag.NewFlagSet("t", 0), "xds", XDSAddress) },
		"not an old name": func() {
			fs := pflag.NewFlagSet("t", 0)
			String(fs, new(string), XDSAddress, "", "")
			Alias(fs, "xds-addr", XDSAddress)
		},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}

func TestCheckOutputAndLogger(t *testing.T) {
	if err := CheckOutput("yaml", "json", "yaml"); err != nil {
		t.Error(err)
	}
	if err := CheckOutput("xml", "text", "json", "yaml"); err == nil || err.Error() != `--output "xml": want text, json or yaml` {
		t.Errorf("CheckOutput: %v", err)
	}
	if _, err := Logger("loud", "text", &strings.Builder{}); err == nil || err.Error() != `--log-level "loud": want debug, info, warn or error` {
		t.Errorf("Logger level: %v", err)
	}
	if _, err := Logger("info", "xml", &strings.Builder{}); err == nil || err.Error() != `--log-format "xml": want text or json` {
		t.Errorf("Logger format: %v", err)
	}
	var b strings.Builder
	l, err := Logger("warn", "json", &b)
	if err != nil {
		t.Fatal(err)
	}
	l.Info("hidden")
	l.Warn("shown")
	if s := b.String(); strings.Contains(s, "hidden") || !strings.Contains(s, `"msg":"shown"`) {
		t.Errorf("logger at warn, json: %q", s)
	}
}
