package authn

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// TokenReviewer verifies a token for audiences. It may block on the network
// and is called concurrently. An error means the token could not be
// verified (the caller is refused: fail closed).
type TokenReviewer interface {
	Review(ctx context.Context, token string, audiences []string) (authenticationv1.TokenReviewStatus, error)
}

// PodLookup finds a pod's UID. found is false when the pod does not exist;
// an error means it could not be looked up (the caller is refused). Called
// concurrently; may block.
type PodLookup interface {
	PodUID(ctx context.Context, namespace, name string) (uid string, found bool, err error)
}

// KubeReviewer is the TokenReview API of a Kubernetes cluster. Its service
// account needs create on tokenreviews.authentication.k8s.io
// (system:auth-delegator has it).
type KubeReviewer struct{ Client kubernetes.Interface }

// Review implements TokenReviewer.
func (k KubeReviewer) Review(ctx context.Context, token string, audiences []string) (authenticationv1.TokenReviewStatus, error) {
	tr, err := k.Client.AuthenticationV1().TokenReviews().Create(ctx, &authenticationv1.TokenReview{
		Spec: authenticationv1.TokenReviewSpec{Token: token, Audiences: audiences},
	}, metav1.CreateOptions{})
	if err != nil {
		return authenticationv1.TokenReviewStatus{}, err
	}
	return tr.Status, nil
}

// KubePods looks pods up with a GET (needs get on pods).
type KubePods struct{ Client kubernetes.Interface }

// PodUID implements PodLookup.
func (k KubePods) PodUID(ctx context.Context, namespace, name string) (string, bool, error) {
	p, err := k.Client.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	return string(p.UID), true, nil
}

// Extra keys of a pod-bound token's user info (set by kube-apiserver).
const (
	extraPodName = "authentication.kubernetes.io/pod-name"
	extraPodUID  = "authentication.kubernetes.io/pod-uid"
)

const saPrefix = "system:serviceaccount:"

// reviewed is a verified token: who it is, until when it may be reused,
// and the pod it is bound to.
type reviewed struct {
	caller      Caller
	until       time.Time
	pod, podUID string
}

// verifyToken reviews token (or reuses a review), then checks the bound pod.
func (a *Authenticator) verifyToken(ctx context.Context, token string) (Caller, error) {
	now := a.opts.Clock.Now()
	// exp read without verifying the signature: it may only refuse, never accept.
	exp, _ := tokenExpiry(token)
	if !exp.IsZero() && !now.Before(exp) {
		return Caller{}, refuse(ReasonTokenExpired, "token expired at %s", exp.UTC().Format(time.RFC3339))
	}
	key := sha256.Sum256([]byte(token))
	r, ok := a.cache.get(key, now)
	if !ok {
		var err error
		if r, err = a.review(ctx, token, exp, now); err != nil {
			return Caller{}, err
		}
		a.cache.put(key, r, now)
	}
	if r.pod != "" {
		if err := a.checkPod(ctx, r); err != nil {
			return r.caller, err
		}
	}
	return r.caller, nil
}

func (a *Authenticator) review(ctx context.Context, token string, exp, now time.Time) (reviewed, error) {
	if a.opts.Reviewer == nil {
		return reviewed{}, refuse(ReasonNoVerifier, "tokens are not accepted (no TokenReview client)")
	}
	st, err := a.opts.Reviewer.Review(ctx, token, a.cfg.Audiences)
	if err != nil {
		a.m.reviews.WithLabelValues("error").Inc()
		return reviewed{}, refuse(ReasonReviewFailed, "TokenReview failed, refusing: %v", err)
	}
	if !st.Authenticated {
		a.m.reviews.WithLabelValues("unauthenticated").Inc()
		msg := st.Error
		if msg == "" {
			msg = "not authenticated"
		}
		// kube-apiserver reports a token for other audiences as invalid
		// ("token audiences ... is invalid for the target audiences").
		if strings.Contains(msg, "audience") {
			return reviewed{}, refuse(ReasonWrongAudience, "token is not valid for audiences %v: %s", a.cfg.Audiences, msg)
		}
		return reviewed{}, refuse(ReasonTokenInvalid, "TokenReview: %s", msg)
	}
	a.m.reviews.WithLabelValues("authenticated").Inc()
	if !slices.ContainsFunc(st.Audiences, func(s string) bool { return slices.Contains(a.cfg.Audiences, s) }) {
		return reviewed{}, refuse(ReasonWrongAudience, "token audiences %v do not include any of %v", st.Audiences, a.cfg.Audiences)
	}
	rest, ok := strings.CutPrefix(st.User.Username, saPrefix)
	ns, sa, ok2 := strings.Cut(rest, ":")
	if !ok || !ok2 || ns == "" || sa == "" || strings.Contains(sa, ":") {
		return reviewed{}, refuse(ReasonNotSA, "user %q is not a service account (want %s<namespace>:<name>)", st.User.Username, saPrefix)
	}
	r := reviewed{caller: Caller{TrustDomain: a.local, Namespace: ns, ServiceAccount: sa, ExpiresAt: exp}}
	if names := st.User.Extra[extraPodName]; len(names) > 0 {
		r.pod = names[0]
		if uids := st.User.Extra[extraPodUID]; len(uids) > 0 {
			r.podUID = uids[0]
		}
		r.caller.Pod = r.pod
	}
	r.until = now.Add(a.cfg.MaxCacheAge)
	if !exp.IsZero() && exp.Before(r.until) {
		r.until = exp
	}
	return r, nil
}

// checkPod refuses a pod-bound token whose pod is gone (or was replaced by
// another pod of the same name).
func (a *Authenticator) checkPod(ctx context.Context, r reviewed) error {
	if a.opts.Pods == nil {
		return refuse(ReasonNoVerifier, "token is bound to pod %s/%s, which cannot be looked up here", r.caller.Namespace, r.pod)
	}
	uid, found, err := a.opts.Pods.PodUID(ctx, r.caller.Namespace, r.pod)
	switch {
	case err != nil:
		return refuse(ReasonReviewFailed, "looking up pod %s/%s of the token, refusing: %v", r.caller.Namespace, r.pod, err)
	case !found:
		return refuse(ReasonPodGone, "token is bound to pod %s/%s, which no longer exists", r.caller.Namespace, r.pod)
	case r.podUID != "" && uid != r.podUID:
		return refuse(ReasonPodGone, "token is bound to pod %s/%s uid %s; that pod is gone (uid now %s)", r.caller.Namespace, r.pod, r.podUID, uid)
	}
	return nil
}

// tokenExpiry reads the exp claim of a JWT without verifying it.
func tokenExpiry(token string) (time.Time, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return time.Time{}, fmt.Errorf("not a JWT")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return time.Time{}, err
	}
	var claims struct {
		Exp *json.Number `json:"exp"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return time.Time{}, err
	}
	if claims.Exp == nil {
		return time.Time{}, nil
	}
	sec, err := claims.Exp.Int64()
	if err != nil {
		return time.Time{}, err
	}
	return time.Unix(sec, 0), nil
}
