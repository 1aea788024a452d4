//go:build integration

package daemon

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"testing"
	"time"

	"github.com/meshgate/meshgate/test/logtest"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/meshgate/meshgate/identity"
	"github.com/meshgate/meshgate/test/kubetest"
)

// meshgate run --kubeconfig --secure-xds-address: a gateway's
// service-account token (TokenRequest, audience istio-ca) is verified with
// the API server of the daemon's own source, and decides its SVID.
func TestKubeSecureXDS(t *testing.T) {
	kc := kubetest.New(t, kubetest.Options{Name: "secure"}) // the source syncs only with the Istio CRDs
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	apply := mustApplier(t, kc)
	if err := apply.ApplyYAML(ctx, []byte("apiVersion: v1\nkind: Namespace\nmetadata: {name: istio-system}\n---\n"+
		"apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: ingress, namespace: istio-system}\n")); err != nil {
		t.Fatal(err)
	}
	admin, err := kubernetes.NewForConfig(kc.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	exp := int64(600)
	tr, err := admin.CoreV1().ServiceAccounts("istio-system").CreateToken(ctx, "ingress", &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{Audiences: []string{"istio-ca"}, ExpirationSeconds: &exp}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t)
	cfg.ConfigDir, cfg.Kubeconfig, cfg.SecureXDSAddress = "", kc.KubeconfigPath(), "127.0.0.1:0"
	d, err := New(cfg, NewLogger(cfg, &logtest.Buffer{}), nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	runCtx, stop := context.WithCancel(ctx)
	go func() { done <- d.Run(runCtx) }()
	pool := x509.NewCertPool()
	for _, r := range d.id.CA().Roots() {
		pool.AddCert(r)
	}
	creds := credentials.NewTLS(&tls.Config{RootCAs: pool, ServerName: "meshgate.istio-system.svc.cluster.local", MinVersion: tls.VersionTLS12})
	cc, err := grpc.NewClient(d.SecureXDSAddr(), grpc.WithTransportCredentials(creds), grpc.WithPerRPCCredentials(bearerToken(tr.Status.Token)))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ask := func(ns string) (*discoveryv3.DiscoveryResponse, error) {
		st, err := discoveryv3.NewAggregatedDiscoveryServiceClient(cc).StreamAggregatedResources(ctx)
		if err != nil {
			return nil, err
		}
		node := &corev3.Node{Id: "router~10.1.0.99~ingress-0." + ns + "~" + ns + ".svc.cluster.local"}
		if err := st.Send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: resource.SecretType, ResourceNames: []string{"default"}}); err != nil && err != io.EOF {
			return nil, err
		}
		return st.Recv()
	}
	resp, err := ask("istio-system")
	if err != nil || len(resp.GetResources()) != 1 {
		t.Fatalf("SDS default with a token: %v %v", resp, err)
	}
	sec := &tlsv3.Secret{}
	if err := resp.GetResources()[0].UnmarshalTo(sec); err != nil {
		t.Fatal(err)
	}
	certs, err := identity.ParseCertificatesPEM(sec.GetTlsCertificate().GetCertificateChain().GetInlineBytes())
	if err != nil || len(certs) == 0 || len(certs[0].URIs) != 1 || certs[0].URIs[0].String() != "spiffe://cluster.local/ns/istio-system/sa/ingress" {
		t.Fatalf("SDS default: %v %v", certs, err)
	}
	if _, err := ask("prod"); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("node of another namespace: %v, want PermissionDenied", err)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
