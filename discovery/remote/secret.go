package remote

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// The remote secret format, as `istioctl create-remote-secret` writes it and
// istiod reads it.
const (
	// LabelMultiCluster marks a remote secret (value "true").
	LabelMultiCluster = "istio/multiCluster"
	// AnnotationCluster names the cluster a remote secret gives access to.
	AnnotationCluster = "networking.istio.io/cluster"
	// SecretNamePrefix + the cluster id is the remote secret's name.
	SecretNamePrefix = "istio-remote-secret-"
)

// Cluster is a remote cluster's connection, taken from one key of a remote
// secret. Kubeconfig and Config hold credentials: never log them.
type Cluster struct {
	ID string
	// Secret is the namespace/name of the secret it came from.
	Secret string
	// Server is the API server URL (not secret).
	Server     string
	Kubeconfig []byte
	Config     *rest.Config
	// Hash is a SHA-256 of Kubeconfig: a changed hash means new credentials.
	Hash string
}

// KubeconfigError is a remote secret key that was rejected. Its message
// names the secret, the key and the kubeconfig field; it never quotes the
// kubeconfig.
type KubeconfigError struct {
	Secret string // namespace/name
	Key    string // the cluster id
	Field  string // e.g. users[reader].user.exec
	Msg    string
}

func (e *KubeconfigError) Error() string {
	s := fmt.Sprintf("remote secret %s", e.Secret)
	if e.Key != "" {
		s += fmt.Sprintf(": key %q", e.Key)
	}
	if e.Field != "" {
		s += ": " + e.Field
	}
	return s + ": " + e.Msg
}

// secretData merges data and stringData (stringData wins, as in the API
// server).
func secretData(s *corev1.Secret) map[string][]byte {
	out := make(map[string][]byte, len(s.Data)+len(s.StringData))
	for k, v := range s.Data {
		out[k] = v
	}
	for k, v := range s.StringData {
		out[k] = []byte(v)
	}
	return out
}

func secretRef(s *corev1.Secret) string { return s.Namespace + "/" + s.Name }

// ClustersFromSecret reads every key of a remote secret: each is a cluster
// id whose value is a kubeconfig. Unsafe or malformed keys are returned as
// *KubeconfigError and left out; keys are in sorted order.
func ClustersFromSecret(s *corev1.Secret) ([]Cluster, []error) {
	data := secretData(s)
	var out []Cluster
	var errs []error
	for _, id := range slices.Sorted(maps.Keys(data)) {
		c, err := ParseKubeconfig(data[id])
		if err != nil {
			var ke *KubeconfigError
			if errors.As(err, &ke) {
				ke.Secret, ke.Key = secretRef(s), id
			}
			errs = append(errs, err)
			continue
		}
		c.ID, c.Secret = id, secretRef(s)
		out = append(out, c)
	}
	return out, errs
}

// ValidateRemoteSecret checks a remote secret's shape the way `meshgate
// join` requires it: name istio-remote-secret-<cluster>, label
// istio/multiCluster=true, annotation networking.istio.io/cluster=<cluster>,
// exactly one data key, equal to <cluster>, holding a safe kubeconfig.
func ValidateRemoteSecret(s *corev1.Secret) (Cluster, error) {
	ref := secretRef(s)
	fail := func(field, format string, args ...any) (Cluster, error) {
		return Cluster{}, &KubeconfigError{Secret: ref, Field: field, Msg: fmt.Sprintf(format, args...)}
	}
	if s.Kind != "" && (s.Kind != "Secret" || s.APIVersion != "v1") {
		return fail("kind", "a remote secret is a v1 Secret, not %s %s", s.APIVersion, s.Kind)
	}
	if s.Labels[LabelMultiCluster] != "true" {
		return fail("metadata.labels", "label %s: \"true\" is required", LabelMultiCluster)
	}
	id := s.Annotations[AnnotationCluster]
	if id == "" {
		return fail("metadata.annotations", "annotation %s (the cluster id) is required", AnnotationCluster)
	}
	if msgs := validation.IsConfigMapKey(id); len(msgs) > 0 {
		return fail("metadata.annotations["+AnnotationCluster+"]", "invalid cluster id %q: %s", id, strings.Join(msgs, "; "))
	}
	if s.Name != SecretNamePrefix+id {
		return fail("metadata.name", "the name must be %s%s (for cluster %s)", SecretNamePrefix, id, id)
	}
	data := secretData(s)
	keys := slices.Sorted(maps.Keys(data))
	if len(keys) != 1 || keys[0] != id {
		return fail("data", "exactly one key, %q, is required (found %q)", id, keys)
	}
	cs, errs := ClustersFromSecret(s)
	if len(errs) > 0 {
		return Cluster{}, errs[0]
	}
	return cs[0], nil
}

