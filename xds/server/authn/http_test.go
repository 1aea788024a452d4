package authn

import (
	"crypto/tls"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"

	"github.com/meshgate/meshgate/identity"
)

// TestAuthenticateHTTP: the same rules over HTTPS (the daemon's exposed
// admin API): an SVID client certificate, a reviewed bearer token, and
// refusals with their reasons counted.
func TestAuthenticateHTTP(t *testing.T) {
	tok := fakeJWT("admin", time.Now().Add(time.Hour))
	rev := &fakeReviewer{answers: map[string]authenticationv1.TokenReviewStatus{tok: saStatus("ops", "admin")}}
	f := newFixture(t, defaultConfig(), Options{Reviewer: rev})
	web := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := f.a.AuthenticateHTTP(r)
		var e *Error
		if errors.As(err, &e) {
			http.Error(w, e.Reason, http.StatusUnauthorized)
			return
		}
		_, _ = w.Write([]byte(c.String()))
	}))
	web.TLS = ServerTLSConfig(f.serving)
	web.StartTLS()
	t.Cleanup(web.Close)
	foreign, err := identity.NewSelfSignedCA(identity.CAConfig{TrustDomain: localTD}, identity.CAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		cfg        *tls.Config
		auth       string
		wantCode   int
		wantReason string
	}{
		{"svid", f.clientTLS(f.svid(f.ca, "/ns/ops/sa/admin")), "", 200, ""},
		{"token", f.clientTLS(nil), "Bearer " + tok, 200, ""},
		{"nothing", f.clientTLS(nil), "", 401, ReasonNoCredentials},
		{"foreign CA", f.clientTLS(f.svid(foreign, "/ns/ops/sa/admin")), "", 401, ReasonBadCertificate},
		{"unknown token", f.clientTLS(nil), "Bearer " + fakeJWT("x", time.Now().Add(time.Hour)), 401, ReasonTokenInvalid},
		{"basic auth", f.clientTLS(nil), "Basic YTpi", 401, ReasonBadHeader},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := f.count("refused", tc.wantReason)
			hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tc.cfg}}
			req, _ := http.NewRequest(http.MethodGet, web.URL, nil)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.wantCode {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tc.wantCode)
			}
			if tc.wantReason != "" {
				if got := f.count("refused", tc.wantReason); got != before+1 {
					t.Fatalf("refused{%s} = %v, want %v", tc.wantReason, got, before+1)
				}
			}
		})
	}
	if strings.Contains(f.logs.String(), tok) {
		t.Fatal("the token appears in the logs")
	}
}
