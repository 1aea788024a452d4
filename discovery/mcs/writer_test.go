//go:build integration

package mcs

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"
	mcsclient "sigs.k8s.io/mcs-api/pkg/client/clientset/versioned"
	mcsinformers "sigs.k8s.io/mcs-api/pkg/client/informers/externalversions"

	"github.com/meshgate/meshgate/discovery/kube"
	"github.com/meshgate/meshgate/discovery/model"
	"github.com/meshgate/meshgate/test/kubetest"
)

// crdManifest is the vendored copy deploy/mcs installs.
const crdManifest = "../../deploy/mcs/00-crds.yaml"

// TestWriter runs the Kubernetes source (with ServiceExports) and the
// Writer against a real API server with the MCS CRDs: the ServiceExports
// read become the local state; with a remote cluster's exports added (as
// federation adds them), the ServiceImports and the ServiceExport
// conditions follow the clusterset, oldest export first; when the remote
// cluster goes, so do its imports and the conflict. A ServiceImport that
// meshgate did not create is never touched.
func TestWriter(t *testing.T) {
	c := kubetest.New(t, kubetest.Options{Name: "mcs", SkipIstioCRDs: true})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	manifest, err := os.ReadFile(crdManifest)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kubetest.InstallCRDs(ctx, c.RESTConfig(), manifest, time.Minute); err != nil {
		t.Fatal(err)
	}
	kc := kubernetes.NewForConfigOrDie(c.RESTConfig())
	mc := mcsclient.NewForConfigOrDie(c.RESTConfig())
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(kc.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "sample"}}, metav1.CreateOptions{}))
	must(kc.CoreV1().Services("sample").Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "helloworld"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 5000}}}}, metav1.CreateOptions{}))
	for _, name := range []string{"helloworld", "ghost"} {
		must(mc.MulticlusterV1alpha1().ServiceExports("sample").Create(ctx, &mcsv1alpha1.ServiceExport{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}))
	}
	foreign := &mcsv1alpha1.ServiceImport{ObjectMeta: metav1.ObjectMeta{Name: "foreign"},
		Spec: mcsv1alpha1.ServiceImportSpec{Type: mcsv1alpha1.ClusterSetIP, Ports: []mcsv1alpha1.ServicePort{{Port: 1, Protocol: corev1.ProtocolTCP}}}}
	must(mc.MulticlusterV1alpha1().ServiceImports("sample").Create(ctx, foreign, metav1.CreateOptions{}))

	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	// the local state, from the Kubernetes source reading ServiceExports
	src, err := kube.New(kube.Config{ClusterID: "cluster-a", ServicesOnly: true, ServiceExports: true}, kube.Options{REST: c.RESTConfig(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	states := make(chan *model.ClusterState, 16)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() {
		_ = src.Run(ctx, func(m *model.MeshState, _ []error, _ error) {
			select {
			case states <- m.Clusters[0]:
			case <-ctx.Done():
			}
		})
	})
	var local *model.ClusterState
	for local == nil || len(local.ServiceExports) != 2 || local.ServiceByName("sample", "helloworld") == nil {
		select {
		case local = <-states:
		case <-ctx.Done():
			t.Fatalf("the source never read both ServiceExports: %+v", local)
		}
	}
	localCreated := local.ServiceExport("sample", "helloworld").Created
	if localCreated == "" {
		t.Errorf("the source did not keep the ServiceExport's creationTimestamp")
	}

	// a remote cluster that exported helloworld earlier, on another port,
	// and two services of its own (one in a namespace this cluster lacks)
	remote := &model.ClusterState{ID: "cluster2", Services: []model.Service{
		{Meta: model.Meta{Name: "helloworld", Namespace: "sample"}, Hostname: "helloworld.sample.svc.cluster.local", Ports: []model.ServicePort{{Name: "http", Port: 5001}}},
		{Meta: model.Meta{Name: "remote-only", Namespace: "sample"}, Hostname: "remote-only.sample.svc.cluster.local", Ports: []model.ServicePort{{Name: "grpc", Port: 9090, AppProtocol: "grpc"}}},
		{Meta: model.Meta{Name: "foreign", Namespace: "sample"}, Hostname: "foreign.sample.svc.cluster.local", Ports: []model.ServicePort{{Port: 2}}},
		{Meta: model.Meta{Name: "elsewhere", Namespace: "absent"}, Hostname: "elsewhere.absent.svc.cluster.local", Ports: []model.ServicePort{{Port: 80}}},
	}, ServiceExports: []model.ServiceExport{
		{Meta: model.Meta{Name: "helloworld", Namespace: "sample"}, Created: "2000-01-01T00:00:00Z"},
		{Meta: model.Meta{Name: "remote-only", Namespace: "sample"}, Created: "2000-01-01T00:00:00Z"},
		{Meta: model.Meta{Name: "foreign", Namespace: "sample"}, Created: "2000-01-01T00:00:00Z"},
		{Meta: model.Meta{Name: "elsewhere", Namespace: "absent"}, Created: "2000-01-01T00:00:00Z"},
	}}
	remote.Normalize()
	mesh := &model.MeshState{LocalCluster: "cluster-a", Clusters: []*model.ClusterState{local, remote}}

	w, err := New(Config{ClusterID: "cluster-a"}, Options{REST: c.RESTConfig(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	wg.Go(func() {
		if err := w.Run(ctx); err != nil {
			t.Errorf("writer: %v", err)
		}
	})
	w.Update(mesh)
	wait := watcher(t, ctx, mc)
	wait("imports and conflicts with cluster2", func(imports map[string]*mcsv1alpha1.ServiceImport, exports map[string]*mcsv1alpha1.ServiceExport) string {
		hw, ro := imports["sample/helloworld"], imports["sample/remote-only"]
		switch {
		case hw == nil || ro == nil:
			return fmt.Sprintf("imports %v", slices.Sorted(mapsKeys(imports)))
		case imports["absent/elsewhere"] != nil:
			return "an import in a namespace this cluster lacks"
		case hw.Spec.Type != mcsv1alpha1.ClusterSetIP || len(hw.Spec.Ports) != 1 || hw.Spec.Ports[0].Port != 5001:
			return fmt.Sprintf("helloworld spec %+v, want port 5001 (the oldest export's)", hw.Spec)
		case !slices.Equal(hw.Status.Clusters, []mcsv1alpha1.ClusterStatus{{Cluster: "cluster-a"}, {Cluster: "cluster2"}}):
			return fmt.Sprintf("helloworld clusters %+v", hw.Status.Clusters)
		case ro.Spec.Ports[0].AppProtocol == nil || *ro.Spec.Ports[0].AppProtocol != "grpc" || hw.Labels[LabelManagedBy] != ManagedBy:
			return fmt.Sprintf("remote-only %+v", ro)
		case imports["sample/foreign"].Spec.Ports[0].Port != 1 || len(imports["sample/foreign"].Labels) != 0:
			return "the foreign ServiceImport was changed"
		}
		return checkConditions(exports["sample/helloworld"], "Valid", "PortConflict") + checkConditions(exports["sample/ghost"], "NoService", "")
	})

	// cluster2 goes: its imports go, the conflict is gone
	w.Update(&model.MeshState{LocalCluster: "cluster-a", Clusters: []*model.ClusterState{local}})
	wait("cluster2 gone", func(imports map[string]*mcsv1alpha1.ServiceImport, exports map[string]*mcsv1alpha1.ServiceExport) string {
		hw := imports["sample/helloworld"]
		switch {
		case imports["sample/remote-only"] != nil:
			return "remote-only still imported"
		case imports["sample/foreign"] == nil:
			return "the foreign ServiceImport was deleted"
		case hw == nil || hw.Spec.Ports[0].Port != 5000 || !slices.Equal(hw.Status.Clusters, []mcsv1alpha1.ClusterStatus{{Cluster: "cluster-a"}}):
			return fmt.Sprintf("helloworld %+v", hw)
		}
		return checkConditions(exports["sample/helloworld"], "Valid", "NoConflict")
	})
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// checkConditions says how e's Valid and Conflict reasons differ from the
// wanted ones ("" conflict: no Conflict condition); "" when they match.
func checkConditions(e *mcsv1alpha1.ServiceExport, valid, conflict string) string {
	if e == nil {
		return "export missing"
	}
	v := meta.FindStatusCondition(e.Status.Conditions, "Valid")
	c := meta.FindStatusCondition(e.Status.Conditions, "Conflict")
	switch {
	case v == nil || v.Reason != valid || (v.Status == metav1.ConditionTrue) != (valid == "Valid"):
		return fmt.Sprintf("%s: Valid %+v, want reason %s", e.Name, v, valid)
	case conflict == "" && c != nil:
		return fmt.Sprintf("%s: Conflict %+v, want none", e.Name, c)
	case conflict != "" && (c == nil || c.Reason != conflict || (c.Status == metav1.ConditionTrue) != (conflict != "NoConflict")):
		return fmt.Sprintf("%s: Conflict %+v, want reason %s", e.Name, c, conflict)
	case v.ObservedGeneration != e.Generation:
		return fmt.Sprintf("%s: observedGeneration %d, generation %d", e.Name, v.ObservedGeneration, e.Generation)
	}
	return ""
}

// watcher returns a function that waits, on the API server's events (an
// informer of the test's own), until check finds the ServiceImports and
// ServiceExports ("ns/name") as wanted.
func watcher(t *testing.T, ctx context.Context, mc mcsclient.Interface) func(what string, check func(map[string]*mcsv1alpha1.ServiceImport, map[string]*mcsv1alpha1.ServiceExport) string) {
	f := mcsinformers.NewSharedInformerFactory(mc, 0)
	si, se := f.Multicluster().V1alpha1().ServiceImports(), f.Multicluster().V1alpha1().ServiceExports()
	events := make(chan struct{}, 1)
	h := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { notify(events) },
		UpdateFunc: func(any, any) { notify(events) },
		DeleteFunc: func(any) { notify(events) },
	}
	for _, inf := range []cache.SharedIndexInformer{si.Informer(), se.Informer()} {
		if _, err := inf.AddEventHandler(h); err != nil {
			t.Fatal(err)
		}
	}
	f.Start(ctx.Done())
	t.Cleanup(f.Shutdown)
	f.WaitForCacheSync(ctx.Done())
	return func(what string, check func(map[string]*mcsv1alpha1.ServiceImport, map[string]*mcsv1alpha1.ServiceExport) string) {
		t.Helper()
		last := ""
		for {
			imports, exports := map[string]*mcsv1alpha1.ServiceImport{}, map[string]*mcsv1alpha1.ServiceExport{}
			l1, _ := si.Lister().List(everything)
			for _, o := range l1 {
				imports[o.Namespace+"/"+o.Name] = o
			}
			l2, _ := se.Lister().List(everything)
			for _, o := range l2 {
				exports[o.Namespace+"/"+o.Name] = o
			}
			if last = check(imports, exports); last == "" {
				return
			}
			select {
			case <-events:
			case <-ctx.Done():
				t.Fatalf("%s: %s", what, last)
			}
		}
	}
}

func notify(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

var everything = labels.Everything()

// TestWriterClusterSetIPs gives ClusterSetIP imports their VIP and the
// Ready condition on a real API server: with a prefix of two usable
// addresses and three exported services, the two oldest get an address
// (the one model.AllocateClusterSetIPs computes, which every cluster
// computes alike) and Ready True; the youngest gets none and Ready False
// Pending; a headless import gets no address and Ready True. When the
// oldest service stops being exported, the youngest gets an address and
// turns Ready.
func TestWriterClusterSetIPs(t *testing.T) {
	c := kubetest.New(t, kubetest.Options{Name: "mcs-vip", SkipIstioCRDs: true})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	manifest, err := os.ReadFile(crdManifest)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kubetest.InstallCRDs(ctx, c.RESTConfig(), manifest, time.Minute); err != nil {
		t.Fatal(err)
	}
	kc := kubernetes.NewForConfigOrDie(c.RESTConfig())
	if _, err := kc.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "sample"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	remote := func(names ...string) *model.ClusterState {
		r := &model.ClusterState{ID: "cluster2"}
		for i, n := range names {
			s := model.Service{Meta: model.Meta{Name: n, Namespace: "sample"}, Hostname: n + ".sample.svc.cluster.local",
				Ports: []model.ServicePort{{Name: "http", Port: 80}}}
			if n == "stateful" {
				s.ClusterIP = "None"
			}
			r.Services = append(r.Services, s)
			r.ServiceExports = append(r.ServiceExports, model.ServiceExport{Meta: model.Meta{Name: n, Namespace: "sample"},
				Created: fmt.Sprintf("2026-0%d-01T00:00:00Z", i+1)})
		}
		r.Normalize()
		return r
	}
	local := &model.ClusterState{ID: "cluster-a", Namespaces: []model.Namespace{{Meta: model.Meta{Name: "sample"}}}}
	prefix := netip.MustParsePrefix("10.96.200.0/30") // .1 and .2
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	w, err := New(Config{ClusterID: "cluster-a", ClusterSetIPPrefix: prefix}, Options{REST: c.RESTConfig(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	// a clock a second apart at each reading (the API keeps seconds): a
	// transition shows in lastTransitionTime however fast it comes
	var tick int64
	w.now = func() metav1.Time { tick++; return metav1.NewTime(time.Unix(1_800_000_000+tick, 0)) }
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() {
		if err := w.Run(ctx); err != nil {
			t.Errorf("writer: %v", err)
		}
	})
	wait := watcher(t, ctx, mcsclient.NewForConfigOrDie(c.RESTConfig()))

	mesh := &model.MeshState{LocalCluster: "cluster-a", Clusters: []*model.ClusterState{local, remote("oldest", "middle", "youngest", "stateful")}}
	vips := model.AllocateClusterSetIPs(model.ClusterSet(mesh), prefix)
	if len(vips) != 2 || !vips["sample/oldest"].IsValid() || !vips["sample/middle"].IsValid() {
		t.Fatalf("allocation %v: want oldest and middle", vips)
	}
	w.Update(mesh)
	var pendingSince metav1.Time
	wait("two VIPs, one import pending", func(imports map[string]*mcsv1alpha1.ServiceImport, _ map[string]*mcsv1alpha1.ServiceExport) string {
		for _, n := range []string{"oldest", "middle"} {
			if msg := checkImport(imports["sample/"+n], []string{vips["sample/"+n].String()}, corev1.IPv4Protocol, "Ready"); msg != "" {
				return msg
			}
		}
		if msg := checkImport(imports["sample/youngest"], nil, "", "Pending"); msg != "" {
			return msg
		}
		pendingSince = meta.FindStatusCondition(imports["sample/youngest"].Status.Conditions, "Ready").LastTransitionTime
		st := imports["sample/stateful"]
		if st == nil || st.Spec.Type != mcsv1alpha1.Headless {
			return fmt.Sprintf("stateful %+v", st)
		}
		return checkImport(st, nil, "", "Ready")
	})

	// oldest is no longer exported: youngest gets an address. In a prefix
	// this small middle had collided with oldest and probed; with oldest
	// gone it takes its home address (the documented price of computing
	// the VIPs from the clusterset alone), so the check is against what
	// every cluster computes for the new clusterset.
	mesh = &model.MeshState{LocalCluster: "cluster-a", Clusters: []*model.ClusterState{local, remote("middle", "youngest", "stateful")}}
	after := model.AllocateClusterSetIPs(model.ClusterSet(mesh), prefix)
	if len(after) != 2 || !after["sample/youngest"].IsValid() {
		t.Fatalf("allocation %v: want middle and youngest", after)
	}
	w.Update(mesh)
	wait("the freed address reused", func(imports map[string]*mcsv1alpha1.ServiceImport, _ map[string]*mcsv1alpha1.ServiceExport) string {
		if imports["sample/oldest"] != nil {
			return "oldest still imported"
		}
		for _, n := range []string{"middle", "youngest"} {
			if msg := checkImport(imports["sample/"+n], []string{after["sample/"+n].String()}, corev1.IPv4Protocol, "Ready"); msg != "" {
				return msg
			}
		}
		if ready := meta.FindStatusCondition(imports["sample/youngest"].Status.Conditions, "Ready"); ready.LastTransitionTime.Equal(&pendingSince) {
			return "youngest's Ready kept the lastTransitionTime of Pending"
		}
		return ""
	})
}

// checkImport says how si differs from the wanted ips, family and Ready
// reason; "" when it matches.
func checkImport(si *mcsv1alpha1.ServiceImport, ips []string, family corev1.IPFamily, ready string) string {
	if si == nil {
		return "import missing"
	}
	var families []corev1.IPFamily
	if family != "" {
		families = []corev1.IPFamily{family}
	}
	r := meta.FindStatusCondition(si.Status.Conditions, "Ready")
	switch {
	case !slices.Equal(si.Spec.IPs, ips) || !slices.Equal(si.Spec.IPFamilies, families):
		return fmt.Sprintf("%s: ips %v families %v, want %v %v", si.Name, si.Spec.IPs, si.Spec.IPFamilies, ips, families)
	case r == nil || r.Reason != ready || (r.Status == metav1.ConditionTrue) != (ready == "Ready"):
		return fmt.Sprintf("%s: Ready %+v, want reason %s", si.Name, r, ready)
	case si.Status.EndpointSliceObjects != mcsv1alpha1.EndpointSliceObjectsAbsent:
		return fmt.Sprintf("%s: endpointSliceObjects %q, want Absent", si.Name, si.Status.EndpointSliceObjects)
	case r.ObservedGeneration != si.Generation:
		return fmt.Sprintf("%s: Ready observedGeneration %d, generation %d", si.Name, r.ObservedGeneration, si.Generation)
	}
	return ""
}
