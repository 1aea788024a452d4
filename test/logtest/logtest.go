// Package logtest holds the tests' log sink: a Buffer that loggers write to
// from several goroutines while a test reads what was written (to check that
// a line was logged, or that a secret never was).
package logtest

import (
	"strings"
	"sync"
)

// Buffer is an io.Writer safe for concurrent use; String returns everything
// written so far.
type Buffer struct {
	mu sync.Mutex
	b  strings.Builder
}

// Write implements io.Writer.
func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
