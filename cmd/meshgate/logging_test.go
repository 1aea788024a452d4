package main

import (
	"encoding/json"
	"log"
	"log/slog"
	"strings"
	"testing"

	"google.golang.org/grpc/grpclog"
	"k8s.io/klog/v2"

	"github.com/meshgate/meshgate/cmd/internal/cliflag"
	"github.com/meshgate/meshgate/test/logtest"
)

// Once a command has chosen its logger, every log line of the process goes
// through it, once, in its format and level: slog.Default, Go's log
// package, client-go's klog and gRPC's grpclog.
func TestOneLogger(t *testing.T) {
	prev := slog.Default()
	t.Cleanup(func() { slog.SetDefault(prev) })
	var buf logtest.Buffer
	l, err := cliflag.Logger("info", "json", &buf)
	if err != nil {
		t.Fatal(err)
	}
	useLogger(l)
	slog.Info("from slog.Default")
	log.Printf("from the log package")
	klog.InfoS("from klog")
	klog.Flush()
	grpclog.Errorf("from grpclog %d", 1)
	grpclog.Infof("grpc info, a debug line: not shown at info")
	slog.Debug("debug: not shown at info")

	type line struct {
		Level, Msg, Component string
	}
	var got []line
	for _, s := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var ln line
		if err := json.Unmarshal([]byte(s), &ln); err != nil {
			t.Fatalf("not a JSON log line: %q (%v)", s, err)
		}
		got = append(got, ln)
	}
	want := []line{
		{"INFO", "from slog.Default", ""},
		{"INFO", "from the log package", ""},
		{"INFO", "from klog", "client-go"},
		{"ERROR", "from grpclog 1", "grpc"},
	}
	if len(got) != len(want) {
		t.Fatalf("log lines:\n%s\nwant %d", buf.String(), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("line %d = %+v, want %+v", i, got[i], want[i])
		}
	}

	// A new logger (another command line in the same process) takes over.
	var buf2 logtest.Buffer
	l2, err := cliflag.Logger("debug", "text", &buf2)
	if err != nil {
		t.Fatal(err)
	}
	useLogger(l2)
	grpclog.Infof("grpc info at debug")
	if s := buf2.String(); !strings.Contains(s, `level=DEBUG msg="grpc info at debug" component=grpc`) {
		t.Errorf("after the second useLogger: %q", s)
	}
}
