package convert

import (
	"errors"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/meshgate/meshgate/discovery/model"
)

func svc(name, ns string, ports ...corev1.ServicePort) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: corev1.ServiceSpec{Ports: ports}}
}

func TestServiceConversion(t *testing.T) {
	appProto := "kubernetes.io/h2c"
	tests := []struct {
		name   string
		in     *corev1.Service
		suffix string
		want   model.Service
	}{{
		name: "minimal: default namespace, type and protocol; unset targetPort",
		in:   svc("web", "", corev1.ServicePort{Port: 80}),
		want: model.Service{Meta: model.Meta{Name: "web", Namespace: "default"}, Hostname: "web.default.svc.cluster.local",
			Type: "ClusterIP", Ports: []model.ServicePort{{Port: 80, Protocol: "TCP"}}},
	}, {
		name: "numeric and named target ports, app protocol, custom domain",
		in: svc("api", "prod",
			corev1.ServicePort{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)},
			corev1.ServicePort{Name: "grpc", Port: 9090, TargetPort: intstr.FromString("grpc-port"), Protocol: corev1.ProtocolTCP, AppProtocol: &appProto},
			corev1.ServicePort{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP}),
		suffix: "example.internal",
		want: model.Service{Meta: model.Meta{Name: "api", Namespace: "prod"}, Hostname: "api.prod.svc.example.internal", Type: "ClusterIP",
			Ports: []model.ServicePort{
				{Name: "http", Port: 80, TargetPort: 8080, Protocol: "TCP"},
				{Name: "grpc", Port: 9090, TargetPortName: "grpc-port", Protocol: "TCP", AppProtocol: "kubernetes.io/h2c"},
				{Name: "dns", Port: 53, Protocol: "UDP"},
			}},
	}, {
		name: "load balancer: ingress IPs and hostnames, external IPs, selector, labels; last-applied annotation dropped",
		in: &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "istio-eastwestgateway", Namespace: "istio-system",
				Labels:      map[string]string{model.LabelNetwork: "network1"},
				Annotations: map[string]string{lastAppliedAnnotation: `{"secret":"x"}`, "owner": "team-a"}},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ClusterIP: "10.96.0.200",
				Selector: map[string]string{"istio": "eastwestgateway"}, ExternalIPs: []string{"192.168.1.10"},
				Ports: []corev1.ServicePort{{Name: "tls", Port: 15443, TargetPort: intstr.FromInt32(15443)}}},
			Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{
				{IP: "203.0.113.7"}, {Hostname: "lb.example.com"}, {}}}},
		},
		want: model.Service{
			Meta: model.Meta{Name: "istio-eastwestgateway", Namespace: "istio-system",
				Labels: map[string]string{model.LabelNetwork: "network1"}, Annotations: map[string]string{"owner": "team-a"}},
			Hostname: "istio-eastwestgateway.istio-system.svc.cluster.local", ClusterIP: "10.96.0.200", Type: "LoadBalancer",
			Selector: map[string]string{"istio": "eastwestgateway"}, ExternalIPs: []string{"192.168.1.10"},
			LoadBalancerIPs: []string{"203.0.113.7", "lb.example.com"},
			Ports:           []model.ServicePort{{Name: "tls", Port: 15443, TargetPort: 15443, Protocol: "TCP"}},
		},
	}, {
		name: "external name",
		in: &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "ext", Namespace: "a"},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "db.example.com"}},
		want: model.Service{Meta: model.Meta{Name: "ext", Namespace: "a"}, Hostname: "ext.a.svc.cluster.local",
			Type: "ExternalName", ExternalName: "db.example.com"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, errs := Service(tt.in, tt.suffix)
			if len(errs) > 0 {
				t.Fatalf("unexpected errors: %v", errs)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestServiceValidation(t *testing.T) {
	tests := []struct {
		name  string
		in    *corev1.Service
		field string
	}{
		{"invalid name", svc("Web_1", "a", corev1.ServicePort{Port: 80}), "metadata.name"},
		{"invalid namespace", svc("web", "A_B", corev1.ServicePort{Port: 80}), "metadata.namespace"},
		{"port out of range", svc("web", "a", corev1.ServicePort{Port: 70000}), "spec.ports[0].port"},
		{"second port without a name", svc("web", "a", corev1.ServicePort{Name: "http", Port: 80}, corev1.ServicePort{Port: 81}), "spec.ports[1].name"},
		{"duplicate port name", svc("web", "a", corev1.ServicePort{Name: "http", Port: 80}, corev1.ServicePort{Name: "http", Port: 81}), "spec.ports[1].name"},
		{"duplicate port number", svc("web", "a", corev1.ServicePort{Name: "a", Port: 80}, corev1.ServicePort{Name: "b", Port: 80}), "spec.ports[1].port"},
		{"invalid port name", svc("web", "a", corev1.ServicePort{Name: "HTTP", Port: 80}), "spec.ports[0].name"},
		{"target port out of range", svc("web", "a", corev1.ServicePort{Port: 80, TargetPort: intstr.FromInt32(99999)}), "spec.ports[0].targetPort"},
		{"invalid target port name", svc("web", "a", corev1.ServicePort{Port: 80, TargetPort: intstr.FromString("not a name")}), "spec.ports[0].targetPort"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, errs := Service(tt.in, "")
			ns := tt.in.Namespace
			assertOneFieldError(t, errs, model.Ref{Kind: model.KindService, Namespace: ns, Name: tt.in.Name}, tt.field)
		})
	}
}

// assertOneFieldError checks that errs holds exactly one error, a FieldError
// for obj at field.
func assertOneFieldError(t *testing.T, errs []error, obj model.Ref, field string) {
	t.Helper()
	if len(errs) != 1 {
		t.Fatalf("want 1 error at %s, got %d: %v", field, len(errs), errs)
	}
	var fe *model.FieldError
	if !errors.As(errs[0], &fe) {
		t.Fatalf("error %v is not a *model.FieldError", errs[0])
	}
	if fe.Object != obj || fe.Field != field {
		t.Fatalf("error at %v %q, want %v %q (%v)", fe.Object, fe.Field, obj, field, fe)
	}
	if fe.Msg == "" {
		t.Fatalf("error without a message: %#v", fe)
	}
}

func TestSecretConversion(t *testing.T) {
	tests := []struct {
		name string
		in   *corev1.Secret
		ok   bool
		want model.Secret
	}{{
		name: "kubernetes.io/tls",
		in: &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "cred", Namespace: "istio-system"}, Type: corev1.SecretTypeTLS,
			Data: map[string][]byte{"tls.crt": []byte("C"), "tls.key": []byte("K")}},
		ok:   true,
		want: model.Secret{Meta: model.Meta{Name: "cred", Namespace: "istio-system"}, Type: "kubernetes.io/tls", Data: map[string][]byte{"tls.crt": []byte("C"), "tls.key": []byte("K")}},
	}, {
		name: "generic with cacert, stringData merged, default type",
		in: &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "cred-cacert"},
			StringData: map[string]string{"cacert": "CA"}},
		ok:   true,
		want: model.Secret{Meta: model.Meta{Name: "cred-cacert", Namespace: "default"}, Type: "Opaque", Data: map[string][]byte{"cacert": []byte("CA")}},
	}, {
		name: "a password is not TLS material",
		in: &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "mysql-credentials"}, Type: corev1.SecretTypeOpaque,
			Data: map[string][]byte{"rootpasswd": []byte("password")}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Secret(tt.in)
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			if ok && !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v\nwant %#v", got.Data, tt.want.Data)
			}
		})
	}
}

func TestNamespaceConversion(t *testing.T) {
	got := Namespace(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "istio-system", Labels: map[string]string{model.LabelNetwork: "n1"}}})
	want := model.Namespace{Meta: model.Meta{Name: "istio-system", Labels: map[string]string{model.LabelNetwork: "n1"}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}
