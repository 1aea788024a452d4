package authn

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	authenticationv1 "k8s.io/api/authentication/v1"

	"github.com/meshgate/meshgate/identity"
)

func TestCertificateCallerAccepted(t *testing.T) {
	f := newFixture(t, defaultConfig(), Options{})
	cc := f.dial(f.svid(f.ca, "/ns/gw-ns/sa/ingress"), nil)
	if err := f.check(cc); err != nil {
		t.Fatalf("Check with a mesh SVID: %v", err)
	}
	c := f.lastCaller()
	want := Caller{TrustDomain: localTD, Namespace: "gw-ns", ServiceAccount: "ingress", Method: MethodX509SVID}
	c.ExpiresAt = time.Time{}
	if c != want {
		t.Fatalf("caller = %+v, want %+v", c, want)
	}
	if got := f.count("accepted", "ok"); got != 1 {
		t.Fatalf("accepted = %v, want 1", got)
	}
}

func TestTokenCallerAcceptedAndCached(t *testing.T) {
	tok := fakeJWT("gw", time.Now().Add(time.Hour))
	rev := &fakeReviewer{answers: map[string]authenticationv1.TokenReviewStatus{tok: saStatus("gw-ns", "ingress")}}
	f := newFixture(t, defaultConfig(), Options{Reviewer: rev})
	cc := f.dial(nil, &tokenCreds{token: tok, cluster: "Kubernetes"})
	for i := range 3 {
		if err := f.check(cc); err != nil {
			t.Fatalf("Check %d: %v", i, err)
		}
	}
	if c := f.lastCaller(); c.Namespace != "gw-ns" || c.ServiceAccount != "ingress" || c.Method != MethodKubeToken || c.TrustDomain != localTD {
		t.Fatalf("caller = %+v", c)
	}
	if n := rev.count(); n != 1 {
		t.Fatalf("TokenReviews = %d, want 1 (cached)", n)
	}
	if strings.Contains(f.logs.String(), tok) {
		t.Fatal("the token appears in the logs")
	}
}

// TestRefusals: every unproven caller gets Unauthenticated, a counted reason
// and a log line, and never reaches the handler.
func TestRefusals(t *testing.T) {
	now := time.Now()
	good := fakeJWT("good", now.Add(time.Hour))
	expired := fakeJWT("expired", now.Add(-time.Minute))
	wrongAud := fakeJWT("aud", now.Add(time.Hour))
	user := fakeJWT("user", now.Add(time.Hour))
	audStatus := authenticationv1.TokenReviewStatus{Error: `[invalid bearer token, token audiences ["other"] is invalid for the target audiences ["istio-ca"]]`}
	rev := &fakeReviewer{answers: map[string]authenticationv1.TokenReviewStatus{
		good: saStatus("gw-ns", "ingress"), expired: saStatus("gw-ns", "ingress"), wrongAud: audStatus,
		user: {Authenticated: true, Audiences: []string{DefaultAudience}, User: authenticationv1.UserInfo{Username: "alice"}},
	}}
	f := newFixture(t, defaultConfig(), Options{Reviewer: rev})
	foreignCA, err := identity.NewSelfSignedCA(identity.CAConfig{TrustDomain: localTD}, identity.CAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	otherTD := spiffeid.RequireTrustDomainFromString("other.example")
	otherCA, err := identity.NewSelfSignedCA(identity.CAConfig{TrustDomain: otherTD}, identity.CAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	identity.AddBundle(f.bundles, otherCA.Bundle()) // known bundle, but not an accepted domain
	cases := []struct {
		name   string
		svid   bool
		ca     *identity.CA
		creds  *tokenCreds
		reason string
	}{
		{name: "no credentials", reason: ReasonNoCredentials},
		{name: "certificate of a foreign CA", svid: true, ca: foreignCA, reason: ReasonBadCertificate},
		{name: "foreign CA even with a good token", svid: true, ca: foreignCA, creds: &tokenCreds{token: good}, reason: ReasonBadCertificate},
		{name: "certificate of another trust domain", svid: true, ca: otherCA, reason: ReasonForeignDomain},
		{name: "unknown token", creds: &tokenCreds{token: "bogus"}, reason: ReasonTokenInvalid},
		{name: "expired token", creds: &tokenCreds{token: expired}, reason: ReasonTokenExpired},
		{name: "wrong audience", creds: &tokenCreds{token: wrongAud}, reason: ReasonWrongAudience},
		{name: "not a service account", creds: &tokenCreds{token: user}, reason: ReasonNotSA},
		{name: "token of another cluster", creds: &tokenCreds{token: good, cluster: "west"}, reason: ReasonForeignCluster},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := f.count("refused", tc.reason)
			var cc = f.dial(nil, tc.creds)
			if tc.svid {
				cc = f.dial(f.svid(tc.ca, "/ns/gw-ns/sa/ingress"), tc.creds)
			}
			err := f.check(cc)
			if status.Code(err) != codes.Unauthenticated || !strings.Contains(err.Error(), tc.reason) {
				t.Fatalf("err = %v, want Unauthenticated %s", err, tc.reason)
			}
			if got := f.count("refused", tc.reason); got != before+1 {
				t.Fatalf("refused{%s} = %v, want %v", tc.reason, got, before+1)
			}
		})
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.callers) != 0 {
		t.Fatalf("refused callers reached the handler: %v", f.callers)
	}
	for _, tok := range []string{good, expired, wrongAud, user} {
		if strings.Contains(f.logs.String(), tok) {
			t.Fatal("a token appears in the logs")
		}
	}
}

