package translate

import "bytes"

// appendIndentHTML appends src, valid JSON, HTML-escaped and indented: the
// bytes json.HTMLEscape then json.Indent(dst, escaped, prefix, indent) give,
// in one pass without encoding/json's scanner (the output of a large
// translation is hundreds of MB of JSON). Whitespace outside strings is
// dropped, an empty object or array stays {} or [], ':' gets one space
// after it, whitespace after the value is kept; inside strings <, >, & and U+2028, U+2029 become \u escapes.
// src must be valid JSON (protojson's output): nothing is checked.
func appendIndentHTML(dst *bytes.Buffer, src []byte, prefix, indent string) {
	depth := 0
	needIndent := false // after { or [: the newline waits for the first element
	newline := func() {
		dst.WriteByte('\n')
		dst.WriteString(prefix)
		for range depth {
			dst.WriteString(indent)
		}
	}
	end := len(src) // the value's end: whitespace after it is copied, as json.Indent does
	for end > 0 && isJSONSpace(src[end-1]) {
		end--
	}
	defer dst.Write(src[end:])
	for i := 0; i < end; i++ {
		c := src[i]
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		}
		if needIndent && c != '}' && c != ']' {
			needIndent = false
			depth++
			newline()
		}
		switch c {
		case '"':
			i = appendStringHTML(dst, src, i)
		case '{', '[':
			needIndent = true
			dst.WriteByte(c)
		case ',':
			dst.WriteByte(c)
			newline()
		case ':':
			dst.WriteString(": ")
		case '}', ']':
			if needIndent {
				needIndent = false
			} else {
				depth--
				newline()
			}
			dst.WriteByte(c)
		default:
			dst.WriteByte(c)
		}
	}
}

func isJSONSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// appendStringHTML appends the JSON string starting at src[start] (its
// opening quote), HTML-escaped as json.HTMLEscape does, and returns the
// index of its closing quote.
func appendStringHTML(dst *bytes.Buffer, src []byte, start int) int {
	const hex = "0123456789abcdef"
	from := start // src[from:i] is still to be written
	for i := start + 1; i < len(src); i++ {
		switch c := src[i]; c {
		case '\\':
			i++ // the escaped byte is copied as it is (never <, >, & or a quote to stop at)
		case '"':
			dst.Write(src[from : i+1])
			return i
		case '<', '>', '&':
			dst.Write(src[from:i])
			dst.WriteString(`\u00`)
			dst.WriteByte(hex[c>>4])
			dst.WriteByte(hex[c&0xF])
			from = i + 1
		case 0xE2: // U+2028 and U+2029 are E2 80 A8 and E2 80 A9
			if i+2 < len(src) && src[i+1] == 0x80 && src[i+2]&^1 == 0xA8 {
				dst.Write(src[from:i])
				dst.WriteString(`\u202`)
				dst.WriteByte(hex[src[i+2]&0xF])
				from = i + 3
				i += 2
			}
		}
	}
	dst.Write(src[from:])
	return len(src) - 1
}
