package federation

import (
	"context"
	"errors"
	"log"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/meshgate/meshgate/federation/wire"
)

// mlLogWriter turns memberlist's log lines ("[ERR] memberlist: ...") into slog
// records and counts decryption failures as rejected messages. memberlist logs
// addresses and errors, never key material or payloads.
type mlLogWriter struct {
	log *slog.Logger
	met *metrics
}

func newMemberlistLogger(l *slog.Logger, m *metrics) *log.Logger {
	return log.New(&mlLogWriter{log: l.With("component", "memberlist"), met: m}, "", 0)
}

func (w *mlLogWriter) Write(p []byte) (int, error) {
	line := strings.TrimSpace(string(p))
	level := slog.LevelInfo
	for prefix, l := range map[string]slog.Level{"[DEBUG]": slog.LevelDebug, "[INFO]": slog.LevelInfo, "[WARN]": slog.LevelWarn, "[ERR]": slog.LevelWarn} {
		if strings.HasPrefix(line, prefix) {
			level = l
			line = strings.TrimSpace(strings.TrimPrefix(line, prefix))
			break
		}
	}
	line = strings.TrimPrefix(line, "memberlist: ")
	if strings.Contains(strings.ToLower(line), "decrypt") {
		w.met.rejected.WithLabelValues(ReasonDecrypt).Inc()
	}
	w.log.Log(context.Background(), level, line)
	return len(p), nil
}

// rejectLog logs rejected messages at most once per second per reason, with
// the number suppressed in between, so a flood of bad packets cannot flood
// the log. The metric counts every one.
type rejectLog struct {
	mu   sync.Mutex
	last map[string]time.Time
	supp map[string]int
}

func (n *Node) reject(reason string, t wire.Type, err error, attrs ...any) {
	n.met.rejected.WithLabelValues(reason).Inc()
	r := &n.rejects
	r.mu.Lock()
	now := time.Now()
	if now.Sub(r.last[reason]) < time.Second {
		r.supp[reason]++
		r.mu.Unlock()
		return
	}
	suppressed := r.supp[reason]
	r.last[reason], r.supp[reason] = now, 0
	r.mu.Unlock()
	args := append([]any{"reason", reason, "type", t.String(), "err", err, "suppressedSinceLast", suppressed}, attrs...)
	n.log.Warn("federation message rejected", args...)
}

// reasonOf classifies a decoding error.
func reasonOf(err error) string {
	switch {
	case errors.Is(err, wire.ErrOversized):
		return ReasonOversized
	case errors.Is(err, wire.ErrVersion):
		return ReasonVersion
	}
	return ReasonCorrupt
}
