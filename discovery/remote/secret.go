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

	"github.com/meshgate/meshgate/identity"
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
	// AnnotationTrustBundle (meshgate's, ignored by istiod) holds the
	// mesh trust bundle (PEM roots) of the cluster the annotation
	// networking.istio.io/cluster names: the daemon that admits the secret
	// pins it as that cluster's federation trust anchor (an operator pin),
	// instead of trusting the first gossiped record of that cluster.
	AnnotationTrustBundle = "meshgate.io/trust-bundle"
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
	// Insecure names the fields a Policy with AllowInsecure let through
	// (e.g. clusters[b].cluster.server for an http:// server); empty for a
	// safe kubeconfig.
	Insecure []string
	// TrustBundle is the cluster's mesh trust bundle (PEM) from the
	// secret's AnnotationTrustBundle, when the annotation's cluster is this
	// key's; nil otherwise. Not secret.
	TrustBundle []byte
}

// KubeconfigError is a remote secret key that was rejected. Its message
// names the secret, the key and the kubeconfig field; it never quotes the
// kubeconfig.
type KubeconfigError struct {
	Secret string // namespace/name
	Key    string // the cluster id
	Field  string // e.g. users[reader].user.exec
	Msg    string
	// Reason classifies the refusal (the reason label of the rejections
	// metric): ReasonUnsafe, ReasonInsecure or ReasonInvalid.
	Reason string
}

// Reasons of a KubeconfigError.
const (
	// ReasonUnsafe: exec plugins, auth providers, file references (never admitted).
	ReasonUnsafe = "unsafe"
	// ReasonInsecure: http://, insecure-skip-tls-verify, proxy-url, no CA
	// data (admitted by Policy.AllowInsecure).
	ReasonInsecure = "insecure"
	// ReasonInvalid: anything else (malformed, incomplete, bad shape).
	ReasonInvalid = "invalid"
)

