package federation

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// AdminClient talks to a daemon's AdminHandler (the CLI's `meshgate keyring`
// and `meshgate members`).
type AdminClient struct {
	// Addr is the admin server: "HOST:PORT", a URL ("http://HOST:PORT",
	// "https://HOST:PORT" for an authenticated admin API) or "unix:PATH".
	Addr string
	// Token, when set, is sent as "Authorization: Bearer <Token>" (a
	// service-account token for an authenticated admin API).
	Token string
	// HTTP is the client to use (its TLS settings for https); nil means
	// http.DefaultClient. With a unix: Addr its Transport is replaced by
	// one that dials the socket.
	HTTP *http.Client
}

func (c *AdminClient) url(path string) string {
	if _, unix := strings.CutPrefix(c.Addr, "unix:"); unix {
		return "http://unix" + path
	}
	base := strings.TrimRight(c.Addr, "/")
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	return base + path
}

func (c *AdminClient) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	data, status, err := c.roundTrip(ctx, method, path, rd, 16<<20)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		var e errorResponse
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			return fmt.Errorf("%s %s: %s", method, path, e.Error)
		}
		if status == http.StatusNotFound {
			// A daemon that predates the explicit answer.
			return fmt.Errorf("%s %s: HTTP 404: federation is not enabled on this daemon (or %s is not its admin API)", method, path, c.Addr)
		}
		return statusError(method, path, status, data)
	}
	return json.Unmarshal(data, out)
}

// Get returns the body of GET path (with its query) when the answer is
// 200, reading at most max bytes; any other status is an error carrying
// the daemon's message. For the admin API's other endpoints, such as
// /debug/config_dump.
func (c *AdminClient) Get(ctx context.Context, path string, max int64) ([]byte, error) {
	data, status, err := c.roundTrip(ctx, http.MethodGet, path, nil, max)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, statusError(http.MethodGet, path, status, data)
	}
	return data, nil
}

func (c *AdminClient) roundTrip(ctx context.Context, method, path string, body io.Reader, max int64) ([]byte, int, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.url(path), body)
	if err != nil {
		return nil, 0, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.client().Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		return nil, 0, err
	}
	if int64(len(data)) > max {
		return nil, 0, fmt.Errorf("%s %s: the answer is larger than %d bytes", method, path, max)
	}
	return data, resp.StatusCode, nil
}

// StatusError is a non-200 answer of the admin API.
type StatusError struct {
	Method, Path string
	Status       int
	Message      string // the daemon's one-line message, if it sent one
}

func (e *StatusError) Error() string {
	if e.Message != "" {
		return fmt.Sprintf("%s %s: HTTP %d: %s", e.Method, e.Path, e.Status, e.Message)
	}
	return fmt.Sprintf("%s %s: HTTP %d", e.Method, e.Path, e.Status)
}

// statusError words a non-200 answer: the daemon's one-line message when it
// sent one (never an HTML page).
func statusError(method, path string, status int, data []byte) error {
	e := &StatusError{Method: method, Path: path, Status: status}
	if msg := strings.TrimSpace(string(data)); msg != "" && len(msg) < 512 && !strings.Contains(msg, "<") {
		e.Message = msg
	}
	return e
}

func (c *AdminClient) client() *http.Client {
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	if sock, unix := strings.CutPrefix(c.Addr, "unix:"); unix {
		cp := *hc
		cp.Transport = &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		}}
		return &cp
	}
	return hc
}

// Keys lists the daemon's keys by fingerprint.
func (c *AdminClient) Keys(ctx context.Context) (KeyringResponse, error) {
	var r KeyringResponse
	return r, c.do(ctx, http.MethodGet, PathKeyring, nil, &r)
}

// InstallKey installs a base64 key.
func (c *AdminClient) InstallKey(ctx context.Context, key string) (KeyringResponse, error) {
	var r KeyringResponse
	return r, c.do(ctx, http.MethodPost, PathKeyring, KeyRequest{Key: key}, &r)
}

// UseKey makes a key (base64, or the fingerprint of an installed key) primary.
func (c *AdminClient) UseKey(ctx context.Context, keyOrFingerprint string) (KeyringResponse, error) {
	var r KeyringResponse
	return r, c.do(ctx, http.MethodPost, PathKeyringUse, keyRef(keyOrFingerprint), &r)
}

// RemoveKey removes a key (base64, or the fingerprint of an installed key).
func (c *AdminClient) RemoveKey(ctx context.Context, keyOrFingerprint string) (KeyringResponse, error) {
	var r KeyringResponse
	ref := keyRef(keyOrFingerprint)
	if ref.Fingerprint != "" {
		return r, c.do(ctx, http.MethodDelete, PathKeyring+"?fingerprint="+url.QueryEscape(ref.Fingerprint), nil, &r)
	}
	return r, c.do(ctx, http.MethodDelete, PathKeyring, ref, &r)
}

// Members lists the daemon's view of the mesh.
func (c *AdminClient) Members(ctx context.Context) (MembersResponse, error) {
	var r MembersResponse
	return r, c.do(ctx, http.MethodGet, PathMembers, nil, &r)
}

func keyRef(s string) KeyRequest {
	s = strings.TrimSpace(s)
	if fingerprintRE.MatchString(s) {
		return KeyRequest{Fingerprint: s}
	}
	return KeyRequest{Key: s}
}
