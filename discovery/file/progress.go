package file

import (
	"log/slog"
	"time"
)

// Progress output of long loads (issue 15: a 50 MB input must not look hung).
var (
	// ProgressAfter is how long a load runs before it logs its progress.
	ProgressAfter = 2 * time.Second
	// ProgressEvery is the interval of the progress lines after that.
	ProgressEvery = 2 * time.Second
)

// progress counts what a load has read and logs it, through the logger
// of Options, when the load takes long. nil (no logger) counts nothing.
// It is used by the goroutine that applies decoded documents only.
type progress struct {
	log                *slog.Logger
	start, next        time.Time
	files, docs, bytes int
	logged             bool
}

func newProgress(log *slog.Logger) *progress {
	if log == nil {
		return nil
	}
	now := time.Now()
	return &progress{log: log, start: now, next: now.Add(ProgressAfter)}
}

func (p *progress) add(files, docs, bytes int) {
	if p == nil {
		return
	}
	p.files += files
	p.docs += docs
	p.bytes += bytes
	if now := time.Now(); !now.Before(p.next) {
		p.next = now.Add(ProgressEvery)
		p.logged = true
		p.line("file source: reading input")
	}
}

// done logs the totals if progress was logged.
func (p *progress) done() {
	if p == nil || !p.logged {
		return
	}
	p.line("file source: input read")
}

func (p *progress) line(msg string) {
	el := time.Since(p.start)
	p.log.Info(msg, "files", p.files, "documents", p.docs, "MB", mb(p.bytes),
		"MB_per_s", mb(int(float64(p.bytes)/el.Seconds())), "elapsed", el.Round(100*time.Millisecond).String())
}

func mb(n int) float64 { return float64(n/100_000) / 10 }
