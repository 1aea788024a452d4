package main

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/meshgate/meshgate/cmd/internal/cliflag"
)

func init() { register(newVersionCmd) }

// versionInfo is what `meshgate version` prints, from the binary's build
// information (runtime/debug.ReadBuildInfo).
type versionInfo struct {
	// Version is the module version: a tag, a pseudo-version, or "(devel)"
	// for a build from a checkout.
	Version string `json:"version"`
	// Commit and CommitTime are the VCS revision the binary was built
	// from; Modified says the checkout had uncommitted changes.
	Commit     string `json:"commit,omitempty"`
	CommitTime string `json:"commitTime,omitempty"`
	Modified   bool   `json:"modified,omitempty"`
	// GoVersion built the binary.
	GoVersion string `json:"goVersion"`
	// IstioAPI is the version of istio.io/api compiled in: the Istio
	// configuration API meshgate reads.
	IstioAPI string `json:"istioAPI"`
}

func readVersion(bi *debug.BuildInfo, ok bool) versionInfo {
	v := versionInfo{Version: "unknown", GoVersion: "unknown", IstioAPI: "unknown"}
	if !ok || bi == nil {
		return v
	}
	v.Version, v.GoVersion = bi.Main.Version, bi.GoVersion
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Commit = s.Value
		case "vcs.time":
			v.CommitTime = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	for _, d := range bi.Deps {
		if d.Path == "istio.io/api" {
			v.IstioAPI = d.Version
			if d.Replace != nil {
				v.IstioAPI = d.Replace.Version
			}
		}
	}
	return v
}

func (v versionInfo) write(w io.Writer, output string) error {
	if output == "json" {
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	commit := v.Commit
	switch {
	case commit == "":
		commit = "unknown (built without VCS information)"
	case v.Modified:
		commit += " (modified)"
	}
	if v.CommitTime != "" {
		commit += ", " + v.CommitTime
	}
	_, err := fmt.Fprintf(w, "meshgate %s\ncommit:    %s\ngo:        %s\nistio api: %s\n", v.Version, commit, v.GoVersion, v.IstioAPI)
	return err
}

func newVersionCmd() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "version [-o text|json]",
		Short: "Print meshgate's version, commit, Go version and Istio API version",
		Long: `Print the version of this meshgate binary from its build information: the module
version ("(devel)" when built from a checkout), the commit it was built from (with
"(modified)" when the checkout had uncommitted changes), the Go version that built it,
and the version of istio.io/api compiled in (the Istio configuration API it reads).`,
		Example: `  meshgate version
  meshgate version -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := cliflag.CheckOutput(output, "text", "json"); err != nil {
				return rejected(err)
			}
			if err := readVersion(debug.ReadBuildInfo()).write(cmd.OutOrStdout(), output); err != nil {
				return failed(err)
			}
			return nil
		},
	}
	cliflag.OutputFlag(cmd.Flags(), &output, "text", "json")
	return cmd
}
