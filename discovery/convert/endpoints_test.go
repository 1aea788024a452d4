package convert

import (
	"fmt"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshgate/meshgate/discovery/model"
)

func ptr[T any](v T) *T { return &v }

func pod(name, ns, ip string, labels map[string]string, sa string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
		Spec:       corev1.PodSpec{ServiceAccountName: sa, NodeName: "node-" + name},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}},
	}
}

func slice(name, ns, service string, ports []discoveryv1.EndpointPort, eps ...discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{discoveryv1.LabelServiceName: service}},
		AddressType: discoveryv1.AddressTypeIPv4, Endpoints: eps, Ports: ports,
	}
}

func podRef(name, ns string) *corev1.ObjectReference {
	return &corev1.ObjectReference{Kind: "Pod", Name: name, Namespace: ns}
}

var httpSlicePort = []discoveryv1.EndpointPort{{Name: ptr("http"), Port: ptr(int32(8080))}}

// endpointsOf converts in and returns the endpoints of ns/name. The same
// Pods given as PodInfos (as the file source keeps them) must give the same.
func endpointsOf(t *testing.T, in Inputs, opts Options, ns, name string) []model.Endpoint {
	t.Helper()
	get := func(in Inputs) []model.Endpoint {
		c, errs := Cluster(in, opts)
		if len(errs) > 0 {
			t.Fatalf("errors: %v", errs)
		}
		s := c.Service(name + "." + ns + ".svc.cluster.local")
		if s == nil {
			t.Fatalf("service %s/%s missing", ns, name)
		}
		return s.Endpoints
	}
	eps := get(in)
	if len(in.Pods) > 0 {
		infos := in
		infos.Pods, infos.PodInfos = nil, nil
		for _, p := range in.Pods {
			infos.PodInfos = append(infos.PodInfos, PodInfoOf(p))
		}
		if got := get(infos); !reflect.DeepEqual(got, eps) {
			t.Errorf("from PodInfos:\n%+v\nfrom Pods:\n%+v", got, eps)
		}
	}
	return eps
}

func TestEndpointsFromSlices(t *testing.T) {
	web := svc("web", "shop", corev1.ServicePort{Name: "http", Port: 80})
	meshLabels := map[string]string{"app": "web", "version": "v1", model.LabelTLSMode: "istio", LabelLocality: "us-east1.us-east1-b.rack7"}
	in := Inputs{
		Services: []*corev1.Service{web},
		Pods: []*corev1.Pod{
			pod("web-a", "shop", "10.0.0.1", meshLabels, "web-sa"),
			pod("web-b", "shop", "10.0.0.2", map[string]string{"app": "web", LabelRegion: "eu-west1", LabelZone: "eu-west1-c", LabelSubzone: "s1", model.LabelNetwork: "net-pod"}, ""),
		},
		Namespaces: []*corev1.Namespace{{ObjectMeta: metav1.ObjectMeta{Name: "shop", Labels: map[string]string{model.LabelNetwork: "net-ns"}}}},
		EndpointSlices: []*discoveryv1.EndpointSlice{
			slice("web-1", "shop", "web", httpSlicePort,
				discoveryv1.Endpoint{Addresses: []string{"10.0.0.1"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr(true)}, TargetRef: podRef("web-a", "shop")},
				// no targetRef: joined by IP; the slice zone wins over the pod's zone label
				discoveryv1.Endpoint{Addresses: []string{"10.0.0.2"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr(false)}, Zone: ptr("eu-west1-a")},
			),
			// a second slice: an endpoint without a pod, readiness unknown (= ready)
			slice("web-2", "shop", "web", httpSlicePort, discoveryv1.Endpoint{Addresses: []string{"10.0.0.9"}, NodeName: ptr("n9")}),
			// another service's slice and an FQDN slice are not ours
			slice("api-1", "shop", "api", httpSlicePort, discoveryv1.Endpoint{Addresses: []string{"10.0.0.5"}}),
			{ObjectMeta: metav1.ObjectMeta{Name: "web-fqdn", Namespace: "shop", Labels: map[string]string{discoveryv1.LabelServiceName: "web"}},
				AddressType: discoveryv1.AddressTypeFQDN, Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"web.example.com"}}}},
		},
		// ignored: the service has EndpointSlices
		Endpoints: []*corev1.Endpoints{{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"},
			Subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: "10.9.9.9"}}}}}},
	}
	got := endpointsOf(t, in, Options{ClusterID: "c1", Network: "net-cluster"}, "shop", "web")
	want := []model.Endpoint{{
		Address: "10.0.0.1", Ports: []model.EndpointPort{{Name: "http", Port: 8080}}, Ready: true, PodName: "web-a",
		Labels: meshLabels, ServiceAccount: "web-sa", TLSMode: "istio",
		Locality: model.Locality{Region: "us-east1", Zone: "us-east1-b", Subzone: "rack7"}, Network: "net-ns", NodeName: "node-web-a",
	}, {
		Address: "10.0.0.2", Ports: []model.EndpointPort{{Name: "http", Port: 8080}}, Ready: false, PodName: "web-b",
		Labels:         map[string]string{"app": "web", LabelRegion: "eu-west1", LabelZone: "eu-west1-c", LabelSubzone: "s1", model.LabelNetwork: "net-pod"},
		ServiceAccount: "default", Locality: model.Locality{Region: "eu-west1", Zone: "eu-west1-a", Subzone: "s1"}, Network: "net-pod", NodeName: "node-web-b",
	}, {
		Address: "10.0.0.9", Ports: []model.EndpointPort{{Name: "http", Port: 8080}}, Ready: true, Network: "net-ns", NodeName: "n9",
	}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("endpoints:\n got %+v\nwant %+v", got, want)
	}
}

