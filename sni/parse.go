package sni

import (
	"strconv"
	"strings"
)

// Form says which encoding a string uses.
type Form int

const (
	// FormSNI is outbound_.<port>_.<subset>_.<host>.
	FormSNI Form = iota + 1
	// FormCluster is outbound|<port>|<subset>|<host>.
	FormCluster
)

// String returns "SNI" or "cluster name".
func (f Form) String() string {
	switch f {
	case FormSNI:
		return "SNI"
	case FormCluster:
		return "cluster name"
	default:
		return "unknown form"
	}
}

// maxQuoted bounds how much of a bad input an error message repeats.
const maxQuoted = 96

// FieldError says which part of a name is wrong and why.
type FieldError struct {
	// Field is "direction", "port", "subset", "host", "name" or "format".
	Field string
	// Value is the offending part (shortened when very long).
	Value string
	// Reason explains the rule that was broken.
	Reason string
}

func (e *FieldError) Error() string {
	if e.Value == "" {
		return e.Field + ": " + e.Reason
	}
	return e.Field + " " + strconv.Quote(shorten(e.Value)) + ": " + e.Reason
}

// ParseError is returned by Parse, ParseClusterName and ParseAny.
type ParseError struct {
	// Form is the encoding the input was read as.
	Form Form
	// Input is the rejected string (shortened when very long).
	Input string
	// Err is the underlying *FieldError.
	Err error
}

func (e *ParseError) Error() string {
	return "invalid " + e.Form.String() + " " + strconv.Quote(e.Input) + ": " + e.Err.Error()
}

func (e *ParseError) Unwrap() error { return e.Err }

func shorten(s string) string {
	if len(s) <= maxQuoted {
		return s
	}
	return s[:maxQuoted] + "..."
}

func parseErr(f Form, input string, err error) error {
	return &ParseError{Form: f, Input: shorten(input), Err: err}
}

// Parse reads an SNI of the form outbound_.<port>_.<subset>_.<host>. It is the
// checked inverse of Name.SNI: it returns an error naming the bad field for any
// input that SNI would not produce from a Name accepted by Validate.
func Parse(s string) (Name, error) {
	if len(s) > MaxNameLength {
		return Name{}, parseErr(FormSNI, s, tooLong(len(s)))
	}
	rest, ok := strings.CutPrefix(s, sniPrefix)
	if !ok {
		return Name{}, parseErr(FormSNI, s, badPrefix(s, sniPrefix))
	}
	portStr, rest, ok := strings.Cut(rest, sniSep)
	if !ok {
		return Name{}, parseErr(FormSNI, s, &FieldError{Field: "format", Reason: `missing "_." after the port`})
	}
	port, err := parsePort(portStr)
	if err != nil {
		return Name{}, parseErr(FormSNI, s, err)
	}
	subset, host, ok := strings.Cut(rest, sniSep)
	if !ok {
		return Name{}, parseErr(FormSNI, s, &FieldError{Field: "format", Reason: `missing "_." after the subset`})
	}
	n := Name{Port: port, Subset: subset, Host: host}
	if err := n.Validate(); err != nil {
		return Name{}, parseErr(FormSNI, s, err)
	}
	return n, nil
}

// ParseClusterName reads a cluster name of the form
// outbound|<port>|<subset>|<host>. It is the checked inverse of
// Name.ClusterName, accepting exactly what ValidateCluster accepts.
func ParseClusterName(s string) (Name, error) {
	if len(s) > MaxNameLength {
		return Name{}, parseErr(FormCluster, s, tooLong(len(s)))
	}
	rest, ok := strings.CutPrefix(s, clusterPrefix)
	if !ok {
		return Name{}, parseErr(FormCluster, s, badPrefix(s, clusterPrefix))
	}
	portStr, rest, ok := strings.Cut(rest, "|")
	if !ok {
		return Name{}, parseErr(FormCluster, s, &FieldError{Field: "format", Reason: `want 4 "|"-separated parts`})
	}
	port, err := parsePort(portStr)
	if err != nil {
		return Name{}, parseErr(FormCluster, s, err)
	}
	subset, host, ok := strings.Cut(rest, "|")
	if !ok || strings.IndexByte(host, '|') >= 0 {
		return Name{}, parseErr(FormCluster, s, &FieldError{Field: "format", Reason: `want 4 "|"-separated parts`})
	}
	n := Name{Port: port, Subset: subset, Host: host}
	if err := n.ValidateCluster(); err != nil {
		return Name{}, parseErr(FormCluster, s, err)
	}
	return n, nil
}

