package remote

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// testToken must never appear in an error.
const testToken = "s3cr3t-t0ken-value"

const goodKubeconfig = `apiVersion: v1
kind: Config
clusters:
- name: b
  cluster:
    server: https://10.0.0.2:6443
    certificate-authority-data: ` + testCAB64 + `
contexts:
- name: b
  context: {cluster: b, user: b}
current-context: b
users:
- name: b
  user:
    token: ` + testToken + `
`

// a self-signed CA certificate (base64 PEM), only parsed, never used to connect
const testCAB64 = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJlVENDQVIrZ0F3SUJBZ0lVYTRuZmdqOTdDclQ5dkVqMjNmRE16L0Z1cjFJd0NnWUlLb1pJemowRUF3SXcKRWpFUU1BNEdBMVVFQXd3SGRHVnpkQzFqWVRBZUZ3MHlOakV4TWpneE56UXhNRFphRncwek5qRXhNalV4TnpReApNRFphTUJJeEVEQU9CZ05WQkFNTUIzUmxjM1F0WTJFd1dUQVRCZ2NxaGtqT1BRSUJCZ2dxaGtqT1BRTUJCd05DCkFBU09aOGljUmQ3ZWtpYVUxd0lYeWg1R29iUEN2dVpJaDNneVBCQlpjL1M2a1ZxamE1N3V0Nm51b0ZkdjVOdlQKWEhCUjFPNVRpV2kremFRdTJYOUdaN2k0bzFNd1VUQWRCZ05WSFE0RUZnUVV3eitTeXVQVit0SGd3SGNuaE5ESgpuSENETThBd0h3WURWUjBqQkJnd0ZvQVV3eitTeXVQVit0SGd3SGNuaE5ESm5IQ0RNOEF3RHdZRFZSMFRBUUgvCkJBVXdBd0VCL3pBS0JnZ3Foa2pPUFFRREFnTklBREJGQWlFQXhxdzlvQ1VuV25MYTJwd2tMRUhQT1hLdGcwYysKOWUwUDVOVDkxbmdDYmk4Q0lIWGdxcFpVNmFlZUpWNmRrUWthcDhYNVFFM1hya2NTK3dPbGwrQmprZlpKCi0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0K"

func remoteSecret(name string, data map[string]string) *corev1.Secret {
	return &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "istio-system", Labels: map[string]string{LabelMultiCluster: "true"}},
		StringData: data,
	}
}

// Unsafe or malformed kubeconfigs are rejected with an error naming the
// Secret, the key and the field, never quoting the token.
func TestClustersFromSecretRejects(t *testing.T) {
	tests := []struct {
		name, edit, field string
	}{
		{"exec", "    exec: {apiVersion: client.authentication.k8s.io/v1, command: /bin/evil}\n", "users[b].user.exec"},
		{"auth-provider", "    auth-provider: {name: gcp}\n", "users[b].user.auth-provider"},
		{"tokenFile", "    tokenFile: /var/run/secrets/token\n", "users[b].user.tokenFile"},
		{"client-certificate", "    client-certificate: /etc/cert.pem\n", "users[b].user.client-certificate"},
		{"client-key", "    client-key: /etc/key.pem\n", "users[b].user.client-key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := remoteSecret("istio-remote-secret-b", map[string]string{"b": goodKubeconfig + tt.edit})
			cs, errs := ClustersFromSecret(s)
			if len(cs) != 0 || len(errs) != 1 {
				t.Fatalf("clusters %v, errors %v", cs, errs)
			}
			checkErr(t, errs[0], tt.field)
		})
	}
	fileCA := strings.Replace(goodKubeconfig, "certificate-authority-data: "+testCAB64, "certificate-authority: /etc/ca.pem", 1)
	more := []struct{ name, kubeconfig, field string }{
		{"certificate-authority file", fileCA, "clusters[b].cluster.certificate-authority"},
		{"no current context", strings.Replace(goodKubeconfig, "current-context: b", "current-context: x", 1), "current-context"},
		{"no credentials", strings.Replace(goodKubeconfig, "    token: "+testToken+"\n", "    username: u\n", 1), "users[b].user"},
		{"bad server", strings.Replace(goodKubeconfig, "https://10.0.0.2:6443", "10.0.0.2", 1), "clusters[b].cluster.server"},
		{"not a kubeconfig", "token: " + testToken + "\n: [", ""},
		{"empty", "", ""},
	}
	for _, tt := range more {
		t.Run(tt.name, func(t *testing.T) {
			_, errs := ClustersFromSecret(remoteSecret("istio-remote-secret-b", map[string]string{"b": tt.kubeconfig}))
			if len(errs) != 1 {
				t.Fatalf("errors %v", errs)
			}
			checkErr(t, errs[0], tt.field)
		})
	}
	// several unsafe fields: one error naming all
	_, errs := ClustersFromSecret(remoteSecret("istio-remote-secret-b", map[string]string{"b": fileCA + "    tokenFile: /t\n"}))
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "tokenFile") || !strings.Contains(errs[0].Error(), "certificate-authority") {
		t.Errorf("several unsafe fields: %v", errs)
	}
}

