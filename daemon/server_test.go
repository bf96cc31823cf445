package daemon

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// dial opens a raw connection to the daemon's API and writes s on it.
func (td *testDaemon) dial(s string) net.Conn {
	td.t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(td.base, "http://"))
	require.NoError(td.t, err)
	td.t.Cleanup(func() { c.Close() })
	if s != "" {
		_, err = io.WriteString(c, s)
		require.NoError(td.t, err)
	}
	return c
}

// closedWithin reads c until the server closes it, for at most limit, and
// returns what it read and how long that took; ok is false when the
// connection was still open at the limit.
func closedWithin(c net.Conn, limit time.Duration) (read string, took time.Duration, ok bool) {
	start := time.Now()
	if err := c.SetReadDeadline(start.Add(limit)); err != nil {
		return err.Error(), 0, false
	}
	b, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return string(b), time.Since(start), false
	}
	return string(b), time.Since(start), true
}

const slowBodyRequest = "POST /api/v1/gate/shop HTTP/1.1\r\nHost: canary\r\nContent-Type: application/json\r\nContent-Length: 1048576\r\n\r\n{\"name\":"

// Connections that send a body a byte at a time, headers a line at a time,
// or nothing after a request, are closed by the server's timeouts; before
// them, 50 of each were held open for as long as the client liked.
func TestSlowAndIdleConnectionsAreClosed(t *testing.T) {
	td := startWith(t, "  read_header_timeout: 1s\n  read_timeout: 2s\n  idle_timeout: 1s\n  max_unauthenticated_requests: 200\n", shopCheck)
	const n = 50
	// Far above the timeouts, for a loaded machine; the connections would
	// stay open without them.
	const limit = 20 * time.Second
	for _, tc := range []struct {
		name, send string
		answer     string // the start of what the server sends before closing
	}{
		{name: "slow body", send: slowBodyRequest, answer: "HTTP/1.1 400 "},
		{name: "slow headers", send: "POST /api/v1/gate/shop HTTP/1.1\r\nHost: canary\r\nContent-Le", answer: ""},
		{name: "idle after a request", send: "GET /-/healthy HTTP/1.1\r\nHost: canary\r\n\r\n", answer: "HTTP/1.1 200 OK"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conns := make([]net.Conn, n)
			for i := range conns {
				conns[i] = td.dial(tc.send)
			}
			var wg sync.WaitGroup
			errs := make([]string, n)
			for i, c := range conns {
				wg.Add(1)
				go func() {
					defer wg.Done()
					read, took, ok := closedWithin(c, limit)
					switch {
					case !ok:
						errs[i] = fmt.Sprintf("connection %d still open after %v", i, took)
					case !strings.HasPrefix(read, tc.answer):
						errs[i] = fmt.Sprintf("connection %d: got %q, want it to start with %q", i, read, tc.answer)
					}
				}()
			}
			wg.Wait()
			for _, e := range errs {
				assert.Empty(t, e)
			}
		})
	}
}

// Requests without a token share a bounded number of slots: past them the
// answer is 503 at once, counted, while requests with a token and health
// probes still get through.
func TestUnauthenticatedRequestsShareBoundedSlots(t *testing.T) {
	td := startWith(t, "  read_timeout: 60s\n  max_unauthenticated_requests: 3\n", shopCheck)
	slow := make([]net.Conn, 3)
	for i := range slow {
		slow[i] = td.dial(slowBodyRequest)
	}
	var retryAfter string
	require.Eventually(t, func() bool {
		code, hdr, _ := td.send("GET", "/api/v1/runs", nil, "")
		retryAfter = hdr.Get("Retry-After")
		return code == http.StatusServiceUnavailable
	}, 10*time.Second, 20*time.Millisecond, "three slow bodies take the three slots")
	assert.Equal(t, "1", retryAfter)
	code, _, body := td.send("POST", "/api/v1/gate/shop", nil, "")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Contains(t, body, "server.max_unauthenticated_requests")

	code, _, _ = td.send("GET", "/api/v1/runs", bearer(token), "")
	assert.Equal(t, http.StatusOK, code, "a token is not limited")
	code, _, _ = td.send("GET", "/-/healthy", nil, "")
	assert.Equal(t, http.StatusOK, code, "health probes are not limited")
	code, _, _ = td.send("GET", "/api/v1/runs", bearer("wrong"), "")
	assert.Equal(t, http.StatusServiceUnavailable, code, "a wrong token is no token")
	_, _, metrics := td.send("GET", "/metrics", bearer(token), "")
	assert.Greater(t, counter(metrics, `canary_api_requests_rejected_total{reason="busy"}`), 1.0)

	for _, c := range slow {
		require.NoError(t, c.Close())
	}
	require.Eventually(t, func() bool {
		code, _, _ := td.send("GET", "/api/v1/runs", nil, "")
		return code == http.StatusOK
	}, 10*time.Second, 20*time.Millisecond, "the slots are free again")
}

// Every body is capped; past the cap the answer is 413.
func TestBodiesAreCapped(t *testing.T) {
	td := startWith(t, "  max_body_bytes: 200\n", shopCheck)
	pad := strings.Repeat(" ", 200)
	for _, tc := range []struct {
		name, method, path, body string
		status                   int
	}{
		{name: "runs", method: "POST", path: "/api/v1/runs", body: `{"check":"shop",` + pad + `"duration":"1s"}`, status: 413},
		{name: "silences", method: "POST", path: "/api/v1/silences", body: `{"matchers":{"check":"shop"},` + pad + `"duration":"1h"}`, status: 413},
		{name: "gate", method: "POST", path: "/api/v1/gate/shop", body: `{"name":"shop",` + pad + `"metadata":{}}`, status: 413},
		{name: "under the cap", method: "POST", path: "/api/v1/silences", body: `{"matchers":{"check":"shop"},"duration":"1h"}`, status: 201},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, resp := td.send(tc.method, tc.path, bearer(token), tc.body)
			require.Equal(t, tc.status, code, resp)
			if code == 413 {
				assert.Contains(t, resp, "body larger than 200 bytes")
			}
		})
	}
}

// The server's limits are fixed when it starts; a reload keeps them and
// says so.
func TestReloadKeepsServerLimits(t *testing.T) {
	td := startWith(t, "  max_body_bytes: 200\n", shopCheck)
	require.NoError(t, os.WriteFile(td.cfg, []byte(configYAMLWith("  max_body_bytes: 100000\n", shopCheck)), 0o644))
	code, _, resp := td.send("POST", "/-/reload", bearer(token), "")
	require.Equal(t, 200, code, resp)
	assert.Contains(t, td.logs.String(), "take effect at the next restart")
	code, _, _ = td.send("POST", "/api/v1/silences", bearer(token), `{"matchers":{"check":"shop"},"duration":"1h","comment":"`+strings.Repeat("x", 300)+`"}`)
	assert.Equal(t, 413, code)
}
