package convert

import (
	"cmp"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshgate/meshgate/discovery/model"
)

// Labels read from pods when building endpoints.
const (
	// LabelLocality is Istio's pod label "region.zone.subzone" (dots, since
	// label values cannot hold slashes).
	LabelLocality = "istio-locality"
	// LabelTopologyLocality is its newer name, read first.
	LabelTopologyLocality = "topology.istio.io/locality"
	// The Node labels of region and zone before Kubernetes 1.17, read when
	// the topology.kubernetes.io ones are missing.
	LabelRegionBeta = "failure-domain.beta.kubernetes.io/region"
	LabelZoneBeta   = "failure-domain.beta.kubernetes.io/zone"
	LabelRegion     = model.LabelRegion
	LabelZone       = model.LabelZone
	LabelSubzone    = model.LabelSubzone
)

// endpointIndex joins EndpointSlices (or v1 Endpoints) with Pods and
// Namespaces to build the endpoints of each Service.
type endpointIndex struct {
	network         string
	namespaceLabels map[string]map[string]string
	nodes           map[string]model.Locality
	pods            map[string]*PodInfo   // namespace/name
	podsByIP        map[string][]*PodInfo // running pods only
	slices          map[string][]*discoveryv1.EndpointSlice
	endpoints       map[string]*corev1.Endpoints
}

func nsName(ns, name string) string {
	if ns == "" {
		ns = DefaultNamespace
	}
	return ns + "/" + name
}

func newEndpointIndex(in Inputs, network string, nsLabels map[string]map[string]string) *endpointIndex {
	x := &endpointIndex{
		network:         network,
		namespaceLabels: nsLabels,
		nodes:           map[string]model.Locality{},
		pods:            map[string]*PodInfo{},
		podsByIP:        map[string][]*PodInfo{},
		slices:          map[string][]*discoveryv1.EndpointSlice{},
		endpoints:       map[string]*corev1.Endpoints{},
	}
	infos := make([]PodInfo, len(in.Pods)) // one allocation for the Pods' infos
	pods := make([]*PodInfo, 0, len(in.Pods)+len(in.PodInfos))
	for i, p := range in.Pods {
		if p != nil {
			infos[i] = podInfo(p)
			pods = append(pods, &infos[i])
		}
	}
	for _, p := range in.PodInfos {
		if p != nil {
			pods = append(pods, p)
		}
	}
	for _, p := range pods {
		x.pods[nsName(p.Namespace, p.Name)] = p
		if p.Phase == corev1.PodSucceeded || p.Phase == corev1.PodFailed {
			continue // its IP may already belong to another pod
		}
		ips := []string{p.PodIP}
		for _, ip := range p.PodIPs {
			ips = append(ips, ip.IP)
		}
		slices.Sort(ips)
		for _, ip := range slices.Compact(ips) {
			if ip != "" {
				x.podsByIP[ip] = append(x.podsByIP[ip], p)
			}
		}
	}
	for _, n := range in.Nodes {
		if n != nil {
			x.nodes[n.Name] = n.Locality
		}
	}
	for _, s := range in.EndpointSlices {
		if s == nil || s.Labels[discoveryv1.LabelServiceName] == "" {
			continue
		}
		k := nsName(s.Namespace, s.Labels[discoveryv1.LabelServiceName])
		x.slices[k] = append(x.slices[k], s)
	}
	for _, e := range in.Endpoints {
		if e != nil {
			x.endpoints[nsName(e.Namespace, e.Name)] = e
		}
	}
	return x
}

// endpointsFor returns the endpoints of s: from its EndpointSlices, or from
// its v1 Endpoints when it has no EndpointSlice.
func (x *endpointIndex) endpointsFor(s *corev1.Service) []model.Endpoint {
	ns := s.Namespace
	if ns == "" {
		ns = DefaultNamespace
	}
	b := endpointBuilder{x: x, namespace: ns, byAddr: map[string]int{}}
	if sl := x.slices[nsName(ns, s.Name)]; len(sl) > 0 {
		sl = slices.Clone(sl)
		slices.SortFunc(sl, func(a, b *discoveryv1.EndpointSlice) int { return cmp.Compare(a.Name, b.Name) })
		for _, slice := range sl {
			b.addSlice(slice)
		}
	} else if e := x.endpoints[nsName(ns, s.Name)]; e != nil {
		b.addEndpoints(e)
	}
	return b.out
}