func checkErr(t *testing.T, err error, field string) {
	t.Helper()
	var ke *KubeconfigError
	if !errors.As(err, &ke) || ke.Secret != "istio-system/istio-remote-secret-b" || ke.Key != "b" || ke.Field != field {
		t.Errorf("error %#v (%v): want secret istio-system/istio-remote-secret-b, key b, field %q", ke, err, field)
	}
	msg := err.Error()
	if !strings.Contains(msg, "istio-system/istio-remote-secret-b") || !strings.Contains(msg, `key "b"`) {
		t.Errorf("message does not name the secret and key: %s", msg)
	}
	if strings.Contains(msg, testToken) {
		t.Errorf("message leaks the token: %s", msg)
	}
}

func TestClustersFromSecretAccepts(t *testing.T) {
	s := remoteSecret("istio-remote-secret-b", map[string]string{"b": goodKubeconfig, "c": strings.ReplaceAll(goodKubeconfig, "10.0.0.2", "10.0.0.3")})
	cs, errs := ClustersFromSecret(s)
	if len(errs) != 0 || len(cs) != 2 {
		t.Fatalf("clusters %v, errors %v", cs, errs)
	}
	if cs[0].ID != "b" || cs[0].Server != "https://10.0.0.2:6443" || cs[0].Config.BearerToken != testToken || cs[1].ID != "c" || cs[0].Hash == cs[1].Hash {
		t.Errorf("clusters = %+v", cs)
	}
}

// The shape meshgate join requires: Istio's remote secret format.
func TestValidateRemoteSecret(t *testing.T) {
	good := func() *corev1.Secret {
		s := remoteSecret("istio-remote-secret-b", map[string]string{"b": goodKubeconfig})
		s.Annotations = map[string]string{AnnotationCluster: "b"}
		return s
	}
	if cl, err := ValidateRemoteSecret(good()); err != nil || cl.ID != "b" {
		t.Fatalf("good secret: %v %v", cl, err)
	}
	tests := []struct {
		name  string
		edit  func(*corev1.Secret)
		field string
	}{
		{"no label", func(s *corev1.Secret) { s.Labels = nil }, "metadata.labels"},
		{"label false", func(s *corev1.Secret) { s.Labels[LabelMultiCluster] = "false" }, "metadata.labels"},
		{"no annotation", func(s *corev1.Secret) { s.Annotations = nil }, "metadata.annotations"},
		{"name", func(s *corev1.Secret) { s.Name = "b-secret" }, "metadata.name"},
		{"two keys", func(s *corev1.Secret) { s.StringData["c"] = goodKubeconfig }, "data"},
		{"key differs", func(s *corev1.Secret) { s.StringData = map[string]string{"c": goodKubeconfig} }, "data"},
		{"kind", func(s *corev1.Secret) { s.Kind = "ConfigMap" }, "kind"},
		{"unsafe", func(s *corev1.Secret) { s.StringData["b"] += "    tokenFile: /t\n" }, "users[b].user.tokenFile"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := good()
			tt.edit(s)
			_, err := ValidateRemoteSecret(s)
			var ke *KubeconfigError
			if !errors.As(err, &ke) || ke.Field != tt.field {
				t.Errorf("error %v: want field %q", err, tt.field)
			}
		})
	}
}

// BuildRemoteSecret prints what istioctl prints, and it reads back.
func TestBuildMarshalRead(t *testing.T) {
	s, err := BuildRemoteSecret("cluster-b", "istio-system", "https://10.0.0.2:6443", []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"), testToken)
	if err == nil {
		t.Fatal("a CA that is not a certificate was accepted")
	}
	ca := decodeB64(t, testCAB64)
	s, err = BuildRemoteSecret("cluster-b", "istio-system", "https://10.0.0.2:6443", ca, testToken)
	if err != nil {
		t.Fatal(err)
	}
	out, err := MarshalSecret(s)
	if err != nil {
		t.Fatal(err)
	}
	text := string(out)
	for _, want := range []string{
		"# This file is autogenerated, do not edit.\n", "kind: Secret", "name: istio-remote-secret-cluster-b",
		"istio/multiCluster: \"true\"", "networking.istio.io/cluster: cluster-b", "stringData:\n  cluster-b: |",
		"current-context: cluster-b", "server: https://10.0.0.2:6443", "token: " + testToken,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	back, err := ReadRemoteSecret(out)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := ValidateRemoteSecret(back)
	if err != nil || cl.ID != "cluster-b" || cl.Config.BearerToken != testToken || string(cl.Config.CAData) != string(ca) {
		t.Fatalf("read back: %+v, %v", cl, err)
	}
}

func TestReadRemoteSecret(t *testing.T) {
	for name, in := range map[string]string{
		"two documents": "apiVersion: v1\nkind: Secret\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: b}\n",
		"unknown field": "apiVersion: v1\nkind: Secret\nmetadata: {name: a}\nspec: {}\n",
		"not a secret":  "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n",
		"empty":         "# nothing\n",
	} {
		if _, err := ReadRemoteSecret([]byte(in)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestLoopbackWarning(t *testing.T) {
	for server, warn := range map[string]bool{
		"https://127.0.0.1:6443": true, "https://localhost:6443": true, "https://[::1]:6443": true,
		"https://10.0.0.2:6443": false, "https://api.example.com": false,
	} {
		if got := loopbackWarning(server) != ""; got != warn {
			t.Errorf("%s: warning %v, want %v", server, got, warn)
		}
	}
}

func decodeB64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
