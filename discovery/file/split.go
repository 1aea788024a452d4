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
// not counted. A document's data is a slice of data (capacity clipped), a
// copy only when it starts with text after "---".
func splitDocuments(data []byte) []document {
	out := make([]document, 0, bytes.Count(data, []byte("\n---"))+1)
	var cur []byte
	copied := false // cur is a copy, not a slice of data
	start, lineNo, off := 1, 0, 0
	flush := func() {
		if hasContent(cur) {
			out = append(out, document{index: len(out) + 1, line: start, data: cur})
		}
		cur, copied = nil, false
	}
	for off < len(data) {
		lineNo++
		end := len(data)
		if i := bytes.IndexByte(data[off:], '\n'); i >= 0 {
			end = off + i + 1
		}
		line := data[off:end]
		trimmed := bytes.TrimRight(line, "\r\n")
		switch {
		case isMarker(trimmed, "---"):
			flush()
			start = lineNo
			if rest := bytes.TrimSpace(trimmed[3:]); len(rest) > 0 {
				cur = append(append(make([]byte, 0, len(rest)+1), rest...), '\n')
				copied = true
			} else {
				start = lineNo + 1
			}
		case isMarker(trimmed, "..."):
			flush()
			start = lineNo + 1
		case cur == nil:
			start = lineNo
			cur = line[:len(line):len(line)]
		case copied:
			cur = append(cur, line...)
		default: // the next line of a slice of data: the longer slice
			cur = data[end-len(cur)-len(line) : end : end]
		}
		off = end
	}
	flush()
	if len(out) == 0 {
		return nil
	}
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
