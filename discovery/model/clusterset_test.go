package model

import (
	"reflect"
	"testing"
)

func mcsCluster(id string, svcs []Service, exports ...ServiceExport) *ClusterState {
	c := &ClusterState{ID: id, Services: svcs, ServiceExports: exports}
	c.Normalize()
	return c
}

func svc(name, clusterIP string, ports ...ServicePort) Service {
	return Service{Meta: Meta{Name: name, Namespace: "ns"}, Hostname: name + ".ns.svc.cluster.local", ClusterIP: clusterIP, Ports: ports}
}

func export(name, created string) ServiceExport {
	return ServiceExport{Meta: Meta{Name: name, Namespace: "ns"}, Created: created}
}

// TestClusterSet: the clusterset services of three clusters: the oldest
// export decides type and conflicting ports (ties by cluster id), every
// exporting cluster contributes, invalid exports and unexported Services
// do not.
func TestClusterSet(t *testing.T) {
	http := ServicePort{Name: "http", Port: 80, Protocol: "TCP"}
	m := &MeshState{LocalCluster: "a", Clusters: []*ClusterState{
		mcsCluster("a", []Service{svc("web", "10.0.0.1", http), svc("db", "None", ServicePort{Name: "sql", Port: 3306}), svc("quiet", "10.0.0.3", http)},
			export("web", "2026-01-03T00:00:00Z"), export("db", "2026-01-01T00:00:00Z"), export("ghost", "")),
		mcsCluster("b", []Service{svc("web", "10.1.0.1", ServicePort{Name: "http", Port: 8080}, ServicePort{Name: "grpc", Port: 9090}), svc("db", "10.1.0.2", ServicePort{Name: "sql", Port: 3306})},
			export("web", "2026-01-02T00:00:00Z"), export("db", "2026-01-02T00:00:00Z")),
		mcsCluster("c", []Service{svc("web", "10.2.0.1", ServicePort{Name: "http", Port: 8080, Protocol: "TCP"})},
			export("web", "2026-01-02T00:00:00Z")),
	}}
	got := ClusterSet(m)
	if len(got) != 2 {
		t.Fatalf("%d clusterset services, want 2 (db, web): %+v", len(got), got)
	}
	db, web := got[0], got[1]
	if db.Hostname != "db.ns.svc.clusterset.local" || db.Type != ImportHeadless || !reflect.DeepEqual(db.Clusters, []string{"a", "b"}) {
		t.Errorf("db: %+v", db)
	}
	if c := db.Conflicts["b"]; c.Reason != ExportReasonTypeConflict || len(db.Conflicts) != 1 {
		t.Errorf("db conflicts: %+v, want b's TypeConflict", db.Conflicts)
	}
	// b and c exported at the same time, before a: b (the smaller id) wins.
	if !reflect.DeepEqual(web.Clusters, []string{"b", "c", "a"}) || web.Type != ImportClusterSetIP {
		t.Errorf("web: clusters %v type %s", web.Clusters, web.Type)
	}
	wantPorts := []ServicePort{{Name: "http", Port: 8080}, {Name: "grpc", Port: 9090}}
	if !reflect.DeepEqual(web.Ports, wantPorts) {
		t.Errorf("web ports %+v, want %+v", web.Ports, wantPorts)
	}
	if len(web.Conflicts) != 1 || web.Conflicts["a"].Reason != ExportReasonPortConflict {
		t.Errorf("web conflicts: %+v, want a's PortConflict only (c's TCP is the default protocol)", web.Conflicts)
	}
	if ok, reason, _ := ExportValidity(m.Cluster("a"), &m.Cluster("a").ServiceExports[1]); ok || reason != ExportReasonNoService {
		t.Errorf("ghost export: valid %v reason %s", ok, reason)
	}
}

// TestWithGossipedExports: a remote cluster from its API-server watch takes
// the ServiceExports of its gossiped state; the local cluster, a cluster
// that has exports of its own, and a gossiped-only cluster are left as
// they are.
func TestWithGossipedExports(t *testing.T) {
	watched := &ClusterState{ID: "b", Services: []Service{svc("web", "10.0.0.1")}}
	own := &ClusterState{ID: "c", ServiceExports: []ServiceExport{export("db", "x")}}
	m := &MeshState{LocalCluster: "a", Clusters: []*ClusterState{{ID: "a"}, watched, own}}
	gossiped := []*ClusterState{
		{ID: "a", ServiceExports: []ServiceExport{export("web", "")}},
		{ID: "b", ServiceExports: []ServiceExport{export("web", "t")}},
		{ID: "c", ServiceExports: []ServiceExport{export("web", "")}},
	}
	got := WithGossipedExports(m, gossiped)
	if len(got.Cluster("a").ServiceExports) != 0 || got.Cluster("c").ServiceExports[0].Name != "db" {
		t.Errorf("local or own exports replaced: %+v %+v", got.Cluster("a"), got.Cluster("c"))
	}
	b := got.Cluster("b")
	if len(b.ServiceExports) != 1 || b.ServiceExports[0].Created != "t" || len(b.Services) != 1 {
		t.Errorf("cluster b: %+v", b)
	}
	if len(watched.ServiceExports) != 0 {
		t.Error("the input state was modified")
	}
	if cs := ClusterSet(got); len(cs) != 1 || cs[0].Clusters[0] != "b" {
		t.Errorf("clusterset: %+v", cs)
	}
	if WithGossipedExports(m, nil) != m {
		t.Error("nothing adopted: want m itself")
	}
}