func TestReviewErrorFailsClosed(t *testing.T) {
	tok := fakeJWT("gw", time.Now().Add(time.Hour))
	rev := &fakeReviewer{err: errors.New("connection refused")}
	f := newFixture(t, defaultConfig(), Options{Reviewer: rev})
	err := f.check(f.dial(nil, &tokenCreds{token: tok}))
	if status.Code(err) != codes.Unauthenticated || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("err = %v, want Unauthenticated with the cause", err)
	}
	if got := f.count("refused", ReasonReviewFailed); got != 1 {
		t.Fatalf("refused{review_failed} = %v", got)
	}
}

// TestCacheExpiry: a cached review ends at the token's expiry and at
// MaxCacheAge, whichever comes first.
func TestCacheExpiry(t *testing.T) {
	now := time.Now()
	short := fakeJWT("short", now.Add(2*time.Minute))
	long := fakeJWT("long", now.Add(time.Hour))
	rev := &fakeReviewer{answers: map[string]authenticationv1.TokenReviewStatus{short: saStatus("a", "x"), long: saStatus("a", "y")}}
	f := newFixture(t, defaultConfig(), Options{Reviewer: rev})
	f.clk.SetTime(now)
	ctx := context.Background()
	auth := func(tok string) error { _, err := f.a.verifyToken(ctx, tok); return err }
	for _, tok := range []string{short, long, short, long} {
		if err := auth(tok); err != nil {
			t.Fatal(err)
		}
	}
	if rev.count() != 2 {
		t.Fatalf("reviews = %d, want 2", rev.count())
	}
	f.clk.Step(3 * time.Minute) // past short's exp, within MaxCacheAge
	var e *Error
	if err := auth(short); !errors.As(err, &e) || e.Reason != ReasonTokenExpired {
		t.Fatalf("expired cached token: err = %v, want %s", err, ReasonTokenExpired)
	}
	if err := auth(long); err != nil || rev.count() != 2 {
		t.Fatalf("long token: err %v, reviews %d (want cached)", err, rev.count())
	}
	f.clk.Step(3 * time.Minute) // past MaxCacheAge (5m): reviewed again
	if err := auth(long); err != nil || rev.count() != 3 {
		t.Fatalf("after MaxCacheAge: err %v, reviews %d, want 3", err, rev.count())
	}
}

func TestCacheBounded(t *testing.T) {
	cfg := defaultConfig()
	cfg.CacheSize = 3
	rev := &fakeReviewer{answers: map[string]authenticationv1.TokenReviewStatus{}}
	var toks []string
	for i := range 10 {
		tok := fakeJWT(string(rune('a'+i)), time.Now().Add(time.Hour))
		rev.answers[tok] = saStatus("a", "x")
		toks = append(toks, tok)
	}
	f := newFixture(t, cfg, Options{Reviewer: rev})
	for _, tok := range toks {
		if _, err := f.a.verifyToken(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
	}
	f.a.cache.mu.Lock()
	n := len(f.a.cache.entries)
	f.a.cache.mu.Unlock()
	if n != 3 {
		t.Fatalf("cache holds %d entries, want 3", n)
	}
}

// TestBoundPodCheckedOnEveryUse: a pod-bound token stops working when its
// pod is deleted, even while its review is cached.
func TestBoundPodCheckedOnEveryUse(t *testing.T) {
	tok := fakeJWT("gw", time.Now().Add(time.Hour))
	st := saStatus("gw-ns", "ingress")
	st.User.Extra = map[string]authenticationv1.ExtraValue{extraPodName: {"gw-1"}, extraPodUID: {"uid-1"}}
	rev := &fakeReviewer{answers: map[string]authenticationv1.TokenReviewStatus{tok: st}}
	pods := &fakePods{pods: map[string]string{"gw-ns/gw-1": "uid-1"}}
	f := newFixture(t, defaultConfig(), Options{Reviewer: rev, Pods: pods})
	cc := f.dial(nil, &tokenCreds{token: tok})
	if err := f.check(cc); err != nil {
		t.Fatal(err)
	}
	if c := f.lastCaller(); c.Pod != "gw-1" {
		t.Fatalf("caller pod = %q", c.Pod)
	}
	pods.delete("gw-ns", "gw-1")
	if err := f.check(cc); status.Code(err) != codes.Unauthenticated || !strings.Contains(err.Error(), ReasonPodGone) {
		t.Fatalf("after pod deletion: %v, want Unauthenticated %s", err, ReasonPodGone)
	}
	pods.mu.Lock()
	pods.pods["gw-ns/gw-1"] = "uid-2" // a new pod of the same name
	pods.mu.Unlock()
	if err := f.check(cc); status.Code(err) != codes.Unauthenticated || !strings.Contains(err.Error(), "uid-1") {
		t.Fatalf("pod replaced: %v, want Unauthenticated naming the bound uid", err)
	}
	if rev.count() != 1 {
		t.Fatalf("reviews = %d, want 1 (the pod is checked apart from the cache)", rev.count())
	}
}

func TestConfigValidate(t *testing.T) {
	err := Config{TrustDomain: "Bad/TD", Audiences: []string{""}}.Validate()
	for _, field := range []string{"TrustDomain", "Audiences[0]", "CacheSize", "MaxCacheAge"} {
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("Validate() = %v, want it to name %s", err, field)
		}
	}
	if err := DefaultConfig("cluster.local").Validate(); err != nil {
		t.Fatal(err)
	}
}
