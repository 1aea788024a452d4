package convert

import (
	"strings"

	networking "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"

	"github.com/meshgate/meshgate/discovery/model"
)

// ServiceEntry validates and converts an Istio ServiceEntry. Location and
// resolution are always spelled out (MESH_EXTERNAL and NONE by default).
func ServiceEntry(e *networkingv1.ServiceEntry) (model.ServiceEntry, []error) {
	fe := newFieldErrs(model.KindServiceEntry, &e.ObjectMeta)
	validateServiceEntry(fe, e)
	if len(fe.list) > 0 {
		return model.ServiceEntry{}, fe.list
	}
	s := &e.Spec
	out := model.ServiceEntry{
		Meta:             meta(&e.ObjectMeta),
		Hosts:            cloneSlice(s.GetHosts()),
		Addresses:        cloneSlice(s.GetAddresses()),
		Location:         s.GetLocation().String(),
		Resolution:       s.GetResolution().String(),
		WorkloadSelector: cloneMap(s.GetWorkloadSelector().GetLabels()),
		ExportTo:         cloneSlice(s.GetExportTo()),
		SubjectAltNames:  cloneSlice(s.GetSubjectAltNames()),
	}
	for _, p := range s.GetPorts() {
		proto, _ := protocolOf(p.GetProtocol())
		out.Ports = append(out.Ports, model.SEPort{Number: p.GetNumber(), Protocol: proto, Name: p.GetName(), TargetPort: p.GetTargetPort()})
	}
	for _, w := range s.GetEndpoints() {
		out.Endpoints = append(out.Endpoints, model.WorkloadEntry{
			Address:        w.GetAddress(),
			Ports:          cloneMap(w.GetPorts()),
			Labels:         cloneMap(w.GetLabels()),
			Network:        w.GetNetwork(),
			Locality:       w.GetLocality(),
			Weight:         w.GetWeight(),
			ServiceAccount: w.GetServiceAccount(),
		})
	}
	return out, nil
}

func validateServiceEntry(fe *fieldErrs, e *networkingv1.ServiceEntry) {
	s := &e.Spec
	if len(s.Hosts) == 0 {
		fe.add("spec.hosts", "at least one host is required")
	}
	for i, h := range s.Hosts {
		if h == "*" {
			fe.add(idx("spec.hosts", i), "invalid host \"*\": a ServiceEntry host cannot be the full wildcard")
			continue
		}
		fe.addErr(idx("spec.hosts", i), validateWildcardDomain(h))
	}
	if s.WorkloadSelector != nil && len(s.Endpoints) > 0 {
		fe.add("spec", "only one of workloadSelector and endpoints may be set")
	}
	if s.WorkloadSelector != nil {
		validateLabels(fe, "spec.workloadSelector.labels", s.WorkloadSelector.Labels)
	}
	res := s.Resolution
	for i, a := range s.Addresses {
		f := idx("spec.addresses", i)
		fe.addErr(f, validateSubnet(a))
		if strings.Contains(a, "/") && res != networking.ServiceEntry_NONE && res != networking.ServiceEntry_STATIC {
			fe.add(f, "CIDR addresses are allowed only with resolution NONE or STATIC")
		}
	}
	portNames := validateSEPorts(fe, s.Ports)
	validateResolution(fe, s, portNames)
	if res != networking.ServiceEntry_NONE && len(s.Hosts) > 1 {
		for i, p := range s.Ports {
			pr, _ := protocolOf(p.GetProtocol())
			if !pr.IsHTTP() && pr != model.ProtocolHTTPS && pr != model.ProtocolTLS {
				fe.add(idx("spec.ports", i)+".protocol", "multiple hosts need HTTP or TLS ports unless resolution is NONE (plain TCP cannot tell the hosts apart)")
				break
			}
		}
	}
	validateExportTo(fe, "spec.exportTo", e.Namespace, s.ExportTo)
}

