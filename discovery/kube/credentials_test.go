package kube

import (
	"slices"
	"testing"

	knetworkingv1 "k8s.io/api/networking/v1"
)

// credentialNames finds every place a Secret name can come from.
func TestCredentialNames(t *testing.T) {
	gws, err := decodeIstio[gatewayT](`
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: g}
spec:
  servers:
  - port: {number: 443, name: a, protocol: HTTPS}
    hosts: ["*"]
    tls: {mode: SIMPLE, credentialName: one}
  - port: {number: 8443, name: b, protocol: HTTPS}
    hosts: ["*"]
    tls: {mode: SIMPLE, credentialNames: [two, three]}
  - port: {number: 9443, name: c, protocol: HTTPS}
    hosts: ["*"]
    tls: {mode: SIMPLE, credentialName: "Not_A_Valid_Name"}
`)
	if err != nil {
		t.Fatal(err)
	}
	drs, err := decodeIstio[destinationRuleT](`
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: d}
spec:
  host: x
  trafficPolicy:
    tls: {mode: MUTUAL, credentialName: four}
    portLevelSettings:
    - port: {number: 80}
      tls: {mode: MUTUAL, credentialName: five}
  subsets:
  - name: s
    trafficPolicy:
      tls: {mode: MUTUAL, credentialName: six}
`)
	if err != nil {
		t.Fatal(err)
	}
	ing := &knetworkingv1.Ingress{Spec: knetworkingv1.IngressSpec{TLS: []knetworkingv1.IngressTLS{{SecretName: "seven"}}}}
	got := credentialNames(gws, drs, []*knetworkingv1.Ingress{ing})
	want := []string{"five", "five-cacert", "four", "four-cacert", "one", "one-cacert", "seven", "seven-cacert", "six", "six-cacert", "three", "three-cacert", "two", "two-cacert"}
	if !slices.Equal(got, want) {
		t.Errorf("credentialNames = %v, want %v", got, want)
	}
}
