package federation

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meshgate/meshgate/identity"
	"github.com/meshgate/meshgate/test/metrictest"
)

func pinCount(t *testing.T, n *tnode, cluster, how string) float64 {
	return metrictest.Sum(t, n.reg, "meshgate_federation_trust_pins_total", map[string]string{"cluster": cluster, "how": how})
}

// A restarted node keeps the pins it took (Config.TrustPinsFile): a record
// of cluster b signed under another CA, arriving before any genuine record
// of b, is rejected instead of being pinned at first contact, and b's
// genuine records are accepted under the persisted pin.
func TestTrustPinsPersistAcrossRestart(t *testing.T) {
	m := newTestMesh(t, time.Minute)
	pins := filepath.Join(t.TempDir(), "trust-pins.json")
	withFile := func(c *Config, _ *Options) { c.TrustPinsFile = pins }
	a := m.start("a", 0, withFile)
	b := m.start("b", 0, nil)
	b.setLocal(t, 1, 2)
	eventually(t, "a has b", func() bool { return revOf(a.remote("b")) == 1 })
	genuine := a.remote("b").TrustBundle
	a.Close()
	saved, err := readPinsFile(pins, "mesh1")
	if err != nil {
		t.Fatal(err)
	}
	if p := saved["b"]; p == nil || !bytes.Equal(p.pem, genuine) || p.how != pinFirstContact || p.origin != "" {
		t.Fatalf("persisted pin of b: %+v", p)
	}

	// a restarts cut off from b: the first record of b it sees is forged
	m.net.partition(true)
	a2 := m.start("a", 1, func(c *Config, o *Options) { withFile(c, o); c.Seeds = []string{b.Addr()} })
	if !bytes.Equal(a2.pinnedBundle("b"), genuine) {
		t.Fatal("the restarted node did not load b's pin")
	}
	evilCA := newCA(t)
	forged := forge(t, withBundle("b", 66, identity.EncodeCertificatesPEM(evilCA.Roots())), "b-forged",
		uint64(time.Now().Add(time.Hour).UnixNano()), authOf(t, evilCA, "b"))
	sendRecord(t, m, forged, a2)
	eventually(t, "a2 rejects the forged first record", func() bool { return rejected(t, a2, ReasonBadSignature) > 0 })
	m.net.partition(false)
	b.setLocal(t, 2, 2)
	eventually(t, "a2 has b's genuine rev 2", func() bool { return revOf(a2.remote("b")) == 2 })
	if !bytes.Equal(a2.pinnedBundle("b"), genuine) {
		t.Error("b's pin changed")
	}
	if n := pinCount(t, a2, "b", pinFirstContact); n != 0 {
		t.Errorf("the restarted node pinned b at first contact %v times", n)
	}
	a2.checkMonotonic(t)
}