type endpointBuilder struct {
	x         *endpointIndex
	namespace string
	out       []model.Endpoint
	byAddr    map[string]int
}

func (b *endpointBuilder) addSlice(s *discoveryv1.EndpointSlice) {
	if s.AddressType == discoveryv1.AddressTypeFQDN {
		return
	}
	var ports []model.EndpointPort
	for _, p := range s.Ports {
		if p.Port == nil {
			continue
		}
		ports = append(ports, model.EndpointPort{Name: deref(p.Name), Port: uint32(*p.Port)})
	}
	for _, e := range s.Endpoints {
		ready := e.Conditions.Ready == nil || *e.Conditions.Ready
		for _, addr := range e.Addresses {
			pod := b.x.pod(e.TargetRef, addr, b.namespace)
			b.add(addr, ports, ready, pod, deref(e.Zone), deref(e.NodeName))
		}
	}
}

func (b *endpointBuilder) addEndpoints(e *corev1.Endpoints) {
	for _, ss := range e.Subsets {
		var ports []model.EndpointPort
		for _, p := range ss.Ports {
			ports = append(ports, model.EndpointPort{Name: p.Name, Port: uint32(p.Port)})
		}
		for _, set := range []struct {
			addrs []corev1.EndpointAddress
			ready bool
		}{{ss.Addresses, true}, {ss.NotReadyAddresses, false}} {
			for _, a := range set.addrs {
				pod := b.x.pod(a.TargetRef, a.IP, b.namespace)
				b.add(a.IP, ports, set.ready, pod, "", deref(a.NodeName))
			}
		}
	}
}

// add records one address; an address seen before (in another slice) only
// gains the ports it did not have.
func (b *endpointBuilder) add(addr string, ports []model.EndpointPort, ready bool, pod *PodInfo, zone, node string) {
	if addr == "" {
		return
	}
	if i, ok := b.byAddr[addr]; ok {
		ep := &b.out[i]
		for _, p := range ports {
			if _, has := ep.Port(p.Name); !has {
				ep.Ports = append(ep.Ports, p)
			}
		}
		return
	}
	ep := model.Endpoint{Address: addr, Ports: slices.Clone(ports), Ready: ready, NodeName: node}
	var labels map[string]string
	podNS := b.namespace
	if pod != nil {
		labels = pod.Labels
		podNS = pod.Namespace
		ep.PodName = pod.Name
		if len(labels) > 0 {
			// shared with the pod: sources replace pods, never modify
			// them, and a large mesh has tens of thousands of endpoints
			ep.Labels = labels
		}
		ep.ServiceAccount = pod.ServiceAccountName
		if ep.ServiceAccount == "" {
			ep.ServiceAccount = "default" // what the API server fills in
		}
		if ep.NodeName == "" {
			ep.NodeName = pod.NodeName
		}
	}
	if labels[model.LabelTLSMode] == model.TLSModeIstio {
		ep.TLSMode = model.TLSModeIstio
	}
	onNode := ep.NodeName
	if pod != nil && pod.NodeName != "" {
		onNode = pod.NodeName // istiod reads the pod's node
	}
	ep.Locality = b.x.locality(labels, zone, onNode)
	ep.Network = b.x.networkOf(labels, podNS)
	b.byAddr[addr] = len(b.out)
	b.out = append(b.out, ep)
}

// pod finds the pod behind an endpoint address: by targetRef, else by IP. An
// IP shared by several pods (host network) names none of them.
func (x *endpointIndex) pod(ref *corev1.ObjectReference, ip, svcNamespace string) *PodInfo {
	if ref != nil && (ref.Kind == "" || ref.Kind == "Pod") && ref.Name != "" {
		ns := ref.Namespace
		if ns == "" {
			ns = svcNamespace
		}
		if p := x.pods[nsName(ns, ref.Name)]; p != nil {
			return p
		}
	}
	cands := x.podsByIP[ip]
	if len(cands) > 1 {
		var same []*PodInfo
		for _, p := range cands {
			if p.Namespace == svcNamespace || (p.Namespace == "" && svcNamespace == DefaultNamespace) {
				same = append(same, p)
			}
		}
		cands = same
	}
	if len(cands) == 1 {
		return cands[0]
	}
	return nil
}

// networkOf is the pod's network label, else its namespace's, else the
// cluster's network.
func (x *endpointIndex) networkOf(podLabels map[string]string, namespace string) string {
	if n := podLabels[model.LabelNetwork]; n != "" {
		return n
	}
	if n := x.namespaceLabels[namespace][model.LabelNetwork]; n != "" {
		return n
	}
	return x.network
}