func TestEndpointsFromV1Endpoints(t *testing.T) {
	in := Inputs{
		Services: []*corev1.Service{svc("ratings", "default", corev1.ServicePort{Name: "http", Port: 9080}, corev1.ServicePort{Name: "admin", Port: 9090})},
		Pods:     []*corev1.Pod{pod("ratings-v1", "default", "10.1.0.3", map[string]string{"version": "v1"}, "bookinfo-ratings")},
		Endpoints: []*corev1.Endpoints{{ObjectMeta: metav1.ObjectMeta{Name: "ratings", Namespace: "default"},
			Subsets: []corev1.EndpointSubset{{
				Addresses:         []corev1.EndpointAddress{{IP: "10.1.0.3", TargetRef: podRef("ratings-v1", "")}},
				NotReadyAddresses: []corev1.EndpointAddress{{IP: "10.1.0.4", NodeName: ptr("n4")}},
				Ports:             []corev1.EndpointPort{{Name: "http", Port: 9080}, {Name: "admin", Port: 19090}},
			}}}},
	}
	got := endpointsOf(t, in, Options{ClusterID: "c1", Network: "n1"}, "default", "ratings")
	ports := []model.EndpointPort{{Name: "admin", Port: 19090}, {Name: "http", Port: 9080}}
	want := []model.Endpoint{
		{Address: "10.1.0.3", Ports: ports, Ready: true, PodName: "ratings-v1", Labels: map[string]string{"version": "v1"},
			ServiceAccount: "bookinfo-ratings", Network: "n1", NodeName: "node-ratings-v1"},
		{Address: "10.1.0.4", Ports: ports, Ready: false, Network: "n1", NodeName: "n4"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("endpoints:\n got %+v\nwant %+v", got, want)
	}
}

func TestEndpointPodByIPAmbiguity(t *testing.T) {
	// Two host-network pods share an IP in the service's namespace: neither is
	// chosen. A finished pod's IP is not used for joining.
	done := pod("old", "default", "10.2.0.1", map[string]string{"app": "old"}, "")
	done.Status.Phase = corev1.PodSucceeded
	in := Inputs{
		Services: []*corev1.Service{svc("a", "default", corev1.ServicePort{Port: 80}), svc("b", "default", corev1.ServicePort{Port: 80})},
		Pods: []*corev1.Pod{
			pod("h1", "default", "10.2.0.9", map[string]string{"app": "h1"}, ""),
			pod("h2", "default", "10.2.0.9", map[string]string{"app": "h2"}, ""),
			pod("other-ns", "kube-system", "10.2.0.9", nil, ""),
			done,
		},
		EndpointSlices: []*discoveryv1.EndpointSlice{
			slice("a-1", "default", "a", nil, discoveryv1.Endpoint{Addresses: []string{"10.2.0.9"}}),
			slice("b-1", "default", "b", nil, discoveryv1.Endpoint{Addresses: []string{"10.2.0.1"}}),
		},
	}
	for _, name := range []string{"a", "b"} {
		eps := endpointsOf(t, in, Options{ClusterID: "c"}, "default", name)
		if len(eps) != 1 || eps[0].PodName != "" || eps[0].Labels != nil {
			t.Errorf("service %s: want one endpoint without a pod, got %+v", name, eps)
		}
	}
}

func TestClusterDerivesNetworkGateways(t *testing.T) {
	gw := svc("istio-eastwestgateway", "istio-system", corev1.ServicePort{Name: "tls", Port: 15443})
	gw.Labels = map[string]string{model.LabelNetwork: "network1"}
	gw.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "203.0.113.10"}}
	plain := svc("web", "default", corev1.ServicePort{Port: 80})
	c, errs := Cluster(Inputs{Services: []*corev1.Service{plain, gw, nil}}, Options{ClusterID: "cluster1", Network: "network1"})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	want := []model.NetworkGateway{{Network: "network1", Cluster: "cluster1", Address: "203.0.113.10", Port: 15443}}
	if !reflect.DeepEqual(c.NetworkGateways, want) {
		t.Errorf("network gateways = %+v, want %+v", c.NetworkGateways, want)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("state does not validate: %v", err)
	}
	if c.ID != "cluster1" || c.Network != "network1" || len(c.Services) != 2 || c.Services[0].Name != "istio-eastwestgateway" {
		t.Errorf("unexpected state: %+v", c)
	}
}

