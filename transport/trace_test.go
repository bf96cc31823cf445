package transport

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestStatusSet(t *testing.T) {
	var s StatusSet
	for _, c := range []int{200, 201, 0, 639, 640, -1} {
		s.Add(c)
	}
	for c, want := range map[int]bool{200: true, 201: true, 0: true, 639: true, 640: false, -1: false, 202: false, 503: false} {
		assert.Equal(t, want, s.Has(c), "Has(%d)", c)
	}
}

// A trace details the responses whose status is not expected (or every
// one with All) — header fields, the time the header section arrived, the
// beginning of a discarded body — whatever way the body is framed, on both
// schemes and HTTP/2; and times the phases of a new connection only.
func TestTrace(t *testing.T) {
	long := strings.Repeat("0123456789", 500) // 5,000 bytes
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(r.URL.Query().Get("status"))
		w.Header().Set("X-Why", "overloaded")
		switch r.URL.Query().Get("framing") {
		case "chunked":
			w.WriteHeader(code)
			w.(http.Flusher).Flush() // no Content-Length: chunked
		case "close":
			w.Header().Set("Connection", "close")
			// A hijacked connection writes a body ended by the close.
			c, bw, _ := w.(http.Hijacker).Hijack()
			defer c.Close()
			bw.WriteString("HTTP/1.1 " + strconv.Itoa(code) + " X\r\nX-Why: overloaded\r\nConnection: close\r\n\r\n" + long)
			bw.Flush()
			return
		default:
			w.Header().Set("Content-Length", strconv.Itoa(len(long)))
			w.WriteHeader(code)
		}
		_, _ = w.Write([]byte(long))
	})
	expect := &StatusSet{}
	expect.Add(200)
	pki := newPKI(t)
	for _, scheme := range schemes {
		srv := httpServer(t, scheme, pki, handler)
		for _, framing := range []string{"length", "chunked", "close"} {
			t.Run(scheme+" "+framing, func(t *testing.T) {
				c := newClient(t, Options{TLS: TLSOptions{CAFile: pki.caFile}})
				tr := &Trace{Expect: expect}
				do := func(status int, discard bool) Response {
					resp := Response{Trace: tr}
					err := c.Do(context.Background(), &Request{URL: srv.URL + "/?framing=" + framing + "&status=" + strconv.Itoa(status), DiscardBody: discard}, &resp)
					require.NoError(t, err)
					return resp
				}

				resp := do(503, true)
				require.True(t, tr.Detailed, "an unexpected status is traced")
				assert.False(t, tr.HeaderAt.IsZero())
				assert.Equal(t, "overloaded", headerValue(tr.Header, "X-Why"), "the header fields, which the request did not ask for")
				assert.Empty(t, resp.Header)
				assert.Equal(t, long[:MaxTraceBody], string(tr.Body), "the beginning of the discarded body")
				assert.Equal(t, int64(len(long)), tr.BodySize)
				assert.Empty(t, resp.Body)
				if framing != "close" {
					assert.True(t, tr.Dialled, "the first request made a connection")
					assert.Positive(t, tr.DNS+tr.Connect, "the dial was timed")
					if scheme == "https" {
						assert.Positive(t, tr.TLS, "and its handshake")
					}
				}

				do(200, true)
				assert.False(t, tr.Detailed, "an expected status is not traced")
				assert.Empty(t, tr.Header)
				assert.Empty(t, tr.Body)
				if framing != "close" {
					assert.False(t, tr.Dialled, "the connection was reused")
				}

				tr.All = true
				do(200, false)
				assert.True(t, tr.Detailed, "All traces any status")
				assert.Empty(t, tr.Body, "a kept body stays in the response")
				tr.All = false
			})
		}
	}
}

func TestTraceHTTP2AndFailedDials(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-Why", "overloaded")
		w.WriteHeader(503)
		_, _ = w.Write([]byte("busy"))
	}))
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	defer srv.Close()
	expect := &StatusSet{}
	expect.Add(200)
	tr := &Trace{Expect: expect}
	resp := Response{Trace: tr}
	require.NoError(t, newClient(t, Options{HTTP2: true}).Do(context.Background(), &Request{URL: srv.URL, DiscardBody: true}, &resp))
	assert.True(t, tr.Detailed)
	assert.Equal(t, "overloaded", headerValue(tr.Header, "X-Why"))
	assert.Equal(t, "busy", string(tr.Body))

	// Nothing listens: the dial is timed up to its failure.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	resp = Response{Trace: tr}
	err = newClient(t, Options{}).Do(context.Background(), &Request{URL: "http://" + addr + "/"}, &resp)
	require.Error(t, err)
	assert.True(t, tr.Dialled)
	assert.False(t, tr.Detailed, "no response to trace")
}

func headerValue(h []Header, name string) string {
	for _, f := range h {
		if strings.EqualFold(f.Name, name) {
			return f.Value
		}
	}
	return ""
}
