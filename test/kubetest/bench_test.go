//go:build integration

package kubetest

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
)

// BenchmarkStart measures the time from nothing to n clusters ready with
// Istio's CRDs established (and without them), and reports the resident
// memory of each kube-apiserver and etcd once ready:
//
//	go test -tags integration ./test/kubetest -run '^$' -bench Start -benchtime 3x
func BenchmarkStart(b *testing.B) {
	for _, bc := range []struct {
		n       int
		skipCRD bool
	}{{1, true}, {1, false}, {3, false}} {
		name := fmt.Sprintf("clusters=%d/istioCRDs=%v", bc.n, !bc.skipCRD)
		b.Run(name, func(b *testing.B) {
			bins, err := FindBinaries()
			if err != nil {
				b.Fatal(err)
			}
			var apiRSS, etcdRSS float64
			for b.Loop() {
				cs, err := StartN(context.Background(), bc.n, Options{Binaries: &bins, SkipIstioCRDs: bc.skipCRD})
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				for _, c := range cs {
					apiRSS += rssMiB(b, c.apiserver)
					etcdRSS += rssMiB(b, c.etcd)
					if err := c.Close(); err != nil {
						b.Fatal(err)
					}
				}
				b.StartTimer()
			}
			samples := float64(b.N * bc.n)
			b.ReportMetric(apiRSS/samples, "apiserver-MiB")
			b.ReportMetric(etcdRSS/samples, "etcd-MiB")
		})
	}
}

// rssMiB reads a running process's resident set size from /proc.
func rssMiB(b *testing.B, p *process) float64 {
	pid := p.Pid()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb / 1024
		}
	}
	b.Fatalf("no VmRSS for %s (pid %d)", p.Name, pid)
	return 0
}
