package remote

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// Remote secrets handed over by federation (cluster id → remote secret
// YAML): valid ones start clusters, invalid ones are reported; a secret of
// the daemon's own namespace for the same cluster takes precedence; the
// complete set replaces the previous one. No API server is needed: the
// clusters point at a closed port and never sync.
func TestReplaceFederated(t *testing.T) {
	ctl, sink := runController(t, Config{LocalClusterID: "cluster-a"}, Options{}, nil)
	closed := func(id, token string) []byte {
		s, err := BuildRemoteSecret(id, "istio-system", "https://127.0.0.1:1", decodeB64(t, testCAB64), token)
		if err != nil {
			t.Fatal(err)
		}
		out, err := MarshalSecret(s)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	err := ctl.ReplaceFederated(map[string][]byte{
		"cluster-b": closed("cluster-b", "tb"),
		"cluster-c": closed("cluster-x", "tc"), // names another cluster
		"cluster-d": []byte("not yaml: ["),
		"cluster-a": closed("cluster-a", "ta"), // the daemon's own cluster
	})
	if err == nil || !strings.Contains(err.Error(), "cluster cluster-c") || !strings.Contains(err.Error(), "cluster cluster-d") {
		t.Errorf("errors = %v", err)
	}
	ids := func() string {
		var out []string
		for _, st := range ctl.Statuses() {
			out = append(out, fmt.Sprintf("%s:%s", st.Cluster, st.Source))
		}
		return strings.Join(out, ",")
	}
	waitFor(t, "cluster-b from federation", func() string {
		if got := ids(); got != "cluster-b:federation" {
			return fmt.Sprintf("clusters %q", got)
		}
		return ""
	})

	// the same cluster from the daemon's namespace wins
	local, err := ReadRemoteSecret(closed("cluster-b", "local-token"))
	if err != nil {
		t.Fatal(err)
	}
	if err := ctl.SetSecret(SourceKubernetes, local); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "cluster-b from kubernetes", func() string {
		if got := ids(); got != "cluster-b:kubernetes" {
			return fmt.Sprintf("clusters %q", got)
		}
		return ""
	})
	if err := ctl.ReplaceFederated(nil); err != nil {
		t.Fatal(err)
	}
	ctl.DeleteSecret(SourceKubernetes, "istio-system", "istio-remote-secret-cluster-b")
	waitFor(t, "cluster-b removed", func() string {
		sink.mu.Lock()
		defer sink.mu.Unlock()
		if got := ids(); got != "" || !slices.Contains(sink.removed, "cluster-b") {
			return fmt.Sprintf("clusters %q, removed %v", got, sink.removed)
		}
		return ""
	})
	if !ctl.Ready() {
		t.Error("not ready with no remote cluster")
	}
}
