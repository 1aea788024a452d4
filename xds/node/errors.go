package node

import "strconv"

// maxQuoted bounds how much of a bad input an error message repeats.
const maxQuoted = 96

// FieldError says which part of a node id or which metadata key is wrong and why.
type FieldError struct {
	// Field is a part of the id ("type", "ip", "pod", "namespace",
	// "domain", "domain suffix", "id", "format") or a metadata key.
	Field string
	// Value is the offending text (shortened when very long), may be empty.
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

// ParseError is returned by ParseID, ParseMetadata and FromEnvoy.
type ParseError struct {
	// What is "node id" or "node metadata".
	What string
	// Input is the node id (shortened when very long); empty for metadata
	// read without an id.
	Input string
	// Err is the underlying *FieldError (or several, joined, for metadata).
	Err error
}

func (e *ParseError) Error() string {
	if e.What == WhatID {
		return "invalid node id " + strconv.Quote(e.Input) + ": " + e.Err.Error()
	}
	if e.Input != "" {
		return "node " + strconv.Quote(e.Input) + ": invalid metadata: " + e.Err.Error()
	}
	return "invalid node metadata: " + e.Err.Error()
}

func (e *ParseError) Unwrap() error { return e.Err }

// What a ParseError is about.
const (
	WhatID       = "node id"
	WhatMetadata = "node metadata"
)

func shorten(s string) string {
	if len(s) <= maxQuoted {
		return s
	}
	return s[:maxQuoted] + "..."
}
