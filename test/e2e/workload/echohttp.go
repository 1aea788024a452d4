package workload

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"syscall"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// Request headers that steer the echo's HTTP answers (the e2e scenarios of
// retries, timeouts and faults through a real proxy):
const (
	// HeaderFail: the first HeaderFailTimes requests (default 1) carrying
	// the same value get 500 from this pod; later ones succeed. Reply.Attempt
	// says which request of that key this was.
	HeaderFail      = "x-echo-fail"
	HeaderFailTimes = "x-echo-fail-times"
	// HeaderDelay: a Go duration the echo waits before answering.
	HeaderDelay = "x-echo-delay"
	// HeaderPod is set on every HTTP answer: the pod that answered.
	HeaderPod = "x-echo-pod"
)

// httpRequestLine is an HTTP/1.x request line: the connection speaks HTTP.
var httpRequestLine = regexp.MustCompile(`^[A-Z]+ \S+ HTTP/1\.[01]\r?\n$`)

// idleHTTP bounds how long a keep-alive connection may wait for its next
// request.
const idleHTTP = 30 * time.Second

// serveHTTP answers HTTP/1.1 requests on c until the peer closes it: status
// 200 with the Reply as JSON (500 for a failing x-echo-fail attempt).
func (e *Echo) serveHTTP(c *tls.Conn, br *bufio.Reader, peer spiffeid.ID, st tls.ConnectionState) error {
	e.mu.Lock()
	e.conns[c] = true
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		delete(e.conns, c)
		e.mu.Unlock()
	}()
	for n := 0; ; n++ {
		_ = c.SetDeadline(time.Now().Add(idleHTTP))
		req, err := http.ReadRequest(br)
		if err != nil {
			if n > 0 && (errors.Is(err, io.EOF) || isClosed(err)) {
				return nil // keep-alive connection closed between requests
			}
			return err
		}
		_, _ = io.Copy(io.Discard, req.Body)
		_ = req.Body.Close()
		if err := e.answerHTTP(c, req, peer, st); err != nil {
			return err
		}
		e.served.Add(1)
		if req.Close {
			return nil
		}
	}
}

func (e *Echo) answerHTTP(w io.Writer, req *http.Request, peer spiffeid.ID, st tls.ConnectionState) error {
	if d := req.Header.Get(HeaderDelay); d != "" {
		dur, err := time.ParseDuration(d)
		if err != nil {
			return writeHTTP(w, req, http.StatusBadRequest, fmt.Sprintf("%s: %v", HeaderDelay, err), e.cfg.Pod)
		}
		time.Sleep(dur) // the behaviour under test: a slow backend
	}
	r := e.reply(peer, st, req.Header.Get("x-echo-seq"))
	r.Method, r.Host, r.Path = req.Method, req.Host, req.URL.Path
	status := http.StatusOK
	if key := req.Header.Get(HeaderFail); key != "" {
		times := 1
		if s := req.Header.Get(HeaderFailTimes); s != "" {
			if t, err := strconv.Atoi(s); err == nil {
				times = t
			}
		}
		e.mu.Lock()
		e.fails[key]++
		r.Attempt = e.fails[key]
		e.mu.Unlock()
		if r.Attempt <= times {
			status = http.StatusInternalServerError
		}
	}
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return writeHTTP(w, req, status, string(b), e.cfg.Pod)
}

func writeHTTP(w io.Writer, req *http.Request, status int, body, pod string) error {
	resp := &http.Response{StatusCode: status, ProtoMajor: 1, ProtoMinor: 1, Request: req,
		Header: http.Header{"Content-Type": {"application/json"}, HeaderPod: {pod}},
		Body:   io.NopCloser(bytes.NewBufferString(body)), ContentLength: int64(len(body)), Close: req.Close}
	return resp.Write(w)
}

// isClosed: the connection ended between requests (closed by either side,
// reset, or idle past idleHTTP).
func isClosed(err error) bool {
	return errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrDeadlineExceeded) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.ErrUnexpectedEOF)
}
