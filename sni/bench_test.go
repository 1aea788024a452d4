package sni

import "testing"

var (
	benchName    = Name{Port: 9080, Subset: "v2", Host: "reviews.default.svc.cluster.local"}
	benchSNI     = "outbound_.9080_.v2_.reviews.default.svc.cluster.local"
	benchCluster = "outbound|9080|v2|reviews.default.svc.cluster.local"
	sinkString   string
	sinkName     Name
)

func BenchmarkSNI(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		sinkString = benchName.SNI()
	}
}

func BenchmarkClusterName(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		sinkString = benchName.ClusterName()
	}
}

func BenchmarkAppendSNI(b *testing.B) {
	b.ReportAllocs()
	buf := make([]byte, 0, MaxNameLength)
	for b.Loop() {
		buf = benchName.AppendSNI(buf[:0])
	}
}

func BenchmarkParse(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		n, err := Parse(benchSNI)
		if err != nil {
			b.Fatal(err)
		}
		sinkName = n
	}
}

func BenchmarkParseClusterName(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		n, err := ParseClusterName(benchCluster)
		if err != nil {
			b.Fatal(err)
		}
		sinkName = n
	}
}
