package federation

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/meshgate/meshgate/identity"
)

// KeySize is the gossip key length: AES-256.
const KeySize = 32

// GenerateKey returns a new random gossip key, base64-encoded (the format of
// keyring files and of `meshgate keyring generate`).
func GenerateKey() (string, error) {
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		return "", fmt.Errorf("generate key: %w", err)
	}
	return base64.StdEncoding.EncodeToString(k), nil
}

// ParseKey decodes a base64 gossip key. Errors never contain the input.
func ParseKey(s string) ([]byte, error) {
	k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, errors.New("key is not valid base64")
	}
	if len(k) != KeySize {
		return nil, fmt.Errorf("key is %d bytes, want %d (AES-256)", len(k), KeySize)
	}
	return k, nil
}

// Fingerprint names a key without revealing it: the first 8 hex digits of
// its SHA-256.
func Fingerprint(key []byte) string {
	sum := sha256.Sum256(key)
	return hex.EncodeToString(sum[:4])
}

// LoadKeyringFile reads a keyring file: one base64 key a line, the primary
// first; blank lines and lines starting with # are skipped. Errors name the
// file and line, never the key.
func LoadKeyringFile(path string) ([][]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("keyring file: %w", err)
	}
	var keys [][]byte
	sc := bufio.NewScanner(bytes.NewReader(data))
	for line := 1; sc.Scan(); line++ {
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		k, err := ParseKey(s)
		if err != nil {
			return nil, fmt.Errorf("keyring file %s: line %d: %w", path, line, err)
		}
		for _, old := range keys {
			if bytes.Equal(old, k) {
				return nil, fmt.Errorf("keyring file %s: line %d: duplicate key %s", path, line, Fingerprint(k))
			}
		}
		keys = append(keys, k)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("keyring file %s: %w", path, err)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("keyring file %s: no key", path)
	}
	return keys, nil
}

// writeKeyringFile replaces path atomically with keys (mode 0600).
func writeKeyringFile(path string, keys [][]byte) error {
	var buf bytes.Buffer
	buf.WriteString("# meshgate gossip keyring: base64 AES-256 keys, the primary first\n")
	for _, k := range keys {
		buf.WriteString(base64.StdEncoding.EncodeToString(k))
		buf.WriteByte('\n')
	}
	return identity.ReplaceFile(path, buf.Bytes(), 0o600)
}

// KeyInfo describes one installed key by fingerprint.
type KeyInfo struct {
	Fingerprint string `json:"fingerprint"`
	Primary     bool   `json:"primary"`
}

// PersistError reports a keyring change that took effect in memory but could
// not be written to the keyring file (a read-only Secret mount, say): the
// change is lost at the next restart unless the file is updated.
type PersistError struct{ Err error }

func (e *PersistError) Error() string {
	return "keyring changed in memory, but the keyring file was not updated: " + e.Err.Error()
}
func (e *PersistError) Unwrap() error { return e.Err }

// ErrInsecure is returned by keyring operations on a Node without encryption.
var ErrInsecure = errors.New("gossip encryption is off (insecure mode): no keyring")

// Keys lists the installed keys, the primary first.
func (n *Node) Keys() ([]KeyInfo, error) {
	if n.keyring == nil {
		return nil, ErrInsecure
	}
	n.keyMu.Lock()
	defer n.keyMu.Unlock()
	keys := n.keyring.GetKeys()
	out := make([]KeyInfo, len(keys))
	for i, k := range keys {
		out[i] = KeyInfo{Fingerprint: Fingerprint(k), Primary: i == 0}
	}
	return out, nil
}

// InstallKey adds a key for decryption (step 1 of a rotation: install the
// new key on every daemon). Installing an installed key does nothing.
func (n *Node) InstallKey(key []byte) error {
	return n.keyOp("install", key, func() error { return n.keyring.AddKey(key) })
}

// UseKey makes an installed key the primary, used to encrypt (step 2, once
// every daemon has it).
func (n *Node) UseKey(key []byte) error {
	return n.keyOp("use", key, func() error { return n.keyring.UseKey(key) })
}

// RemoveKey removes a key that is not the primary (step 3, once every daemon
// uses the new key).
func (n *Node) RemoveKey(key []byte) error {
	return n.keyOp("remove", key, func() error {
		if !n.hasKey(key) {
			return fmt.Errorf("key %s is not installed", Fingerprint(key))
		}
		return n.keyring.RemoveKey(key)
	})
}

func (n *Node) hasKey(key []byte) bool {
	for _, k := range n.keyring.GetKeys() {
		if bytes.Equal(k, key) {
			return true
		}
	}
	return false
}

// KeyByFingerprint returns the installed key with that fingerprint.
func (n *Node) KeyByFingerprint(fp string) ([]byte, error) {
	if n.keyring == nil {
		return nil, ErrInsecure
	}
	n.keyMu.Lock()
	defer n.keyMu.Unlock()
	var found []byte
	for _, k := range n.keyring.GetKeys() {
		if Fingerprint(k) == fp {
			if found != nil {
				return nil, fmt.Errorf("fingerprint %s is ambiguous: give the key", fp)
			}
			found = bytes.Clone(k)
		}
	}
	if found == nil {
		return nil, fmt.Errorf("no installed key has fingerprint %q", fp)
	}
	return found, nil
}

func (n *Node) keyOp(op string, key []byte, apply func() error) error {
	if n.keyring == nil {
		return ErrInsecure
	}
	if len(key) != KeySize {
		return fmt.Errorf("keyring %s: key is %d bytes, want %d (AES-256)", op, len(key), KeySize)
	}
	n.keyMu.Lock()
	defer n.keyMu.Unlock()
	if err := apply(); err != nil {
		return fmt.Errorf("keyring %s %s: %w", op, Fingerprint(key), err)
	}
	n.met.keyOps.WithLabelValues(op).Inc()
	n.log.Info("gossip keyring changed", "op", op, "key", Fingerprint(key), "keys", len(n.keyring.GetKeys()))
	if n.cfg.KeyringFile == "" {
		return nil
	}
	if err := writeKeyringFile(n.cfg.KeyringFile, n.keyring.GetKeys()); err != nil {
		n.log.Warn("gossip keyring file not updated", "op", op, "file", n.cfg.KeyringFile, "err", err)
		return &PersistError{Err: err}
	}
	return nil
}
