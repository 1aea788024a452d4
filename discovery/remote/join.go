package remote

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"
)

// DefaultVerifyTimeout bounds Join's check that the remote server answers.
const DefaultVerifyTimeout = 10 * time.Second

// ReadRemoteSecret decodes one remote secret from YAML or JSON (unknown
// fields are an error). It does not validate it: see ValidateRemoteSecret.
func ReadRemoteSecret(data []byte) (*corev1.Secret, error) {
	var docs [][]byte
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("remote secret: %s", firstLine(err.Error()))
		}
		if len(bytes.TrimSpace(stripComments(doc))) > 0 {
			docs = append(docs, doc)
		}
	}
	if len(docs) != 1 {
		return nil, fmt.Errorf("remote secret: one YAML document (a Secret) is required, found %d", len(docs))
	}
	s := &corev1.Secret{}
	if err := yaml.UnmarshalStrict(docs[0], s); err != nil {
		return nil, fmt.Errorf("remote secret: not a Secret: %s", firstLine(err.Error()))
	}
	if s.Kind != "Secret" || s.APIVersion != "v1" {
		return nil, fmt.Errorf("remote secret: kind: a v1 Secret is required, not %q %q", s.APIVersion, s.Kind)
	}
	return s, nil
}

// JoinOptions are join's settings.
type JoinOptions struct {
	// Namespace receives the secret (default: the secret's own, else
	// istio-system): the daemon's namespace.
	Namespace string
	// Verify checks, before applying, that the remote API server accepts
	// the secret's credentials (it lists services).
	Verify        bool
	VerifyTimeout time.Duration
	// AllowInsecure admits a kubeconfig with an http:// server,
	// insecure-skip-tls-verify, a proxy-url or no CA data for an https
	// server (--allow-insecure-remote); JoinResult.Insecure then names those
	// fields, for the caller to warn about. The daemon that reads the secret
	// must allow them too.
	AllowInsecure bool
}

// JoinResult says what Join did.
type JoinResult struct {
	Cluster string
	Secret  string // namespace/name
	Server  string
	Action  string // created, updated, unchanged
	// Insecure names the insecure fields JoinOptions.AllowInsecure let through.
	Insecure []string
}

// Join validates a remote secret (shape, label, annotation, one key, safe
// kubeconfig and, with Verify, that the server answers with the
// credentials) and creates or updates it in the local cluster (cfg). An
// invalid secret changes nothing.
func Join(ctx context.Context, cfg *rest.Config, s *corev1.Secret, opts JoinOptions) (*JoinResult, error) {
	ns := opts.Namespace
	if ns == "" {
		ns = s.Namespace
	}
	if ns == "" {
		ns = DefaultNamespace
	}
	s = s.DeepCopy()
	s.Namespace = ns
	cl, err := Policy{AllowInsecure: opts.AllowInsecure}.ValidateRemoteSecret(s)
	if err != nil {
		return nil, err
	}
	if opts.Verify {
		if err := verify(ctx, cl, opts.VerifyTimeout); err != nil {
			return nil, err
		}
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	want := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: s.Name, Namespace: ns, Labels: s.Labels, Annotations: s.Annotations},
		Type:       corev1.SecretTypeOpaque,
		Data:       secretData(s),
	}
	res := &JoinResult{Cluster: cl.ID, Secret: ns + "/" + s.Name, Server: cl.Server, Insecure: cl.Insecure}
	api := client.CoreV1().Secrets(ns)
	got, err := api.Get(ctx, s.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = api.Create(ctx, want, metav1.CreateOptions{})
		res.Action = "created"
	case err != nil:
	case maps.EqualFunc(got.Data, want.Data, bytesEqual) && got.Labels[LabelMultiCluster] == "true" &&
		got.Annotations[AnnotationCluster] == cl.ID:
		res.Action = "unchanged"
	default:
		if got.Labels == nil {
			got.Labels = map[string]string{}
		}
		if got.Annotations == nil {
			got.Annotations = map[string]string{}
		}
		maps.Copy(got.Labels, want.Labels)
		maps.Copy(got.Annotations, want.Annotations)
		got.Data, got.StringData = want.Data, nil
		_, err = api.Update(ctx, got, metav1.UpdateOptions{})
		res.Action = "updated"
	}
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("apply remote secret %s: namespace %s does not exist (is meshgate installed in this cluster? see --namespace)", res.Secret, ns)
	}
	if err != nil {
		return nil, fmt.Errorf("apply remote secret %s: %w", res.Secret, err)
	}
	return res, nil
}

// stripComments drops whole-line comments (a document of comments only is empty).
func stripComments(doc []byte) []byte {
	var out [][]byte
	for _, l := range bytes.Split(doc, []byte("\n")) {
		if !bytes.HasPrefix(bytes.TrimSpace(l), []byte("#")) {
			out = append(out, l)
		}
	}
	return bytes.Join(out, []byte("\n"))
}

func bytesEqual(a, b []byte) bool { return string(a) == string(b) }

// verify lists one service in the remote cluster with the secret's
// credentials.
func verify(ctx context.Context, cl Cluster, timeout time.Duration) error {
	if timeout <= 0 {
		timeout = DefaultVerifyTimeout
	}
	cfg := rest.CopyConfig(cl.Config)
	cfg.Timeout = timeout
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if _, err := client.CoreV1().Services("").List(ctx, metav1.ListOptions{Limit: 1}); err != nil {
		return fmt.Errorf("remote secret %s: key %q: the server %s did not accept the credentials for listing services: %s",
			cl.Secret, cl.ID, cl.Server, firstLine(err.Error()))
	}
	return nil
}
