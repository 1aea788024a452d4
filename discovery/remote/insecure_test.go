package remote

import (
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/meshgate/meshgate/test/logtest"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshgate/meshgate/test/metrictest"
)

// insecureCases are kubeconfigs that would send the token where it can be
// read or redirected, each with the field the refusal must name.
var insecureCases = []struct{ name, kubeconfig, field string }{
	{"http server", strings.Replace(goodKubeconfig, "https://10.0.0.2:6443", "http://10.0.0.2:6443", 1),
		"clusters[b].cluster.server"},
	{"insecure-skip-tls-verify", strings.Replace(goodKubeconfig, "certificate-authority-data: "+testCAB64, "insecure-skip-tls-verify: true", 1),
		"clusters[b].cluster.insecure-skip-tls-verify"},
	{"proxy-url", strings.Replace(goodKubeconfig, "    server: https://10.0.0.2:6443\n", "    server: https://10.0.0.2:6443\n    proxy-url: http://10.9.9.9:3128\n", 1),
		"clusters[b].cluster.proxy-url"},
	{"https without CA data", strings.Replace(goodKubeconfig, "    certificate-authority-data: "+testCAB64+"\n", "", 1),
		"clusters[b].cluster.certificate-authority-data"},
	{"another cluster of the file", strings.Replace(goodKubeconfig, "contexts:\n", "- name: other\n  cluster: {server: \"http://10.0.0.3\"}\ncontexts:\n", 1),
		"clusters[other].cluster.server"},
}

// Each insecure field is refused by default with an error naming the
// secret, the key and the field (never the token), reason insecure; an
// explicit AllowInsecure admits it and names the field in Cluster.Insecure.
func TestInsecureKubeconfigRefused(t *testing.T) {
	for _, tt := range insecureCases {
		t.Run(tt.name, func(t *testing.T) {
			s := remoteSecret("istio-remote-secret-b", map[string]string{"b": tt.kubeconfig})
			cs, errs := ClustersFromSecret(s)
			if len(cs) != 0 || len(errs) != 1 {
				t.Fatalf("strict: clusters %v, errors %v", cs, errs)
			}
			checkErr(t, errs[0], tt.field)
			var ke *KubeconfigError
			if errors.As(errs[0], &ke) && ke.Reason != ReasonInsecure {
				t.Errorf("reason %q, want %q", ke.Reason, ReasonInsecure)
			}
			if !strings.Contains(errs[0].Error(), "--allow-insecure-remote") {
				t.Errorf("the error does not say how to allow it: %v", errs[0])
			}
			cs, errs = Policy{AllowInsecure: true}.ClustersFromSecret(s)
			if len(errs) != 0 || len(cs) != 1 || cs[0].ID != "b" {
				t.Fatalf("allowed: clusters %v, errors %v", cs, errs)
			}
			if !slices.Equal(cs[0].Insecure, []string{tt.field}) {
				t.Errorf("Insecure = %q, want [%s]", cs[0].Insecure, tt.field)
			}
		})
	}
	// the join path: ValidateRemoteSecret is strict; a Policy admits
	s := remoteSecret("istio-remote-secret-b", map[string]string{"b": insecureCases[0].kubeconfig})
	s.Annotations = map[string]string{AnnotationCluster: "b"}
	if _, err := ValidateRemoteSecret(s); err == nil || !strings.Contains(err.Error(), "clusters[b].cluster.server") {
		t.Errorf("ValidateRemoteSecret: %v", err)
	}
	if cl, err := (Policy{AllowInsecure: true}).ValidateRemoteSecret(s); err != nil || len(cl.Insecure) != 1 {
		t.Errorf("ValidateRemoteSecret allowed: %+v, %v", cl.Insecure, err)
	}
	// a safe kubeconfig has nothing to warn about
	if cs, errs := (Policy{AllowInsecure: true}).ClustersFromSecret(remoteSecret("istio-remote-secret-b", map[string]string{"b": goodKubeconfig})); len(errs) != 0 || len(cs[0].Insecure) != 0 {
		t.Errorf("safe kubeconfig: %v %v", cs, errs)
	}
}

// AllowInsecure never admits what runs commands or reads files; an unsafe
// field outranks an insecure one in the error's reason.
func TestAllowInsecureKeepsUnsafeRefused(t *testing.T) {
	kc := insecureCases[0].kubeconfig + "    tokenFile: /var/run/secrets/token\n"
	_, errs := Policy{AllowInsecure: true}.ClustersFromSecret(remoteSecret("istio-remote-secret-b", map[string]string{"b": kc}))
	if len(errs) != 1 {
		t.Fatalf("errors %v", errs)
	}
	checkErr(t, errs[0], "users[b].user.tokenFile")
	_, errs = ClustersFromSecret(remoteSecret("istio-remote-secret-b", map[string]string{"b": kc}))
	var ke *KubeconfigError
	if len(errs) != 1 || !errors.As(errs[0], &ke) || ke.Reason != ReasonUnsafe ||
		!strings.Contains(ke.Msg, "clusters[b].cluster.server") {
		t.Errorf("strict, unsafe and insecure: %v (%#v)", errs, ke)
	}
}

// The controller refuses insecure keys (counted by reason) unless
// AllowInsecure, which admits each with a warning naming the fields, and
// a count.
func TestControllerInsecureSecrets(t *testing.T) {
	for _, allow := range []bool{false, true} {
		var logs logtest.Buffer
		reg := prometheus.NewRegistry()
		c, err := NewController(Config{LocalClusterID: "a", AllowInsecure: allow}, Options{Registerer: reg,
			Logger:  slog.New(slog.NewTextHandler(&logs, nil)),
			Publish: newSink().publish, Remove: newSink().remove})
		if err != nil {
			t.Fatal(err)
		}
		for _, tt := range insecureCases {
			err := c.SetSecret(SourceKubernetes, remoteSecret("istio-remote-secret-"+strings.ReplaceAll(tt.name, " ", "-"), map[string]string{"b": tt.kubeconfig}))
			if (err == nil) != allow {
				t.Errorf("allow %v, %s: SetSecret error %v", allow, tt.name, err)
			}
		}
		n := float64(len(insecureCases))
		rejected := metrictest.Sum(t, reg, "meshgate_remote_secret_rejections_total", map[string]string{"source": "kubernetes", "reason": ReasonInsecure})
		admitted := metrictest.Sum(t, reg, "meshgate_remote_secret_insecure_admitted_total", map[string]string{"source": "kubernetes"})
		out := logs.String()
		if allow {
			if rejected != 0 || admitted != n || len(c.SecretErrors()) != 0 {
				t.Errorf("allowed: rejected %v, admitted %v, errors %v", rejected, admitted, c.SecretErrors())
			}
			for _, tt := range insecureCases {
				if !strings.Contains(out, "admitting an insecure remote secret key") || !strings.Contains(out, tt.field) {
					t.Errorf("no warning naming %s:\n%s", tt.field, out)
				}
			}
		} else if rejected != n || admitted != 0 || len(c.SecretErrors()) != len(insecureCases) {
			t.Errorf("strict: rejected %v, admitted %v, errors %d", rejected, admitted, len(c.SecretErrors()))
		}
		if strings.Contains(out, testToken) {
			t.Errorf("the log leaks the token:\n%s", out)
		}
	}
}