// locality is where a pod on node runs, as istiod's getPodLocality says: its
// locality label (topology.istio.io/locality, else istio-locality:
// "region.zone.subzone", or with slashes), else its Node's topology labels
// (NodeLocality). Only when the source has no such Node (one that reads no
// Nodes, or a pod not scheduled yet), the pod's own topology labels, with
// the EndpointSlice zone before the pod's zone label.
func (x *endpointIndex) locality(labels map[string]string, sliceZone, node string) model.Locality {
	v := labels[LabelTopologyLocality]
	if v == "" {
		v = labels[LabelLocality]
	}
	if v != "" {
		sep := "."
		if strings.Contains(v, "/") {
			sep = "/"
		}
		parts := strings.SplitN(v, sep, 3)
		var l model.Locality
		l.Region = parts[0]
		if len(parts) > 1 {
			l.Zone = parts[1]
		}
		if len(parts) > 2 {
			l.Subzone = parts[2]
		}
		return l
	}
	if l, ok := x.nodes[node]; ok && node != "" {
		return l
	}
	l := model.Locality{Region: labels[LabelRegion], Zone: sliceZone, Subzone: labels[LabelSubzone]}
	if l.Zone == "" {
		l.Zone = labels[LabelZone]
	}
	return l
}

// Node is what meshgate keeps of a Kubernetes Node: its name and locality.
type Node struct {
	Name     string
	Locality model.Locality // zero when its labels name none
}

// SlimNode keeps a Node's name and locality.
func SlimNode(n *corev1.Node) *Node {
	return &Node{Name: n.Name, Locality: NodeLocality(n.Labels)}
}

// NodeLocality is the locality of a Node's labels, as istiod reads them:
// topology.kubernetes.io/region and zone (else their failure-domain.beta
// predecessors) and topology.istio.io/subzone.
func NodeLocality(labels map[string]string) model.Locality {
	return model.Locality{
		Region:  cmp.Or(labels[LabelRegion], labels[LabelRegionBeta]),
		Zone:    cmp.Or(labels[LabelZone], labels[LabelZoneBeta]),
		Subzone: labels[LabelSubzone],
	}
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// PodInfo is what Cluster reads of a Pod (SlimPod's part), in a fraction
// of a corev1.Pod's memory: how the file source keeps its Pods.
type PodInfo struct {
	metav1.ObjectMeta  // name, namespace, labels, UID, resource version, deletion time
	ServiceAccountName string
	NodeName           string
	Phase              corev1.PodPhase
	PodIP              string
	PodIPs             []corev1.PodIP
}

// PodInfoOf is the part of p that Cluster reads, as SlimPod keeps it.
func PodInfoOf(p *corev1.Pod) *PodInfo {
	i := podInfo(p)
	return &i
}

func podInfo(p *corev1.Pod) PodInfo {
	return PodInfo{
		ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace, UID: p.UID, ResourceVersion: p.ResourceVersion,
			Labels: p.Labels, DeletionTimestamp: p.DeletionTimestamp},
		ServiceAccountName: p.Spec.ServiceAccountName, NodeName: p.Spec.NodeName,
		Phase: p.Status.Phase, PodIP: p.Status.PodIP, PodIPs: p.Status.PodIPs,
	}
}

// SlimPod is the part of a Pod that Cluster reads (name, labels, service
// account, node, phase and IPs) plus what an informer's cache needs (UID,
// resource version, deletion time): the Kubernetes source keeps this copy
// in its informer cache, not the whole Pod, so that large clusters cost
// less memory (the file source keeps a PodInfo).
func SlimPod(p *corev1.Pod) *corev1.Pod {
	return &corev1.Pod{
		TypeMeta: p.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{
			Name:              p.Name,
			Namespace:         p.Namespace,
			UID:               p.UID,
			ResourceVersion:   p.ResourceVersion,
			Labels:            p.Labels,
			DeletionTimestamp: p.DeletionTimestamp,
		},
		Spec: corev1.PodSpec{ServiceAccountName: p.Spec.ServiceAccountName, NodeName: p.Spec.NodeName},
		Status: corev1.PodStatus{
			Phase:  p.Status.Phase,
			PodIP:  p.Status.PodIP,
			PodIPs: p.Status.PodIPs,
		},
	}
}
