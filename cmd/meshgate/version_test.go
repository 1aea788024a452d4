package main

import (
	"encoding/json"
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersion(t *testing.T) {
	bi := &debug.BuildInfo{
		GoVersion: "go1.26.8",
		Main:      debug.Module{Path: "github.com/meshgate/meshgate", Version: "v0.4.0"},
		Deps: []*debug.Module{
			{Path: "github.com/spf13/cobra", Version: "v1.10.2"},
			{Path: "istio.io/api", Version: "v1.32.0"},
		},
		Settings: []debug.BuildSetting{
			{Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: "294461a0c0ffee"},
			{Key: "vcs.time", Value: "2026-12-02T16:00:00Z"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	var text strings.Builder
	if err := readVersion(bi, true).write(&text, "text"); err != nil {
		t.Fatal(err)
	}
	want := "meshgate v0.4.0\ncommit:    294461a0c0ffee (modified), 2026-12-02T16:00:00Z\ngo:        go1.26.8\nistio api: v1.32.0\n"
	if text.String() != want {
		t.Errorf("text:\n%s\nwant\n%s", text.String(), want)
	}
	var js strings.Builder
	if err := readVersion(bi, true).write(&js, "json"); err != nil {
		t.Fatal(err)
	}
	var v versionInfo
	if err := json.Unmarshal([]byte(js.String()), &v); err != nil {
		t.Fatal(err)
	}
	if v != (versionInfo{Version: "v0.4.0", Commit: "294461a0c0ffee", CommitTime: "2026-12-02T16:00:00Z", Modified: true, GoVersion: "go1.26.8", IstioAPI: "v1.32.0"}) {
		t.Errorf("json: %+v", v)
	}
	// A replaced istio.io/api reports the replacement; no build info says so.
	bi.Deps[1].Replace = &debug.Module{Path: "../api", Version: "v1.33.0-dev"}
	if got := readVersion(bi, true).IstioAPI; got != "v1.33.0-dev" {
		t.Errorf("replaced istio.io/api: %q", got)
	}
	if got := readVersion(nil, false); got.Version != "unknown" || got.IstioAPI != "unknown" {
		t.Errorf("no build info: %+v", got)
	}

	// The command itself, from this test binary's build information.
	stdout, stderr, code := runCLI(t, "", "version")
	if code != 0 || stderr != "" || !strings.HasPrefix(stdout, "meshgate ") || !strings.Contains(stdout, "istio api: v1.") || !strings.Contains(stdout, "go:        go1.") {
		t.Errorf("meshgate version: exit %d, stderr %q, stdout:\n%s", code, stderr, stdout)
	}
}