// reason is e's Reason, ReasonInvalid when unset.
func (e *KubeconfigError) reason() string {
	if e.Reason == "" {
		return ReasonInvalid
	}
	return e.Reason
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

// Policy says what a remote secret's kubeconfig may hold beyond the safe
// form: https with certificate-authority-data, a token or client
// certificate data, no proxy. The zero Policy is the strict default.
type Policy struct {
	// AllowInsecure admits kubeconfigs with an http:// server,
	// insecure-skip-tls-verify, a proxy-url, or an https server without
	// certificate-authority-data (--allow-insecure-remote, development
	// only). Each admitted key lists those fields in Cluster.Insecure, for
	// the caller to log a warning each time. Exec plugins, auth providers
	// and file references stay refused.
	AllowInsecure bool
}

// ClustersFromSecret reads every key of a remote secret with the strict
// Policy (see Policy.ClustersFromSecret).
func ClustersFromSecret(s *corev1.Secret) ([]Cluster, []error) { return Policy{}.ClustersFromSecret(s) }

// ValidateRemoteSecret checks a remote secret with the strict Policy (see
// Policy.ValidateRemoteSecret).
func ValidateRemoteSecret(s *corev1.Secret) (Cluster, error) { return Policy{}.ValidateRemoteSecret(s) }

// ParseKubeconfig parses a kubeconfig with the strict Policy (see
// Policy.ParseKubeconfig).
func ParseKubeconfig(data []byte) (Cluster, error) { return Policy{}.ParseKubeconfig(data) }

// ClustersFromSecret reads every key of a remote secret: each is a cluster
// id whose value is a kubeconfig. Unsafe or malformed keys are returned as
// *KubeconfigError and left out; keys are in sorted order.
func (p Policy) ClustersFromSecret(s *corev1.Secret) ([]Cluster, []error) {
	data := secretData(s)
	var out []Cluster
	var errs []error
	for _, id := range slices.Sorted(maps.Keys(data)) {
		c, err := p.ParseKubeconfig(data[id])
		if err != nil {
			var ke *KubeconfigError
			if errors.As(err, &ke) {
				ke.Secret, ke.Key = secretRef(s), id
			}
			errs = append(errs, err)
			continue
		}
		c.ID, c.Secret = id, secretRef(s)
		if pem, ok := s.Annotations[AnnotationTrustBundle]; ok && s.Annotations[AnnotationCluster] == id {
			if _, err := identity.ParseCertificatesPEM([]byte(pem)); err != nil {
				errs = append(errs, &KubeconfigError{Secret: secretRef(s), Key: id, Field: "metadata.annotations[" + AnnotationTrustBundle + "]",
					Msg: fmt.Sprintf("not a PEM trust bundle: %v", err)})
				continue
			}
			c.TrustBundle = []byte(pem)
		}
		out = append(out, c)
	}
	return out, errs
}

// ValidateRemoteSecret checks a remote secret's shape the way `meshgate
// join` requires it: name istio-remote-secret-<cluster>, label
// istio/multiCluster=true, annotation networking.istio.io/cluster=<cluster>,
// exactly one data key, equal to <cluster>, holding a safe kubeconfig.
func (p Policy) ValidateRemoteSecret(s *corev1.Secret) (Cluster, error) {
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
	cs, errs := p.ClustersFromSecret(s)
	if len(errs) > 0 {
		return Cluster{}, errs[0]
	}
	return cs[0], nil
}

// ParseKubeconfig parses a remote cluster's kubeconfig and rejects what
// would let a secret run commands or read files on the daemon's host: exec
// plugins, auth providers and every file reference (certificate-authority,
// client-certificate, client-key, tokenFile); and, unless p.AllowInsecure,
// what would send its token where an attacker can read or redirect it: an
// http:// server, insecure-skip-tls-verify, proxy-url, an https server
// without certificate-authority-data. Every cluster and user of the file is
// checked, not only the current context's. The current context must name a
// cluster with a server and a user with credentials (a token or client
// certificate data).
func (p Policy) ParseKubeconfig(data []byte) (Cluster, error) {
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
	insecure := insecureFields(cfg)
	if err := checkUnsafe(cfg, insecure, p.AllowInsecure); err != nil {
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
	c := Cluster{Server: cl.Server, Kubeconfig: data, Config: rc, Hash: hex.EncodeToString(sum[:])}
	for _, f := range insecure {
		c.Insecure = append(c.Insecure, f.Field)
	}
	return c, nil
}

// insecureFields lists, for every cluster, what Policy.AllowInsecure
// admits: each a *KubeconfigError naming the field.
func insecureFields(cfg *clientcmdapi.Config) []*KubeconfigError {
	var out []*KubeconfigError
	for _, name := range slices.Sorted(maps.Keys(cfg.Clusters)) {
		cl := cfg.Clusters[name]
		f := "clusters[" + name + "].cluster."
		u, err := url.Parse(cl.Server)
		if err == nil && u.Scheme == "http" {
			out = append(out, &KubeconfigError{Reason: ReasonInsecure, Field: f + "server", Msg: "an http:// server is not allowed (the token would travel in clear text); use https with certificate-authority-data, or --allow-insecure-remote for development"})
		}
		if cl.InsecureSkipTLSVerify {
			out = append(out, &KubeconfigError{Reason: ReasonInsecure, Field: f + "insecure-skip-tls-verify", Msg: "skipping server certificate verification is not allowed (anyone in the path could take the token); use certificate-authority-data, or --allow-insecure-remote for development"})
		}
		if cl.ProxyURL != "" {
			out = append(out, &KubeconfigError{Reason: ReasonInsecure, Field: f + "proxy-url", Msg: "a proxy is not allowed (it would see every request and could redirect them); reach the server directly, or pass --allow-insecure-remote"})
		}
		if err == nil && u.Scheme == "https" && len(cl.CertificateAuthorityData) == 0 && !cl.InsecureSkipTLSVerify && cl.CertificateAuthority == "" {
			out = append(out, &KubeconfigError{Reason: ReasonInsecure, Field: f + "certificate-authority-data", Msg: "required for an https server: without it the server is checked against the daemon's system roots, which any public CA satisfies; or pass --allow-insecure-remote"})
		}
	}
	return out
}

// checkUnsafe rejects exec plugins, auth providers and file references in
// every cluster and user (not only the current context's), and the
// insecure fields unless allowInsecure.
func checkUnsafe(cfg *clientcmdapi.Config, insecure []*KubeconfigError, allowInsecure bool) error {
	var errs []error
	add := func(field, msg string) {
		errs = append(errs, &KubeconfigError{Reason: ReasonUnsafe, Field: field, Msg: msg})
	}
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
	if !allowInsecure {
		for _, e := range insecure {
			errs = append(errs, e)
		}
	}
	if len(errs) == 1 {
		return errs[0]
	}
	if len(errs) > 1 {
		// one error naming every field, still a *KubeconfigError; unsafe
		// (never admitted) outranks insecure
		first := errs[0].(*KubeconfigError)
		var b strings.Builder
		b.WriteString(first.Msg)
		for _, e := range errs[1:] {
			ke := e.(*KubeconfigError)
			b.WriteString("; " + ke.Field + ": " + ke.Msg)
		}
		return &KubeconfigError{Reason: first.Reason, Field: first.Field, Msg: b.String()}
	}
	return nil
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
