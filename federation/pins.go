package federation

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/meshgate/meshgate/federation/wire"
	"github.com/meshgate/meshgate/identity"
)

// pinsFileVersion is the version of the trust pins file format.
const pinsFileVersion = 1

// pinsFile is the trust pins file (Config.TrustPinsFile): the bundle each
// remote cluster's records must verify under, as this node pinned it.
type pinsFile struct {
	Version int                      `json:"version"`
	Mesh    string                   `json:"mesh"`
	Pins    map[string]pinsFileEntry `json:"pins"`
}

type pinsFileEntry struct {
	// How is how the bundle was first pinned or last replaced
	// (first_contact, rotation, operator).
	How string `json:"how"`
	// Origin is the hex SHA-256 of the operator pin this one descends from
	// (the pin itself, or the bundle it was rotated from by verified
	// records); empty for a pin taken at first contact.
	Origin string `json:"origin,omitempty"`
	Bundle string `json:"bundle"` // PEM
}

// bundleSum names an operator's bundle in a pin's origin.
func bundleSum(bundle []byte) string {
	sum := sha256.Sum256(bundle)
	return hex.EncodeToString(sum[:])
}

// loadPins fills n.pins (in New, before anything runs): the pins file's
// pins first, then the operator's Config.TrustPins. An operator pin whose
// bundle is the origin of the persisted pin does not replace it (the
// cluster rotated its CA since, by records verified under that pin); any
// other operator pin replaces the persisted one.
func (n *Node) loadPins() error {
	if n.cfg.TrustPinsFile != "" {
		pins, err := readPinsFile(n.cfg.TrustPinsFile, n.cfg.MeshID)
		if err != nil {
			return err
		}
		n.pins = pins
	}
	changed := false
	for _, c := range sortedKeys(n.cfg.TrustPins) {
		b, sum := n.cfg.TrustPins[c], bundleSum(n.cfg.TrustPins[c])
		if p := n.pins[c]; p != nil && p.origin == sum {
			continue
		}
		n.pins[c] = &trustPin{pem: bytes.Clone(b), how: pinOperator, origin: sum}
		changed = true
	}
	if len(n.pins) > 0 {
		n.log.Info("trust pins loaded", "pins", len(n.pins), "file", n.cfg.TrustPinsFile, "operator", len(n.cfg.TrustPins))
	}
	if changed {
		n.savePinsLocked()
	}
	return nil
}

// readPinsFile reads a trust pins file; a missing file holds no pins.
// Errors name the file and the field.
func readPinsFile(path, mesh string) (map[string]*trustPin, error) {
	pins := map[string]*trustPin{}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return pins, nil
	}
	if err != nil {
		return nil, fmt.Errorf("federation: trust pins file: %w", err)
	}
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("federation: trust pins file %s: %s: %s (fix or remove the file: its pins are then taken again at first contact)",
			path, field, fmt.Sprintf(format, args...))
	}
	var f pinsFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, bad("(file)", "not a trust pins file: %v", err)
	}
	if f.Version != pinsFileVersion {
		return nil, bad("version", "%d, want %d", f.Version, pinsFileVersion)
	}
	if f.Mesh != mesh {
		return nil, bad("mesh", "%q, but this daemon is in mesh %q", f.Mesh, mesh)
	}
	for _, c := range sortedKeys(f.Pins) {
		e := f.Pins[c]
		field := fmt.Sprintf("pins[%q]", c)
		if err := wire.CheckName(c); err != nil {
			return nil, bad(field, "cluster id: %v", err)
		}
		switch e.How {
		case pinFirstContact, pinRotation, pinOperator:
		default:
			return nil, bad(field+".how", "%q: want %s, %s or %s", e.How, pinFirstContact, pinRotation, pinOperator)
		}
		if _, err := identity.ParseCertificatesPEM([]byte(e.Bundle)); err != nil {
			return nil, bad(field+".bundle", "%v", err)
		}
		pins[c] = &trustPin{pem: []byte(e.Bundle), how: e.How, origin: e.Origin}
	}
	return pins, nil
}

// savePinsLocked rewrites the trust pins file, if any, with n.pins (n.pinMu
// held, or in New). A failure is logged and counted: the pins stay in
// memory, and after a restart the ones not written are taken again at first
// contact.
func (n *Node) savePinsLocked() {
	if n.cfg.TrustPinsFile == "" {
		return
	}
	f := pinsFile{Version: pinsFileVersion, Mesh: n.cfg.MeshID, Pins: make(map[string]pinsFileEntry, len(n.pins))}
	for c, p := range n.pins {
		f.Pins[c] = pinsFileEntry{How: p.how, Origin: p.origin, Bundle: string(p.pem)}
	}
	data, err := json.MarshalIndent(f, "", "  ") // map keys sorted: same pins, same file
	if err == nil {
		err = identity.ReplaceFile(n.cfg.TrustPinsFile, append(data, '\n'), 0o600)
	}
	if err != nil {
		n.met.pinSaveErrors.Inc()
		n.log.Error("trust pins file not updated: after a restart these pins are taken again at first contact",
			"file", n.cfg.TrustPinsFile, "err", err)
	}
}
