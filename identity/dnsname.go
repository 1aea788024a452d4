package identity

import (
	"fmt"
	"strings"
)

// ValidateDNSName checks a DNS name for a certificate's SAN: RFC 1123 host
// names (labels of 1 to 63 letters, digits and hyphens, not starting or
// ending with a hyphen; 253 characters at most; no trailing dot), where the
// leftmost label may be the wildcard "*" (RFC 6125: *.example.com).
func ValidateDNSName(name string) error {
	if name == "" {
		return fmt.Errorf("DNS name is empty")
	}
	if len(name) > 253 {
		return fmt.Errorf("DNS name %q: longer than 253 characters", name)
	}
	labels := strings.Split(name, ".")
	for i, l := range labels {
		if i == 0 && l == "*" && len(labels) > 1 {
			continue
		}
		if err := checkLabel(l); err != nil {
			return fmt.Errorf("DNS name %q: label %q: %s (RFC 1123; only the leftmost label may be *)", name, l, err)
		}
	}
	return nil
}

func checkLabel(l string) error {
	switch {
	case l == "":
		return fmt.Errorf("empty")
	case len(l) > 63:
		return fmt.Errorf("longer than 63 characters")
	case l[0] == '-' || l[len(l)-1] == '-':
		return fmt.Errorf("starts or ends with a hyphen")
	}
	for _, c := range l {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return fmt.Errorf("character %q is not a letter, digit or hyphen", c)
		}
	}
	return nil
}
