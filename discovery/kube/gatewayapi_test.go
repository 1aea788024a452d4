//go:build integration

package kube

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"

	"github.com/meshgate/meshgate/test/kubetest"
)

func installGatewayAPICRDs(t testing.TB, cfg *rest.Config) {
	t.Helper()
	if err := kubetest.InstallGatewayAPICRDs(ctxT(t), cfg, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
}

// gatewayAPIGVRs are the Gateway API resources of dumpGVRs.
func gatewayAPIGVRs() []schema.GroupVersionResource {
	var out []schema.GroupVersionResource
	for _, r := range kubetest.GatewayAPIResources {
		out = append(out, schema.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1", Resource: r})
	}
	return out
}
