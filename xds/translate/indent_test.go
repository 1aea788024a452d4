package translate

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// referenceIndent is what writeItems did before appendIndentHTML:
// encoding/json's HTMLEscape then Indent.
func referenceIndent(t testing.TB, src []byte) []byte {
	var esc, out bytes.Buffer
	json.HTMLEscape(&esc, src)
	if err := json.Indent(&out, esc.Bytes(), "    ", "  "); err != nil {
		t.Fatalf("json.Indent: %v", err)
	}
	return out.Bytes()
}

// TestAppendIndentHTMLMatchesEncodingJSON: appendIndentHTML gives
// encoding/json's bytes on every golden output of the translator (each
// document compacted with protojson-like random spaces, then re-indented)
// and on strings with escapes, HTML characters and line separators.
func TestAppendIndentHTMLMatchesEncodingJSON(t *testing.T) {
	inputs := []string{
		`{}`, `[]`, `{"a":[]}`, `{"a":{}, "b" :[ {} , [ ] ]}`, `[1,2.5e-3,true,false,null,"x"]`,
		`{"s":"<a href=\"x&y\">\u003c</a>","t":"\\\"<>&\\","u":"line\u2028sep` + "\u2028\u2029" + `x","v":"é€😀\\n\t"}`,
		`{"k<&>":"` + "\xe2\x80\xa7\xe2\x80" + `"}`,
		` {"lead":1} `,
	}
	files, _ := filepath.Glob("testdata/cases/*/golden/*.json")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil || !json.Valid(b) {
			continue
		}
		var c bytes.Buffer
		if err := json.Compact(&c, b); err != nil {
			t.Fatal(err)
		}
		inputs = append(inputs, c.String(), string(b))
	}
	if len(inputs) < 20 {
		t.Fatalf("only %d inputs: no golden JSON found", len(inputs))
	}
	for _, in := range inputs {
		var got bytes.Buffer
		appendIndentHTML(&got, []byte(in), "    ", "  ")
		if want := referenceIndent(t, []byte(in)); !bytes.Equal(got.Bytes(), want) {
			t.Fatalf("input %.200q:\ngot  %.400q\nwant %.400q", in, got.Bytes(), want)
		}
	}
}

// FuzzAppendIndentHTML compares appendIndentHTML with encoding/json on
// valid JSON.
func FuzzAppendIndentHTML(f *testing.F) {
	f.Add([]byte(`{"a":[1,{"b":"<\u2028>"}],"c":{}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if !json.Valid(b) {
			return
		}
		var got bytes.Buffer
		appendIndentHTML(&got, b, "    ", "  ")
		if want := referenceIndent(t, b); !bytes.Equal(got.Bytes(), want) {
			t.Fatalf("input %q:\ngot  %q\nwant %q", b, got.Bytes(), want)
		}
	})
}