// ParseKubeconfig parses a remote cluster's kubeconfig and rejects what
// would let a secret run commands or read files on the daemon's host:
// exec plugins, auth providers and every file reference
// (certificate-authority, client-certificate, client-key, tokenFile). The
// current context must name a cluster with a server and a user with
// credentials (a token or client certificate data).
func ParseKubeconfig(data []byte) (Cluster, error) {
	kerr := func(field, format string, args ...any) (Cluster, error) {
		return Cluster{}, &KubeconfigError{Field: field, Msg: fmt.Sprintf(format, args...)}
	}
	if len(data) == 0 {
		return kerr("", "empty kubeconfig")
	}
	cfg, err := clientcmd.Load(data)
	if err != nil {
		return kerr("", "not a valid kubeconfig: %s", firstLine(err.Error()))
	}
	if err := checkUnsafe(cfg); err != nil {
		return Cluster{}, err
	}
	ctx, ok := cfg.Contexts[cfg.CurrentContext]
	if cfg.CurrentContext == "" || !ok {
		return kerr("current-context", "must name one of the contexts (got %q)", cfg.CurrentContext)
	}
	cl, ok := cfg.Clusters[ctx.Cluster]
	if !ok {
		return kerr(fmt.Sprintf("contexts[%s].context.cluster", cfg.CurrentContext), "no cluster named %q", ctx.Cluster)
	}
	u, err := url.Parse(cl.Server)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return kerr(fmt.Sprintf("clusters[%s].cluster.server", ctx.Cluster), "not an http(s) URL: %q", cl.Server)
	}
	user, ok := cfg.AuthInfos[ctx.AuthInfo]
	if !ok {
		return kerr(fmt.Sprintf("contexts[%s].context.user", cfg.CurrentContext), "no user named %q", ctx.AuthInfo)
	}
	if user.Token == "" && len(user.ClientCertificateData) == 0 {
		return kerr(fmt.Sprintf("users[%s].user", ctx.AuthInfo), "no credentials: a token or client-certificate-data is required")
	}
	rc, err := clientcmd.NewDefaultClientConfig(*cfg, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return kerr("", "unusable kubeconfig: %s", firstLine(err.Error()))
	}
	if _, err := rest.TransportFor(rc); err != nil {
		return kerr(fmt.Sprintf("clusters[%s].cluster", ctx.Cluster), "unusable TLS settings: %s", firstLine(err.Error()))
	}
	sum := sha256.Sum256(data)
	return Cluster{Server: cl.Server, Kubeconfig: data, Config: rc, Hash: hex.EncodeToString(sum[:])}, nil
}

// checkUnsafe rejects exec plugins, auth providers and file references in
// every cluster and user (not only the current context's).
func checkUnsafe(cfg *clientcmdapi.Config) error {
	var errs []error
	add := func(field, msg string) { errs = append(errs, &KubeconfigError{Field: field, Msg: msg}) }
	for _, name := range slices.Sorted(maps.Keys(cfg.AuthInfos)) {
		u := cfg.AuthInfos[name]
		f := "users[" + name + "].user."
		if u.Exec != nil {
			add(f+"exec", "exec plugins are not allowed (they would run a command on the daemon's host)")
		}
		if u.AuthProvider != nil {
			add(f+"auth-provider", "auth providers are not allowed")
		}
		if u.TokenFile != "" {
			add(f+"tokenFile", "file references are not allowed (use token)")
		}
		if u.ClientCertificate != "" {
			add(f+"client-certificate", "file references are not allowed (use client-certificate-data)")
		}
		if u.ClientKey != "" {
			add(f+"client-key", "file references are not allowed (use client-key-data)")
		}
	}
	for _, name := range slices.Sorted(maps.Keys(cfg.Clusters)) {
		if cfg.Clusters[name].CertificateAuthority != "" {
			add("clusters["+name+"].cluster.certificate-authority", "file references are not allowed (use certificate-authority-data)")
		}
	}
	if len(errs) == 1 {
		return errs[0]
	}
	if len(errs) > 1 {
		// one error naming every field, still a *KubeconfigError
		first := errs[0].(*KubeconfigError)
		var b strings.Builder
		b.WriteString(first.Msg)
		for _, e := range errs[1:] {
			ke := e.(*KubeconfigError)
			b.WriteString("; " + ke.Field + ": " + ke.Msg)
		}
		return &KubeconfigError{Field: first.Field, Msg: b.String()}
	}
	return nil
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
