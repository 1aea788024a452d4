package remote

import (
	"bytes"
	"testing"
)

type pinCall struct {
	cluster string
	bundle  []byte
}

// A remote secret from Kubernetes carrying the cluster's trust bundle
// (annotation meshgate.io/trust-bundle) pins it for the cluster its
// networking.istio.io/cluster annotation names; a gossiped secret never
// pins; a bundle that is not PEM rejects the key, naming the annotation.
func TestTrustBundleAnnotationPins(t *testing.T) {
	var pins []pinCall
	c, err := NewController(Config{LocalClusterID: "a"}, Options{
		Publish: newSink().publish, Remove: newSink().remove,
		Pin: func(cluster string, bundle []byte) { pins = append(pins, pinCall{cluster, bundle}) }})
	if err != nil {
		t.Fatal(err)
	}
	bundle := decodeB64(t, testCAB64)
	annotated := func(cluster, pem string) map[string]string {
		return map[string]string{AnnotationCluster: cluster, AnnotationTrustBundle: pem}
	}
	s := remoteSecret("istio-remote-secret-b", map[string]string{"b": goodKubeconfig})
	s.Annotations = annotated("b", string(bundle))
	cs, errs := ClustersFromSecret(s)
	if len(errs) != 0 || len(cs) != 1 || !bytes.Equal(cs[0].TrustBundle, bundle) {
		t.Fatalf("clusters %+v, errors %v", cs, errs)
	}
	if err := c.SetSecret(SourceKubernetes, s); err != nil {
		t.Fatal(err)
	}
	if len(pins) != 1 || pins[0].cluster != "b" || !bytes.Equal(pins[0].bundle, bundle) {
		t.Fatalf("pins after a Kubernetes secret: %+v", pins)
	}
	if err := c.SetSecret(SourceFederation, s); err != nil {
		t.Fatal(err)
	}
	if len(pins) != 1 {
		t.Fatalf("a gossiped secret pinned: %+v", pins)
	}

	other := remoteSecret("istio-remote-secret-c", map[string]string{"b": goodKubeconfig})
	other.Annotations = annotated("c", string(bundle)) // the bundle is c's, the key b's
	if cs, errs := ClustersFromSecret(other); len(errs) != 0 || len(cs) != 1 || cs[0].TrustBundle != nil {
		t.Fatalf("a bundle of another cluster: clusters %+v, errors %v", cs, errs)
	}

	bad := remoteSecret("istio-remote-secret-b", map[string]string{"b": goodKubeconfig})
	bad.Annotations = annotated("b", "not PEM")
	err = c.SetSecret(SourceKubernetes, bad)
	checkErr(t, err, "metadata.annotations["+AnnotationTrustBundle+"]")
	if len(pins) != 1 {
		t.Fatalf("a bad bundle pinned: %+v", pins)
	}
}
