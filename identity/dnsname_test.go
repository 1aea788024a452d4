package identity

import (
	"strings"
	"testing"
)

func TestValidateDNSName(t *testing.T) {
	for _, ok := range []string{"a", "example.com", "meshgate.istio-system.svc", "*.example.com", "xn--bcher-kva.example", "A1-b.c", strings.Repeat("a", 63) + ".com"} {
		if err := ValidateDNSName(ok); err != nil {
			t.Errorf("ValidateDNSName(%q) = %v, want nil", ok, err)
		}
	}
	for bad, want := range map[string]string{
		"":                              "empty",
		"bad name!":                     `label "bad name!": character ' '`,
		"*":                             `label "*": character '*'`,
		"a.*.com":                       `label "*"`,
		"*.*.com":                       `label "*"`,
		"-a.com":                        "hyphen",
		"a-.com":                        "hyphen",
		"a..com":                        `label "": empty`,
		"example.com.":                  `label "": empty`,
		"a_b.com":                       `character '_'`,
		strings.Repeat("a", 64) + ".c":  "longer than 63",
		strings.Repeat("a.", 127) + "a": "longer than 253",
	} {
		err := ValidateDNSName(bad)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ValidateDNSName(%q) = %v, want an error containing %q", bad, err, want)
		}
	}
}