// validateResolution applies the rules that depend on the resolution mode.
func validateResolution(fe *fieldErrs, s *networking.ServiceEntry, portNames map[string]bool) {
	res := s.Resolution
	switch res {
	case networking.ServiceEntry_NONE:
		if len(s.Endpoints) > 0 {
			fe.add("spec.endpoints", "endpoints cannot be set with resolution NONE")
		}
	case networking.ServiceEntry_STATIC:
		for i, w := range s.Endpoints {
			validateWorkloadEntry(fe, idx("spec.endpoints", i), w, portNames, false)
		}
	case networking.ServiceEntry_DNS, networking.ServiceEntry_DNS_ROUND_ROBIN:
		if len(s.Endpoints) == 0 {
			for i, h := range s.Hosts {
				if strings.HasPrefix(h, "*") {
					fe.add(idx("spec.hosts", i), "host %q: without endpoints, resolution %s needs fully qualified hosts (no wildcard)", h, res)
				}
			}
		}
		if res == networking.ServiceEntry_DNS_ROUND_ROBIN && len(s.Endpoints) > 1 {
			fe.add("spec.endpoints", "resolution DNS_ROUND_ROBIN allows at most one endpoint")
		}
		for i, w := range s.Endpoints {
			validateWorkloadEntry(fe, idx("spec.endpoints", i), w, portNames, true)
		}
	case networking.ServiceEntry_DYNAMIC_DNS:
		for i, h := range s.Hosts {
			if !strings.HasPrefix(h, "*") {
				fe.add(idx("spec.hosts", i), "host %q must be wildcarded for resolution DYNAMIC_DNS", h)
			}
		}
		if len(s.Addresses) > 0 {
			fe.add("spec.addresses", "addresses cannot be set with resolution DYNAMIC_DNS")
		}
		if len(s.Endpoints) > 0 {
			fe.add("spec.endpoints", "endpoints cannot be set with resolution DYNAMIC_DNS")
		}
		for i, p := range s.Ports {
			switch pr, _ := protocolOf(p.GetProtocol()); pr {
			case model.ProtocolHTTP, model.ProtocolTLS, model.ProtocolGRPC, model.ProtocolHTTP2:
			default:
				fe.add(idx("spec.ports", i)+".protocol", "only HTTP, TLS, GRPC and HTTP2 are supported with resolution DYNAMIC_DNS")
			}
		}
	}
}

// validateSEPorts checks the ports and returns their names.
func validateSEPorts(fe *fieldErrs, ports []*networking.ServicePort) map[string]bool {
	names := map[string]bool{}
	numbers := map[uint32]bool{}
	for i, p := range ports {
		f := idx("spec.ports", i)
		if p == nil {
			fe.add(f, "port may not be null")
			continue
		}
		if p.Name == "" {
			fe.add(f+".name", "port name is required")
		} else {
			fe.addErr(f+".name", validatePortName(p.Name))
		}
		if names[p.Name] && p.Name != "" {
			fe.add(f+".name", "duplicate port name %q", p.Name)
		}
		names[p.Name] = true
		fe.addErr(f+".number", validatePort(p.Number))
		if numbers[p.Number] {
			fe.add(f+".number", "duplicate port number %d", p.Number)
		}
		numbers[p.Number] = true
		if p.TargetPort != 0 {
			fe.addErr(f+".targetPort", validatePort(p.TargetPort))
		}
		if _, ok := protocolOf(p.Protocol); p.Protocol != "" && !ok {
			fe.add(f+".protocol", "unsupported protocol %q (supported: %s)", p.Protocol, supportedProtocols)
		}
	}
	return names
}

func validateWorkloadEntry(fe *fieldErrs, f string, w *networking.WorkloadEntry, portNames map[string]bool, allowFQDN bool) {
	if w == nil {
		fe.add(f, "endpoint may not be null")
		return
	}
	addr := w.Address
	switch {
	case addr == "" && w.Network == "":
		fe.add(f+".address", "address is required")
	case addr == "":
	case strings.HasPrefix(addr, unixAddressPrefix):
		if len(w.Ports) > 0 {
			fe.add(f+".ports", "a unix socket endpoint cannot have ports")
		}
	case isIP(addr):
	case !allowFQDN:
		fe.add(f+".address", "endpoint address %q is not a valid IP address (resolution STATIC)", addr)
	default:
		if err := validateFQDN(addr); err != nil {
			fe.add(f+".address", "endpoint address %q is not a valid FQDN or IP address", addr)
		}
	}
	for _, name := range model.SortedKeys(w.Ports) {
		pf := key(f+".ports", name)
		if !portNames[name] {
			fe.add(pf, "port %q is not defined by the service entry's ports", name)
		}
		fe.addErr(pf, validatePort(w.Ports[name]))
	}
	validateLabels(fe, f+".labels", w.Labels)
}