// ParseAny reads either form: a string containing '|' is read as a cluster
// name, anything else as an SNI. It returns the form it used.
func ParseAny(s string) (Name, Form, error) {
	if strings.IndexByte(s, '|') >= 0 {
		n, err := ParseClusterName(s)
		return n, FormCluster, err
	}
	n, err := Parse(s)
	return n, FormSNI, err
}

func tooLong(l int) error {
	return &FieldError{Field: "name", Reason: strconv.Itoa(l) + " bytes, longer than " + strconv.Itoa(MaxNameLength)}
}

// badPrefix explains a missing prefix, calling out the other direction.
func badPrefix(s, want string) error {
	if strings.HasPrefix(s, "inbound") {
		return &FieldError{Field: "direction", Value: "inbound", Reason: "only outbound names are supported"}
	}
	return &FieldError{Field: "format", Reason: "must start with " + strconv.Quote(want)}
}

// parsePort accepts the canonical decimal form of 1–65535 only, so that the
// parsed port re-encodes to the same text.
func parsePort(s string) (uint32, error) {
	bad := func(reason string) error { return &FieldError{Field: "port", Value: s, Reason: reason} }
	switch {
	case s == "":
		return 0, bad("must not be empty")
	case len(s) > 5:
		return 0, bad("must be 1-65535")
	case s == "0":
		return 0, bad("must be 1-65535")
	case s[0] == '0':
		return 0, bad("must be 1-65535 without leading zeros")
	}
	var p uint32
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, bad("must be a decimal number")
		}
		p = p*10 + uint32(c-'0')
	}
	if p > MaxPort {
		return 0, bad("must be 1-65535")
	}
	return p, nil
}

// ValidateLabel returns a *FieldError (Field "label") when s is not a
// DNS-1123 label as the names accept it (letters of either case, digits and
// '-', alphanumeric at both ends, 1–63 bytes), else nil. Other packages
// that check DNS labels (xds/node) use it.
func ValidateLabel(s string) error {
	if reason := checkLabel(s); reason != "" {
		return &FieldError{Field: "label", Value: s, Reason: reason}
	}
	return nil
}

// ValidateHost returns a *FieldError (Field "host") when h is not a host as
// the SNI form accepts it (dot-separated labels as ValidateLabel accepts
// them, at most 253 bytes, no trailing dot, no wildcard), else nil.
func ValidateHost(h string) error {
	if reason := checkHost(h, false); reason != "" {
		return &FieldError{Field: "host", Value: h, Reason: reason}
	}
	return nil
}

// checkLabel returns why s is not a DNS-1123 label (letters of either case,
// digits and '-', alphanumeric at both ends, 1–63 bytes), or "".
func checkLabel(s string) string {
	switch {
	case s == "":
		return "empty label"
	case len(s) > MaxLabelLength:
		return "label longer than 63 bytes"
	case !isAlnum(s[0]) || !isAlnum(s[len(s)-1]):
		return "label must start and end with a letter or digit"
	}
	for i := 1; i < len(s)-1; i++ {
		if c := s[i]; !isAlnum(c) && c != '-' {
			return "invalid character " + strconv.QuoteRune(rune(c)) + " (want letters, digits or '-')"
		}
	}
	return ""
}

// checkHost returns why h is not a valid host, or "". With allowWildcard, a
// leading "*." label is accepted.
func checkHost(h string, allowWildcard bool) string {
	switch {
	case h == "":
		return "must not be empty"
	case len(h) > MaxHostLength:
		return "longer than 253 bytes"
	}
	if rest, ok := strings.CutPrefix(h, "*."); ok {
		if !allowWildcard {
			return "wildcard hosts are not valid in an SNI"
		}
		h = rest
	}
	for label := range strings.SplitSeq(h, ".") {
		if reason := checkLabel(label); reason != "" {
			if label == "" {
				return "empty label (leading, trailing or double dot)"
			}
			return reason + " in " + strconv.Quote(shorten(label))
		}
	}
	return ""
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
