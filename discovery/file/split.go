package file

import (
	"bytes"
)

// document is one YAML document of a file.
type document struct {
	index int // 1-based among the file's non-empty documents
	line  int // 1-based line of its first line in the file
	data  []byte
}

// splitDocuments splits a multi-document YAML stream at "---" lines. Text
// after "---" on the same line belongs to the new document; a "..." line ends
// a document. Documents holding only blank lines and comments are dropped and
// not counted.
func splitDocuments(data []byte) []document {
	var out []document
	var cur []byte
	start, lineNo := 1, 0
	flush := func() {
		if hasContent(cur) {
			out = append(out, document{index: len(out) + 1, line: start, data: cur})
		}
		cur = nil
	}
	for len(data) > 0 {
		lineNo++
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i+1], data[i+1:]
		} else {
			data = nil
		}
		trimmed := bytes.TrimRight(line, "\r\n")
		switch {
		case isMarker(trimmed, "---"):
			flush()
			start = lineNo
			if rest := bytes.TrimSpace(trimmed[3:]); len(rest) > 0 {
				cur = append(cur, rest...)
				cur = append(cur, '\n')
			} else {
				start = lineNo + 1
			}
		case isMarker(trimmed, "..."):
			flush()
			start = lineNo + 1
		default:
			if cur == nil {
				start = lineNo
			}
			cur = append(cur, line...)
		}
	}
	flush()
	return out
}

// isMarker reports a document marker: the marker alone, or followed by
// whitespace (and possibly more text).
func isMarker(line []byte, marker string) bool {
	if !bytes.HasPrefix(line, []byte(marker)) {
		return false
	}
	return len(line) == len(marker) || line[len(marker)] == ' ' || line[len(marker)] == '\t'
}

// hasContent reports whether a document has anything but blank lines and
// comments.
func hasContent(doc []byte) bool {
	for len(doc) > 0 {
		line := doc
		if i := bytes.IndexByte(doc, '\n'); i >= 0 {
			line, doc = doc[:i], doc[i+1:]
		} else {
			doc = nil
		}
		line = bytes.TrimSpace(line)
		if len(line) > 0 && line[0] != '#' {
			return true
		}
	}
	return false
}
