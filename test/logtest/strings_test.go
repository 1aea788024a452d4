package logtest

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestJSONStrings(t *testing.T) {
	var v any
	// "c2VjcmV0LXRva2Vu" is base64 for "secret-token".
	if err := json.Unmarshal([]byte(`{"a":["x",{"b":"c2VjcmV0LXRva2Vu"}],"n":42,"k":"plain"}`), &v); err != nil {
		t.Fatal(err)
	}
	got := JSONStrings(nil, v)
	for _, want := range []string{"x", "plain", "c2VjcmV0LXRva2Vu", "secret-token"} {
		if !bytes.Contains(got, []byte(want)) {
			t.Errorf("JSONStrings misses %q: %q", want, got)
		}
	}
	if bytes.Contains(got, []byte("42")) {
		t.Errorf("JSONStrings took a number: %q", got)
	}
}
