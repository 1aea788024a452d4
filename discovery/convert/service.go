package convert

import (
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/meshgate/meshgate/discovery/model"
)

// Service converts a Kubernetes Service (without its endpoints: Cluster joins
// them). It checks what the API server would reject and what would make a bad
// hostname or port: the name, port numbers, port names.
func Service(s *corev1.Service, domainSuffix string) (model.Service, []error) {
	fe := newFieldErrs(model.KindService, &s.ObjectMeta)
	validateService(s, fe)
	if len(fe.list) > 0 {
		return model.Service{}, fe.list
	}
	if domainSuffix == "" {
		domainSuffix = model.DefaultDomainSuffix
	}
	m := meta(&s.ObjectMeta)
	out := model.Service{
		Meta:         m,
		Hostname:     m.Name + "." + m.Namespace + ".svc." + domainSuffix,
		ClusterIP:    s.Spec.ClusterIP,
		Type:         string(s.Spec.Type),
		ExternalIPs:  slices.Clone(s.Spec.ExternalIPs),
		ExternalName: s.Spec.ExternalName,
	}
	if out.Type == "" {
		out.Type = string(corev1.ServiceTypeClusterIP)
	}
	if len(s.Spec.Selector) > 0 {
		out.Selector = maps.Clone(s.Spec.Selector)
	}
	for _, p := range s.Spec.Ports {
		out.Ports = append(out.Ports, servicePort(p))
	}
	for _, ing := range s.Status.LoadBalancer.Ingress {
		switch {
		case ing.IP != "":
			out.LoadBalancerIPs = append(out.LoadBalancerIPs, ing.IP)
		case ing.Hostname != "":
			out.LoadBalancerIPs = append(out.LoadBalancerIPs, ing.Hostname)
		}
	}
	return out, nil
}

func servicePort(p corev1.ServicePort) model.ServicePort {
	sp := model.ServicePort{Name: p.Name, Port: uint32(p.Port), Protocol: string(p.Protocol)}
	if sp.Protocol == "" {
		sp.Protocol = string(corev1.ProtocolTCP)
	}
	if p.AppProtocol != nil {
		sp.AppProtocol = *p.AppProtocol
	}
	switch {
	case p.TargetPort.Type == intstr.String && p.TargetPort.StrVal != "":
		sp.TargetPortName = p.TargetPort.StrVal
	case p.TargetPort.Type == intstr.Int && p.TargetPort.IntVal > 0:
		sp.TargetPort = uint32(p.TargetPort.IntVal)
	}
	return sp
}

func validateService(s *corev1.Service, fe *fieldErrs) {
	for _, msg := range validation.IsDNS1035Label(s.Name) {
		fe.add("metadata.name", "invalid service name %q: %s", s.Name, msg)
	}
	if s.Namespace != "" {
		for _, msg := range validation.IsDNS1123Label(s.Namespace) {
			fe.add("metadata.namespace", "invalid namespace %q: %s", s.Namespace, msg)
		}
	}
	names := map[string]bool{}
	type portKey struct {
		port  int32
		proto corev1.Protocol
	}
	seen := map[portKey]bool{}
	for i, p := range s.Spec.Ports {
		f := idx("spec.ports", i)
		if len(s.Spec.Ports) > 1 && p.Name == "" {
			fe.add(f+".name", "a name is required when a service has more than one port")
		}
		if p.Name != "" {
			for _, msg := range validation.IsDNS1123Label(p.Name) {
				fe.add(f+".name", "invalid port name %q: %s", p.Name, msg)
			}
			if names[p.Name] {
				fe.add(f+".name", "duplicate port name %q", p.Name)
			}
			names[p.Name] = true
		}
		for _, msg := range validation.IsValidPortNum(int(p.Port)) {
			fe.add(f+".port", "%s", msg)
		}
		proto := p.Protocol
		if proto == "" {
			proto = corev1.ProtocolTCP
		}
		if seen[portKey{p.Port, proto}] {
			fe.add(f+".port", "duplicate port %d/%s", p.Port, proto)
		}
		seen[portKey{p.Port, proto}] = true
		switch p.TargetPort.Type {
		case intstr.Int:
			if p.TargetPort.IntVal != 0 {
				for _, msg := range validation.IsValidPortNum(int(p.TargetPort.IntVal)) {
					fe.add(f+".targetPort", "%s", msg)
				}
			}
		case intstr.String:
			for _, msg := range validation.IsValidPortName(p.TargetPort.StrVal) {
				fe.add(f+".targetPort", "invalid target port name %q: %s", p.TargetPort.StrVal, msg)
			}
		}
	}
}

// Namespace converts a Kubernetes Namespace.
func Namespace(n *corev1.Namespace) model.Namespace {
	m := meta(&n.ObjectMeta)
	m.Namespace = "" // cluster-scoped
	return model.Namespace{Meta: m}
}

// tlsSecretKeys are the data keys that make a Secret usable as TLS material
// for credentialName (Istio reads tls.crt/tls.key/ca.crt, or cert/key/cacert,
// and ca.crl).
var tlsSecretKeys = []string{"tls.crt", "tls.key", "ca.crt", "cert", "key", "cacert", "ca.crl"}

// Secret converts a Kubernetes Secret holding TLS material. Other Secrets
// (passwords, tokens, remote secrets) are not part of the model: ok is false.
// stringData entries are merged into data, as the API server does.
func Secret(s *corev1.Secret) (sec model.Secret, ok bool) {
	data := make(map[string][]byte, len(s.Data)+len(s.StringData))
	for k, v := range s.Data {
		data[k] = slices.Clone(v)
	}
	for k, v := range s.StringData {
		data[k] = []byte(v)
	}
	if s.Type != corev1.SecretTypeTLS && !slices.ContainsFunc(tlsSecretKeys, func(k string) bool { _, ok := data[k]; return ok }) {
		return model.Secret{}, false
	}
	t := string(s.Type)
	if t == "" {
		t = string(corev1.SecretTypeOpaque)
	}
	return model.Secret{Meta: meta(&s.ObjectMeta), Type: t, Data: data}, true
}
