package logtest

import "encoding/base64"

// JSONStrings appends to all every string in v, a value decoded from JSON
// into any, and the base64 decoding of each string that has one (byte fields
// travel as base64), so that a test can check that a secret is not carried
// in clear anywhere in a message.
func JSONStrings(all []byte, v any) []byte {
	switch v := v.(type) {
	case string:
		all = append(all, v...)
		if b, err := base64.StdEncoding.DecodeString(v); err == nil {
			all = append(all, b...)
		}
	case []any:
		for _, x := range v {
			all = JSONStrings(all, x)
		}
	case map[string]any:
		for _, x := range v {
			all = JSONStrings(all, x)
		}
	}
	return all
}