func TestClusterSkipsInvalidKeepsRest(t *testing.T) {
	var sources []string
	c, errs := Cluster(Inputs{Services: []*corev1.Service{
		svc("good", "a", corev1.ServicePort{Port: 80}),
		svc("bad", "a", corev1.ServicePort{Port: 0}),
	}}, Options{ClusterID: "c", Source: func(k model.Kind, ns, name string) string {
		sources = append(sources, string(k)+" "+ns+"/"+name)
		return "file.yaml"
	}})
	assertOneFieldError(t, errs, model.Ref{Kind: model.KindService, Namespace: "a", Name: "bad"}, "spec.ports[0].port")
	if len(c.Services) != 1 || c.Services[0].Name != "good" || c.Services[0].Source != "file.yaml" {
		t.Errorf("services = %+v", c.Services)
	}
	if !reflect.DeepEqual(sources, []string{"Service a/good"}) {
		t.Errorf("Source asked for %v", sources)
	}
}

// TestEndpointLocalityFromNodes: a pod's locality is its locality label, else
// its Node's topology labels (GA before beta, subzone label), as istiod's
// getPodLocality; the pod's own labels and the slice zone only count when
// the Node is not known to the source.
func TestEndpointLocalityFromNodes(t *testing.T) {
	node := func(name string, labels map[string]string) *Node {
		return SlimNode(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}})
	}
	web := svc("web", "shop", corev1.ServicePort{Name: "http", Port: 80})
	onNode := func(name, ip, node string, labels map[string]string) *corev1.Pod {
		p := pod(name, "shop", ip, labels, "")
		p.Spec.NodeName = node
		return p
	}
	podLabels := map[string]string{"app": "web", LabelRegion: "pod-region", LabelZone: "pod-zone"}
	in := Inputs{
		Services: []*corev1.Service{web},
		Pods: []*corev1.Pod{
			onNode("ga", "10.0.0.1", "n-ga", podLabels),
			onNode("beta", "10.0.0.2", "n-beta", nil),
			onNode("label", "10.0.0.3", "n-ga", map[string]string{LabelLocality: "r9.z9.s9"}),
			onNode("slashes", "10.0.0.4", "n-ga", map[string]string{LabelTopologyLocality: "r8/z8", LabelLocality: "r9.z9.s9"}),
			onNode("bare", "10.0.0.5", "n-bare", podLabels),
			onNode("unknown", "10.0.0.6", "n-missing", podLabels),
		},
		Nodes: []*Node{
			node("n-ga", map[string]string{LabelRegion: "r1", LabelZone: "z1", LabelSubzone: "s1", LabelRegionBeta: "old", LabelZoneBeta: "old"}),
			node("n-beta", map[string]string{LabelRegionBeta: "r2", LabelZoneBeta: "z2"}),
			node("n-bare", map[string]string{"kubernetes.io/os": "linux"}),
		},
	}
	var eps []discoveryv1.Endpoint
	for i, name := range []string{"ga", "beta", "label", "slashes", "bare", "unknown"} {
		eps = append(eps, discoveryv1.Endpoint{Addresses: []string{fmt.Sprintf("10.0.0.%d", i+1)}, TargetRef: podRef(name, "shop"), Zone: ptr("slice-zone")})
	}
	in.EndpointSlices = []*discoveryv1.EndpointSlice{slice("web-1", "shop", "web", httpSlicePort, eps...)}
	want := map[string]model.Locality{
		"ga":      {Region: "r1", Zone: "z1", Subzone: "s1"},
		"beta":    {Region: "r2", Zone: "z2"},
		"label":   {Region: "r9", Zone: "z9", Subzone: "s9"},
		"slashes": {Region: "r8", Zone: "z8"},
		"bare":    {},
		"unknown": {Region: "pod-region", Zone: "slice-zone"},
	}
	for _, ep := range endpointsOf(t, in, Options{ClusterID: "c1"}, "shop", "web") {
		if ep.Locality != want[ep.PodName] {
			t.Errorf("pod %s: locality %+v, want %+v", ep.PodName, ep.Locality, want[ep.PodName])
		}
		delete(want, ep.PodName)
	}
	if len(want) != 0 {
		t.Errorf("endpoints missing: %v", want)
	}
}
