//go:build e2e

package meshlab

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func TestRunFlagsMissing(t *testing.T) {
	c := Capabilities{RunFlags: `Flags:
      --admit-cluster strings      clusters admitted by id
      --join strings               gossip seeds
      --join-timeout duration      (a longer flag sharing a prefix)
  -h, --help                       help for run
`}
	for flag, want := range map[string]bool{"join": true, "admit-cluster": true, "help": true, "admit": false, "join-t": false, "cacerts": false} {
		if got := c.HasRunFlag(flag); got != want {
			t.Errorf("HasRunFlag(%q) = %v, want %v", flag, got, want)
		}
	}
	got := c.RunFlagsMissing([]string{"--join", "10.0.0.1:7946", "--cacerts", "/x", "--admit-cluster=a,b", "--fail-static-window", "20s"})
	if want := []string{"--cacerts", "--fail-static-window"}; !slices.Equal(got, want) {
		t.Errorf("RunFlagsMissing = %v, want %v", got, want)
	}
}

// TestPreviousReleaseNamed: the file names one full commit hash.
func TestPreviousReleaseNamed(t *testing.T) {
	c, err := PreviousRelease()
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[0-9a-f]{40}$`).MatchString(c) {
		t.Errorf("%s names %q, want a full commit hash", PreviousReleaseFile, c)
	}
}

// TestBuildReleaseWithoutHistory: a commit the checkout does not have is an
// error that says so (and how to go on), never a skip.
func TestBuildReleaseWithoutHistory(t *testing.T) {
	t.Setenv(EnvPreviousBinary, "")
	_, err := BuildRelease(context.Background(), "0123456789abcdef0123456789abcdef01234567")
	if err == nil || !strings.Contains(err.Error(), "not in this checkout's git history") || !strings.Contains(err.Error(), EnvPreviousBinary) {
		t.Fatalf("BuildRelease of an unknown commit: %v", err)
	}
}
