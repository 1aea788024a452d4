package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"

	"google.golang.org/grpc/grpclog"
	"k8s.io/klog/v2"
)

// One logger per process: before any command runs, the root command makes
// a text logger at info on stderr the process's logger (useLogger); a
// command with --log-level and --log-format (run, gateway, agent,
// translate) replaces it with its own (cliflag.Logger). Everything that logs
// without being handed a logger then goes through it too, once, in the
// chosen format and level: slog.Default() (the fallback of every package's
// Options.Logger), Go's log package (slog.SetDefault redirects it),
// client-go's klog and gRPC's grpclog (both pointed, once, at whatever
// slog.Default() is when they log).

var libraryLoggers sync.Once

// useLogger makes l the process's logger (see above).
func useLogger(l *slog.Logger) {
	slog.SetDefault(l)
	libraryLoggers.Do(func() {
		// Set once, before the command starts anything: neither klog's nor
		// grpclog's global may change while they log.
		dflt := slog.New(defaultHandler{})
		klog.SetSlogLogger(dflt.With("component", "client-go"))
		grpclog.SetLoggerV2(grpcLogger{dflt.With("component", "grpc")})
	})
}

// defaultHandler hands every record to slog.Default()'s handler of the
// moment, with the attributes and groups added on the way.
type defaultHandler struct {
	with []func(slog.Handler) slog.Handler
}

func (h defaultHandler) handler() slog.Handler {
	hd := slog.Default().Handler()
	for _, w := range h.with {
		hd = w(hd)
	}
	return hd
}

func (h defaultHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return slog.Default().Handler().Enabled(ctx, l)
}

func (h defaultHandler) Handle(ctx context.Context, r slog.Record) error {
	return h.handler().Handle(ctx, r)
}

func (h defaultHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return defaultHandler{with: append(h.with[:len(h.with):len(h.with)], func(hd slog.Handler) slog.Handler { return hd.WithAttrs(attrs) })}
}

func (h defaultHandler) WithGroup(name string) slog.Handler {
	return defaultHandler{with: append(h.with[:len(h.with):len(h.with)], func(hd slog.Handler) slog.Handler { return hd.WithGroup(name) })}
}

// grpcLogger is grpclog on slog. gRPC's own default shows only errors, so
// its info and warning lines are debug lines here; errors stay errors.
type grpcLogger struct{ l *slog.Logger }

var _ grpclog.LoggerV2 = grpcLogger{}

func (g grpcLogger) log(level slog.Level, msg string) {
	g.l.Log(context.Background(), level, msg)
}

func (g grpcLogger) Info(args ...any)   { g.log(slog.LevelDebug, fmt.Sprint(args...)) }
func (g grpcLogger) Infoln(args ...any) { g.log(slog.LevelDebug, fmt.Sprint(args...)) }
func (g grpcLogger) Infof(format string, args ...any) {
	g.log(slog.LevelDebug, fmt.Sprintf(format, args...))
}
func (g grpcLogger) Warning(args ...any)   { g.log(slog.LevelDebug, fmt.Sprint(args...)) }
func (g grpcLogger) Warningln(args ...any) { g.log(slog.LevelDebug, fmt.Sprint(args...)) }
func (g grpcLogger) Warningf(format string, args ...any) {
	g.log(slog.LevelDebug, fmt.Sprintf(format, args...))
}
func (g grpcLogger) Error(args ...any)   { g.log(slog.LevelError, fmt.Sprint(args...)) }
func (g grpcLogger) Errorln(args ...any) { g.log(slog.LevelError, fmt.Sprint(args...)) }
func (g grpcLogger) Errorf(format string, args ...any) {
	g.log(slog.LevelError, fmt.Sprintf(format, args...))
}
func (g grpcLogger) Fatal(args ...any)   { g.log(slog.LevelError, fmt.Sprint(args...)); os.Exit(1) }
func (g grpcLogger) Fatalln(args ...any) { g.log(slog.LevelError, fmt.Sprint(args...)); os.Exit(1) }
func (g grpcLogger) Fatalf(format string, args ...any) {
	g.log(slog.LevelError, fmt.Sprintf(format, args...))
	os.Exit(1)
}

// V reports whether gRPC's verbose lines (all logged at debug) are on.
func (g grpcLogger) V(level int) bool {
	return level <= 0 && g.l.Enabled(context.Background(), slog.LevelDebug)
}