// An operator pin (Config.TrustPins, Pin) is the start of a chain: after a
// CA rotation verified under it, a restart with the same operator pin, or
// the same pin set again (a remote secret seen again), keeps the rotated
// bundle; a different operator pin replaces it.
func TestOperatorPinRotatedAndRestarted(t *testing.T) {
	m := newTestMesh(t, time.Minute)
	pins := filepath.Join(t.TempDir(), "trust-pins.json")
	oldPEM := identity.EncodeCertificatesPEM(m.ca("b").Roots())
	operator := func(c *Config, _ *Options) {
		c.TrustPinsFile, c.TrustPins = pins, map[string][]byte{"b": oldPEM}
	}
	authB := m.auth("b")
	a := m.start("a", 0, operator)
	b := m.start("b", 0, func(_ *Config, o *Options) { o.Auth = authB })
	b.setLocal(t, 1, 2)
	eventually(t, "a has b", func() bool { return revOf(a.remote("b")) == 1 })

	nextCA := newCA(t)
	newPEM := identity.EncodeCertificatesPEM(nextCA.Roots())
	if err := b.SetLocal(withBundle("b", 2, slices.Concat(oldPEM, newPEM)), nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a has b rev 2", func() bool { return revOf(a.remote("b")) == 2 })
	if err := authB.Renew(nextCA, "b", time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := b.SetLocal(withBundle("b", 3, newPEM), nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a pins b's new CA", func() bool { return revOf(a.remote("b")) == 3 && bytes.Equal(a.pinnedBundle("b"), newPEM) })
	a.Close()

	a2 := m.start("a", 0, func(c *Config, o *Options) { operator(c, o); c.Seeds = []string{b.Addr()} })
	if !bytes.Equal(a2.pinnedBundle("b"), newPEM) {
		t.Fatal("the operator pin the rotation started from replaced the rotated pin at restart")
	}
	if err := a2.Pin("b", oldPEM); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a2.pinnedBundle("b"), newPEM) {
		t.Fatal("pinning the same operator bundle again undid the rotation")
	}
	b.setLocal(t, 4, 2)
	eventually(t, "a2 has b rev 4 under the new CA", func() bool { return revOf(a2.remote("b")) == 4 })
	if n := rejected(t, a2, ReasonBadSignature); n != 0 {
		t.Errorf("%v records rejected", n)
	}

	// a new operator decision wins over the persisted pin
	a2.Close()
	otherPEM := identity.EncodeCertificatesPEM(newCA(t).Roots())
	cfg := m.testConfig("a")
	cfg.TrustPinsFile, cfg.TrustPins = pins, map[string][]byte{"b": otherPEM}
	n, err := New(cfg, Options{Logger: testLogger(), Auth: m.auth("a")})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(n.pinnedBundle("b"), otherPEM) {
		t.Fatal("a changed operator pin did not replace the persisted pin")
	}
	saved, err := readPinsFile(pins, "mesh1")
	if err != nil {
		t.Fatal(err)
	}
	if p := saved["b"]; p == nil || !bytes.Equal(p.pem, otherPEM) || p.how != pinOperator || p.origin != bundleSum(otherPEM) {
		t.Fatalf("persisted pin of b after the new operator pin: %+v", p)
	}
}

// A pins file that cannot be trusted stops New with an error naming the
// file and the field; a missing file holds no pins.
func TestTrustPinsFileRefused(t *testing.T) {
	m := newTestMesh(t, time.Minute)
	pem := string(identity.EncodeCertificatesPEM(m.ca("b").Roots()))
	quoted := strings.ReplaceAll(pem, "\n", `\n`)
	for name, tc := range map[string]struct{ content, field string }{
		"not JSON":       {"pins: b", "(file)"},
		"old version":    {`{"version": 0, "mesh": "mesh1"}`, "version"},
		"another mesh":   {`{"version": 1, "mesh": "mesh2"}`, "mesh"},
		"bad cluster id": {`{"version": 1, "mesh": "mesh1", "pins": {"b c": {"how": "operator", "bundle": "` + quoted + `"}}}`, `pins["b c"]`},
		"unknown how":    {`{"version": 1, "mesh": "mesh1", "pins": {"b": {"how": "guess", "bundle": "` + quoted + `"}}}`, `pins["b"].how`},
		"no PEM":         {`{"version": 1, "mesh": "mesh1", "pins": {"b": {"how": "operator", "bundle": "x"}}}`, `pins["b"].bundle`},
	} {
		t.Run(name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "pins.json")
			if err := os.WriteFile(file, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg := m.testConfig("a")
			cfg.TrustPinsFile = file
			_, err := New(cfg, Options{Logger: testLogger(), Auth: m.auth("a")})
			if err == nil || !strings.Contains(err.Error(), file) || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("New: %v; want an error naming %s and %s", err, file, tc.field)
			}
		})
	}
	cfg := m.testConfig("a")
	cfg.TrustPinsFile = filepath.Join(t.TempDir(), "absent.json")
	n, err := New(cfg, Options{Logger: testLogger(), Auth: m.auth("a")})
	if err != nil || len(n.pins) != 0 {
		t.Fatalf("a missing pins file: %v, %d pins", err, len(n.pins))
	}
}
