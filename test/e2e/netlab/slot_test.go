package netlab

import "testing"

// TestOwnedBy pins which names a sweep removes: a slot's own labs and
// nothing of another slot (mge2e1 must not take mge2e10's names) or of
// anyone else.
func TestOwnedBy(t *testing.T) {
	for _, tc := range []struct {
		name, prefix string
		want         bool
	}{
		{"mge2e1a-n1", "mge2e1", true},
		{"mge2e1a-rt", "mge2e1", true},
		{"mge2e1z-h", "mge2e1", true},
		{"mge2e1a-n1", "mge2e1a", true},
		{"mge2e1b-n1", "mge2e1a", false},
		{"mge2e10a-n1", "mge2e1", false},
		{"mge2e1", "mge2e1", false},
		{"mge2e1a", "mge2e1", false},
		{"kubetest-42", "mge2e1", false},
		{"eth0", "mge2e1", false},
		{"xmge2e1a-n1", "mge2e1", false},
	} {
		if got := ownedBy(tc.name, tc.prefix); got != tc.want {
			t.Errorf("ownedBy(%q, %q) = %v, want %v", tc.name, tc.prefix, got, tc.want)
		}
	}
}
