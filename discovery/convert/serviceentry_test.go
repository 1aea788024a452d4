package convert

import (
	"reflect"
	"testing"

	"github.com/meshgate/meshgate/discovery/model"
)

func TestServiceEntryConversion(t *testing.T) {
	tests := []struct {
		name string
		spec string
		want model.ServiceEntry
	}{{
		name: "DNS with defaults spelled out",
		spec: `
hosts: [edition.cnn.com]
ports:
- {number: 80, name: http-port, protocol: HTTP}
- {number: 443, name: https, protocol: https, targetPort: 8443}
resolution: DNS`,
		want: model.ServiceEntry{Meta: model.Meta{Name: "se", Namespace: "default"}, Hosts: []string{"edition.cnn.com"},
			Ports:    []model.SEPort{{Number: 80, Protocol: "HTTP", Name: "http-port"}, {Number: 443, Protocol: "HTTPS", Name: "https", TargetPort: 8443}},
			Location: "MESH_EXTERNAL", Resolution: "DNS"},
	}, {
		name: "STATIC with endpoints, internal",
		spec: `
hosts: [db.internal.example]
addresses: [10.10.0.0/24]
location: MESH_INTERNAL
resolution: STATIC
exportTo: ["."]
subjectAltNames: ["spiffe://td/ns/db/sa/db"]
ports: [{number: 5432, name: tcp-pg, protocol: TCP}]
endpoints:
- {address: 10.10.0.5, ports: {tcp-pg: 15432}, labels: {app: db}, network: n2, locality: r1/z1, weight: 3, serviceAccount: db}`,
		want: model.ServiceEntry{Meta: model.Meta{Name: "se", Namespace: "default"}, Hosts: []string{"db.internal.example"},
			Addresses: []string{"10.10.0.0/24"}, Location: "MESH_INTERNAL", Resolution: "STATIC", ExportTo: []string{"."},
			SubjectAltNames: []string{"spiffe://td/ns/db/sa/db"},
			Ports:           []model.SEPort{{Number: 5432, Protocol: "TCP", Name: "tcp-pg"}},
			Endpoints: []model.WorkloadEntry{{Address: "10.10.0.5", Ports: map[string]uint32{"tcp-pg": 15432}, Labels: map[string]string{"app": "db"},
				Network: "n2", Locality: "r1/z1", Weight: 3, ServiceAccount: "db"}}},
	}, {
		name: "workload selector",
		spec: "hosts: [vm.example.com]\nresolution: STATIC\nworkloadSelector: {labels: {app: vm}}\nports: [{number: 80, name: http, protocol: HTTP}]",
		want: model.ServiceEntry{Meta: model.Meta{Name: "se", Namespace: "default"}, Hosts: []string{"vm.example.com"},
			Location: "MESH_EXTERNAL", Resolution: "STATIC", WorkloadSelector: map[string]string{"app": "vm"},
			Ports: []model.SEPort{{Number: 80, Protocol: "HTTP", Name: "http"}}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, errs := ServiceEntry(se(t, tt.spec))
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestServiceEntryValidation(t *testing.T) {
	const port = "ports: [{number: 80, name: http, protocol: HTTP}]\n"
	tests := []struct {
		name  string
		spec  string
		field string
	}{
		{"no hosts", port, "spec.hosts"},
		{"full wildcard host", "hosts: [\"*\"]\n" + port, "spec.hosts[0]"},
		{"invalid host", "hosts: [\"a.*.com\"]\n" + port, "spec.hosts[0]"},
		{"port without name", "hosts: [a.com]\nports: [{number: 80, protocol: HTTP}]", "spec.ports[0].name"},
		{"invalid port name", "hosts: [a.com]\nports: [{number: 80, name: Http_1, protocol: HTTP}]", "spec.ports[0].name"},
		{"port number", "hosts: [a.com]\nports: [{number: 0, name: http, protocol: HTTP}]", "spec.ports[0].number"},
		{"duplicate port number", "hosts: [a.com]\nports: [{number: 80, name: a, protocol: HTTP}, {number: 80, name: b, protocol: HTTP}]", "spec.ports[1].number"},
		{"duplicate port name", "hosts: [a.com]\nports: [{number: 80, name: a, protocol: HTTP}, {number: 81, name: a, protocol: HTTP}]", "spec.ports[1].name"},
		{"unknown protocol", "hosts: [a.com]\nports: [{number: 80, name: a, protocol: QUIC}]", "spec.ports[0].protocol"},
		{"endpoints with NONE", "hosts: [a.com]\n" + port + "endpoints: [{address: 1.2.3.4}]", "spec.endpoints"},
		{"STATIC endpoint not an IP", "hosts: [a.com]\nresolution: STATIC\n" + port + "endpoints: [{address: db.example.com}]", "spec.endpoints[0].address"},
		{"STATIC endpoint without address", "hosts: [a.com]\nresolution: STATIC\n" + port + "endpoints: [{labels: {a: b}}]", "spec.endpoints[0].address"},
		{"endpoint port not declared", "hosts: [a.com]\nresolution: STATIC\n" + port + "endpoints: [{address: 1.2.3.4, ports: {grpc: 9000}}]", "spec.endpoints[0].ports[grpc]"},
		{"DNS without endpoints needs FQDN hosts", "hosts: [\"*.a.com\"]\nresolution: DNS\n" + port, "spec.hosts[0]"},
		{"DNS_ROUND_ROBIN with two endpoints", "hosts: [a.com]\nresolution: DNS_ROUND_ROBIN\n" + port + "endpoints: [{address: b.com}, {address: c.com}]", "spec.endpoints"},
		{"CIDR with DNS", "hosts: [a.com]\naddresses: [10.0.0.0/8]\nresolution: DNS\n" + port, "spec.addresses[0]"},
		{"invalid address", "hosts: [a.com]\naddresses: [not-an-ip]\n" + port, "spec.addresses[0]"},
		{"selector and endpoints", "hosts: [a.com]\nresolution: STATIC\nworkloadSelector: {labels: {app: a}}\n" + port + "endpoints: [{address: 1.2.3.4}]", "spec"},
		{"multiple hosts with TCP", "hosts: [a.com, b.com]\nresolution: DNS\nports: [{number: 5432, name: tcp, protocol: TCP}]", "spec.ports[0].protocol"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, errs := ServiceEntry(se(t, tt.spec))
			assertOneFieldError(t, errs, model.Ref{Kind: model.KindServiceEntry, Namespace: "default", Name: "se"}, tt.field)
		})
	}
}
