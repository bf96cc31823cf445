package transport

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canaryproj/canary/redact"
	"github.com/canaryproj/canary/stats"
)

// seen is what a test server received.
type seen struct {
	Method string
	Host   string
	Path   string // as on the request line
	Header http.Header
	Body   string
}

// recorder is a handler that records each request and answers 200 "ok".
type recorder struct {
	mu   sync.Mutex
	reqs []seen
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.reqs = append(r.reqs, seen{Method: req.Method, Host: req.Host, Path: req.RequestURI, Header: req.Header.Clone(), Body: string(body)})
	r.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Add("X-Multi", "one")
	w.Header().Add("X-Multi", "two")
	_, _ = io.WriteString(w, "ok")
}

func (r *recorder) all() []seen {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]seen(nil), r.reqs...)
}

func TestDo(t *testing.T) {
	pki := newPKI(t)
	for _, scheme := range schemes {
		t.Run(scheme, func(t *testing.T) {
			rec := &recorder{}
			srv := httpServer(t, scheme, pki, rec)
			c := clientFor(t, pki, Options{})
			tests := []struct {
				name string
				req  Request
				want Response
			}{
				{
					name: "GET without headers",
					req:  Request{URL: srv.URL + "/a?b=c"},
					want: Response{Status: 200, Proto: "HTTP/1.1", Body: []byte("ok"), URL: srv.URL + "/a?b=c"},
				},
				{
					name: "POST with headers wanted",
					req:  Request{Method: "POST", URL: srv.URL + "/p", Body: []byte(`{"a":1}`), NeedHeaders: true},
					want: Response{
						Status: 200, Proto: "HTTP/1.1", Body: []byte("ok"), URL: srv.URL + "/p",
						Header: []Header{
							{"Content-Length", "2"},
							{"Content-Type", "text/plain"},
							{"Date", "*"},
							{"X-Multi", "one"},
							{"X-Multi", "two"},
						},
					},
				},
				{
					name: "HEAD",
					req:  Request{Method: "HEAD", URL: srv.URL + "/h"},
					want: Response{Status: 200, Proto: "HTTP/1.1", Body: []byte{}, URL: srv.URL + "/h"},
				},
			}
			// One Response for every request, as a worker reuses it.
			var resp Response
			for _, tt := range tests {
				require.NoError(t, c.Do(context.Background(), &tt.req, &resp), "Do(%s %s)", tt.req.Method, tt.req.URL)
				got := resp
				got.Body = append([]byte{}, resp.Body...)
				got.Header = append([]Header(nil), resp.Header...)
				for i := range got.Header {
					if got.Header[i].Name == "Date" {
						got.Header[i].Value = "*"
					}
				}
				if len(got.Header) == 0 {
					got.Header = nil
				}
				// The chain served over https is TestResponsesCarryThePeerCertificates' subject.
				if scheme == "https" {
					require.Len(t, got.TLS, 1, "%s: the chain served", tt.name)
					assert.Equal(t, "127.0.0.1", got.TLS[0].Host)
				} else {
					assert.Empty(t, got.TLS, "%s: no chain over http", tt.name)
				}
				got.TLS = nil
				assert.Empty(t, cmp.Diff(tt.want, got, cmpopts.IgnoreUnexported(Response{})), "%s: Do(%s %s) response (-want +got)", tt.name, tt.req.Method, tt.req.URL)
			}
			if resp.Get("x-multi") != "" {
				t.Errorf("headers of an earlier response kept after a request without NeedHeaders")
			}
			assert.Len(t, rec.all(), len(tests))
		})
	}
}

func TestResponseHeaderAccessors(t *testing.T) {
	pki := newPKI(t)
	for _, scheme := range schemes {
		t.Run(scheme, func(t *testing.T) {
			srv := httpServer(t, scheme, pki, &recorder{})
			c := clientFor(t, pki, Options{})
			var resp Response
			require.NoError(t, c.Do(context.Background(), &Request{URL: srv.URL, NeedHeaders: true}, &resp))
			assert.Equal(t, "text/plain", resp.Get("content-type"))
			assert.Equal(t, []string{"one", "two"}, resp.Values("X-MULTI"))
			assert.Empty(t, resp.Get("Set-Cookie"))
		})
	}
}

// TestRequestHeadersExact checks that both paths send the request's
// headers and nothing else but Host, the configured User-Agent and the
// framing of the body.
func TestRequestHeadersExact(t *testing.T) {
	pki := newPKI(t)
	tests := []struct {
		name      string
		userAgent string
		req       Request
		want      seen
	}{
		{
			name:      "GET with repeated and credential headers",
			userAgent: "canary-test/1",
			req: Request{URL: "/path", Header: []Header{
				{"X-A", "1"}, {"x-a", "2"}, {"Accept", "application/json"}, {"Authorization", "Bearer t0ken"},
			}},
			want: seen{Method: "GET", Path: "/path", Header: http.Header{
				"X-A": {"1", "2"}, "Accept": {"application/json"}, "Authorization": {"Bearer t0ken"},
				"User-Agent": {"canary-test/1"},
			}},
		},
		{
			name: "no User-Agent at all when neither sets one",
			req:  Request{URL: "/"},
			want: seen{Method: "GET", Path: "/", Header: http.Header{}},
		},
		{
			name:      "the request's User-Agent wins",
			userAgent: "canary-test/1",
			req:       Request{URL: "/", Header: []Header{{"User-Agent", "mine"}}},
			want:      seen{Method: "GET", Path: "/", Header: http.Header{"User-Agent": {"mine"}}},
		},
		{
			name: "POST body with its Content-Type, no made-up one",
			req: Request{Method: "POST", URL: "/p?x=1", Body: []byte("a=b"),
				Header: []Header{{"Content-Type", "application/x-www-form-urlencoded"}}},
			want: seen{Method: "POST", Path: "/p?x=1", Body: "a=b", Header: http.Header{
				"Content-Type": {"application/x-www-form-urlencoded"}, "Content-Length": {"3"},
			}},
		},
		{
			name: "POST body without Content-Type",
			req:  Request{Method: "POST", URL: "/p", Body: []byte("raw")},
			want: seen{Method: "POST", Path: "/p", Body: "raw", Header: http.Header{"Content-Length": {"3"}}},
		},
		{
			name: "framing headers of the request are ignored",
			req: Request{Method: "PUT", URL: "/p", Body: []byte("four"),
				Header: []Header{{"Content-Length", "99"}, {"Transfer-Encoding", "chunked"}}},
			want: seen{Method: "PUT", Path: "/p", Body: "four", Header: http.Header{"Content-Length": {"4"}}},
		},
		{
			name: "Host header sets the Host",
			req:  Request{URL: "/", Header: []Header{{"Host", "virtual.example"}}},
			want: seen{Method: "GET", Host: "virtual.example", Path: "/", Header: http.Header{}},
		},
		{
			name: "path and query sent as written",
			req:  Request{URL: "/a//b/./c/%2F?q=a%20b&r=/x"},
			want: seen{Method: "GET", Path: "/a//b/./c/%2F?q=a%20b&r=/x", Header: http.Header{}},
		},
		{
			name: "spaces and non-ASCII in the query are escaped",
			req:  Request{URL: "/q?name=Zoë Smith&x=1"},
			want: seen{Method: "GET", Path: "/q?name=Zo%C3%AB%20Smith&x=1", Header: http.Header{}},
		},
		{
			name: "user-info becomes Basic authorization",
			req:  Request{URL: "user:pa55@/"},
			want: seen{Method: "GET", Path: "/", Header: http.Header{"Authorization": {"Basic dXNlcjpwYTU1"}}},
		},
	}
	for _, scheme := range schemes {
		for _, tt := range tests {
			t.Run(scheme+"/"+tt.name, func(t *testing.T) {
				rec := &recorder{}
				srv := httpServer(t, scheme, pki, rec)
				c := clientFor(t, pki, Options{UserAgent: tt.userAgent})
				req := tt.req
				base := srv.URL
				if strings.Contains(req.URL, "@") {
					base = strings.Replace(srv.URL, "://", "://"+strings.TrimSuffix(req.URL, "/"), 1)
					req.URL = "/"
				}
				req.URL = base + req.URL
				var resp Response
				require.NoError(t, c.Do(context.Background(), &req, &resp), "Do(%s)", req.URL)

				got := rec.all()
				require.Len(t, got, 1)
				want := tt.want
				if want.Host == "" {
					want.Host = hostPort(srv.URL)
				}
				assert.Empty(t, cmp.Diff(want, got[0]), "%s %s: request as the server saw it (-want +got)", req.Method, req.URL)
			})
		}
	}
}

// TestRequestWire checks the bytes the plain path writes: the request line
// and header fields, nothing else.
func TestRequestWire(t *testing.T) {
	pki := newPKI(t)
	for _, scheme := range schemes {
		t.Run(scheme, func(t *testing.T) {
			got := make(chan string, 1)
			srv := newRawServer(t, scheme, pki, func(s *rawServer, c net.Conn) {
				br := bufio.NewReader(c)
				var head strings.Builder
				for {
					line, err := br.ReadString('\n')
					if err != nil {
						return
					}
					head.WriteString(line)
					if line == "\r\n" {
						break
					}
				}
				got <- head.String()
				_, _ = io.WriteString(c, okResponse)
			})
			c := clientFor(t, pki, Options{UserAgent: "ua"})
			var resp Response
			req := &Request{URL: srv.URL + "/x/../y?z", Header: []Header{{"x-lower", "v"}}}
			require.NoError(t, c.Do(context.Background(), req, &resp))
			want := "GET /x/../y?z HTTP/1.1\r\nUser-Agent: ua\r\nHost: " + hostPort(srv.URL) + "\r\nX-Lower: v\r\n\r\n"
			assert.Equal(t, want, <-got)
		})
	}
}

// TestNoRetries checks that the target sees each request exactly once,
// also when the server reads it and closes the connection without an
// answer — the case in which net/http would resend a GET on a reused
// connection and fasthttp an idempotent request.
func TestNoRetries(t *testing.T) {
	pki := newPKI(t)
	tests := []struct {
		name   string
		method string
		body   string
		// closeOn is the request (1-based, per connection) the server reads
		// and answers by closing.
		closeOn int
	}{
		{name: "GET on a reused connection", method: "GET", closeOn: 2},
		{name: "HEAD on a reused connection", method: "HEAD", closeOn: 2},
		{name: "GET with an idempotency key", method: "GET", closeOn: 2},
		{name: "POST on a reused connection", method: "POST", body: "x", closeOn: 2},
		{name: "PUT on a reused connection", method: "PUT", body: "x", closeOn: 2},
		{name: "GET on a fresh connection", method: "GET", closeOn: 1},
	}
	for _, scheme := range schemes {
		for _, tt := range tests {
			t.Run(scheme+"/"+tt.name, func(t *testing.T) {
				srv := newRawServer(t, scheme, pki, func(s *rawServer, c net.Conn) {
					br := bufio.NewReader(c)
					for n := 1; ; n++ {
						if _, err := s.readRequest(br); err != nil {
							return
						}
						if n == tt.closeOn {
							return
						}
						answer := okResponse
						if tt.method == "HEAD" {
							answer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n"
						}
						if _, err := io.WriteString(c, answer); err != nil {
							return
						}
					}
				})
				c := clientFor(t, pki, Options{})
				req := &Request{Method: tt.method, URL: srv.URL, Body: []byte(tt.body)}
				if strings.Contains(tt.name, "idempotency") {
					req.Header = []Header{{"Idempotency-Key", "k1"}}
				}
				var resp Response
				for i := 1; i < tt.closeOn; i++ {
					require.NoError(t, c.Do(context.Background(), req, &resp), "request %d", i)
				}
				err := c.Do(context.Background(), req, &resp)
				require.Error(t, err, "request %d: the server closed without answering", tt.closeOn)
				assert.Equal(t, stats.ClassEOF, Classify(err), "class of %q", err)
				assert.Equal(t, int64(tt.closeOn), srv.requests.Load(), "requests the server read")
				assert.Equal(t, int64(1), srv.accepted.Load(), "connections the server accepted")
			})
		}
	}
}

func TestConnectionReuse(t *testing.T) {
	pki := newPKI(t)
	for _, scheme := range schemes {
		t.Run(scheme, func(t *testing.T) {
			srv := answering(t, scheme, pki, okResponse)
			c := clientFor(t, pki, Options{IdleConnTimeout: 300 * time.Millisecond})
			var resp Response
			for range 5 {
				require.NoError(t, c.Do(context.Background(), &Request{URL: srv.URL}, &resp))
			}
			assert.Equal(t, int64(1), srv.accepted.Load(), "five sequential requests on one keep-alive connection")

			// Past the idle timeout, the connection is not reused.
			time.Sleep(600 * time.Millisecond)
			require.NoError(t, c.Do(context.Background(), &Request{URL: srv.URL}, &resp))
			assert.Equal(t, int64(2), srv.accepted.Load(), "a connection idle past the timeout is replaced")
		})
	}
}

func TestConnectionCloseHonoured(t *testing.T) {
	pki := newPKI(t)
	for _, scheme := range schemes {
		t.Run(scheme, func(t *testing.T) {
			srv := newRawServer(t, scheme, pki, func(s *rawServer, c net.Conn) {
				if _, err := s.readRequest(bufio.NewReader(c)); err != nil {
					return
				}
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok")
				_, _ = io.Copy(io.Discard, c) // a server that keeps its side open
			})
			c := clientFor(t, pki, Options{})
			var resp Response
			for i := range 3 {
				require.NoError(t, c.Do(context.Background(), &Request{URL: srv.URL}, &resp), "request %d", i)
			}
			assert.Equal(t, int64(3), srv.accepted.Load(), "a response with Connection: close ends its connection")
		})
	}
}

func TestDNS(t *testing.T) {
	for _, scheme := range schemes {
		t.Run(scheme, func(t *testing.T) {
			c := newClient(t, Options{})
			var resp Response
			err := c.Do(context.Background(), &Request{URL: scheme + "://canary-test.invalid/", Timeout: 5 * time.Second}, &resp)
			require.Error(t, err)
			assert.Equal(t, stats.ClassDNS, Classify(err), "class of %q", err)
		})
	}
}

func TestConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	for _, scheme := range schemes {
		t.Run(scheme, func(t *testing.T) {
			c := newClient(t, Options{})
			var resp Response
			err := c.Do(context.Background(), &Request{URL: scheme + "://" + addr + "/"}, &resp)
			require.Error(t, err)
			assert.Equal(t, stats.ClassConnectionRefused, Classify(err), "class of %q", err)
		})
	}
}

func TestBodyCap(t *testing.T) {
	pki := newPKI(t)
	const limit = 1000
	tests := []struct {
		name    string
		size    int
		chunked bool
		wantErr bool
	}{
		{name: "exactly at the cap", size: limit},
		{name: "one byte over", size: limit + 1, wantErr: true},
		{name: "chunked, exactly at the cap", size: limit, chunked: true},
		{name: "chunked, one byte over", size: limit + 1, chunked: true, wantErr: true},
		{name: "empty", size: 0},
	}
	for _, scheme := range schemes {
		for _, tt := range tests {
			t.Run(scheme+"/"+tt.name, func(t *testing.T) {
				srv := httpServer(t, scheme, pki, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
					if !tt.chunked {
						w.Header().Set("Content-Length", fmt.Sprint(tt.size))
					}
					_, _ = io.WriteString(w, strings.Repeat("b", tt.size))
				}))
				c := clientFor(t, pki, Options{})
				var resp Response
				err := c.Do(context.Background(), &Request{URL: srv.URL, MaxBody: limit}, &resp)
				if tt.wantErr {
					require.Error(t, err)
					assert.Equal(t, stats.ClassBodyTooLarge, Classify(err), "class of %q", err)
					return
				}
				require.NoError(t, err)
				assert.Len(t, resp.Body, tt.size)
			})
		}
	}
}

func TestContext(t *testing.T) {
	pki := newPKI(t)
	stall := func(s *rawServer, c net.Conn) {
		if _, err := s.readRequest(bufio.NewReader(c)); err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, c)
	}
	for _, scheme := range schemes {
		t.Run(scheme+"/cancelled before", func(t *testing.T) {
			srv := newRawServer(t, scheme, pki, stall)
			c := clientFor(t, pki, Options{})
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			var resp Response
			err := c.Do(ctx, &Request{URL: srv.URL}, &resp)
			require.ErrorIs(t, err, context.Canceled)
			assert.Equal(t, stats.ClassOther, Classify(err))
			assert.Zero(t, srv.accepted.Load(), "nothing sent for a cancelled context")
		})
		t.Run(scheme+"/cancelled while waiting for the response", func(t *testing.T) {
			srv := newRawServer(t, scheme, pki, stall)
			c := clientFor(t, pki, Options{})
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(100*time.Millisecond, cancel)
			var resp Response
			start := time.Now()
			err := c.Do(ctx, &Request{URL: srv.URL, Timeout: 10 * time.Second}, &resp)
			require.ErrorIs(t, err, context.Canceled, "Do = %v", err)
			assert.Equal(t, stats.ClassOther, Classify(err))
			assert.Less(t, time.Since(start), 2*time.Second, "Do returned long after the cancellation")
		})
		t.Run(scheme+"/context deadline before the timeout", func(t *testing.T) {
			srv := newRawServer(t, scheme, pki, stall)
			c := clientFor(t, pki, Options{})
			ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
			defer cancel()
			var resp Response
			start := time.Now()
			err := c.Do(ctx, &Request{URL: srv.URL, Timeout: 10 * time.Second}, &resp)
			require.Error(t, err)
			assert.Equal(t, stats.ClassTimeout, Classify(err), "class of %q", err)
			assert.Less(t, time.Since(start), 2*time.Second)
		})
	}
}

// TestCancelledConnectionNotReused checks that a connection whose request
// was aborted is not handed to the next request.
func TestCancelledConnectionNotReused(t *testing.T) {
	pki := newPKI(t)
	for _, scheme := range schemes {
		t.Run(scheme, func(t *testing.T) {
			first := make(chan struct{})
			srv := newRawServer(t, scheme, pki, func(s *rawServer, c net.Conn) {
				br := bufio.NewReader(c)
				for {
					if _, err := s.readRequest(br); err != nil {
						return
					}
					if s.requests.Load() == 1 {
						<-first // stall the first request until the test is past it
					}
					if _, err := io.WriteString(c, okResponse); err != nil {
						return
					}
				}
			})
			c := clientFor(t, pki, Options{})
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			var resp Response
			require.Error(t, c.Do(ctx, &Request{URL: srv.URL}, &resp))
			close(first)
			require.NoError(t, c.Do(context.Background(), &Request{URL: srv.URL}, &resp))
			assert.Equal(t, "ok", string(resp.Body))
			assert.Equal(t, int64(2), srv.accepted.Load(), "the aborted connection was discarded")
		})
	}
}

func TestInvalidRequests(t *testing.T) {
	srv := newRawServer(t, "http", nil, func(s *rawServer, c net.Conn) {
		_, _ = s.readRequest(bufio.NewReader(c))
	})
	tests := []struct {
		name    string
		req     Request
		wantMsg string
	}{
		{name: "method with a space", req: Request{Method: "GE T", URL: srv.URL}, wantMsg: `invalid method "GE T"`},
		{name: "header value with a line break", req: Request{URL: srv.URL, Header: []Header{{"X-A", "v\r\nX-Injected: 1"}}}, wantMsg: "invalid value for header X-A"},
		{name: "header name with a colon", req: Request{URL: srv.URL, Header: []Header{{"X:A", "v"}}}, wantMsg: `invalid header name "X:A"`},
		{name: "empty header name", req: Request{URL: srv.URL, Header: []Header{{"", "v"}}}, wantMsg: `invalid header name ""`},
		{name: "unsupported scheme", req: Request{URL: "ftp://127.0.0.1/"}, wantMsg: `unsupported scheme "ftp"`},
		{name: "relative URL", req: Request{URL: "/only/a/path"}, wantMsg: "no scheme"},
		{name: "no host", req: Request{URL: "http:///path"}, wantMsg: "no host"},
		{name: "unparsable URL", req: Request{URL: "http://127.0.0.1:bad/"}, wantMsg: "bad URL"},
		{name: "Host header with a space", req: Request{URL: srv.URL, Header: []Header{{"Host", "a b"}}}, wantMsg: `invalid Host header "a b"`},
		{name: "control character in the URL", req: Request{URL: srv.URL + "/a\nb"}, wantMsg: "bad URL"},
	}
	c := newClient(t, Options{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var resp Response
			err := c.Do(context.Background(), &tt.req, &resp)
			require.Error(t, err, "Do(%q %q)", tt.req.Method, tt.req.URL)
			assert.Equal(t, stats.ClassOther, Classify(err))
			assert.Contains(t, err.Error(), tt.wantMsg)
		})
	}
	assert.Zero(t, srv.requests.Load(), "no invalid request reached the server")
}

func TestNewErrors(t *testing.T) {
	pki := newPKI(t)
	dir := t.TempDir()
	notPEM := writeFile(t, dir, "not.pem", []byte("hello"))
	tests := []struct {
		name string
		o    Options
		want []string
	}{
		{name: "negative connections", o: Options{MaxConnsPerHost: -1}, want: []string{"max connections per host -1"}},
		{name: "negative redirects", o: Options{MaxRedirects: -2}, want: []string{"max redirects -2"}},
		{name: "negative dial timeout", o: Options{DialTimeout: -time.Second}, want: []string{"dial timeout -1s"}},
		{name: "negative idle timeout", o: Options{IdleConnTimeout: -time.Second}, want: []string{"idle connection timeout -1s"}},
		{name: "user agent with a line break", o: Options{UserAgent: "a\nb"}, want: []string{"user agent"}},
		{name: "missing CA file", o: Options{TLS: TLSOptions{CAFile: dir + "/nope.pem"}}, want: []string{"ca_file", "nope.pem", "no such file"}},
		{name: "CA file without PEM", o: Options{TLS: TLSOptions{CAFile: notPEM}}, want: []string{"ca_file " + notPEM + ": no PEM certificate"}},
		{name: "certificate without key", o: Options{TLS: TLSOptions{CertFile: pki.clientCert}}, want: []string{pki.clientCert, "key_file is missing"}},
		{name: "key without certificate", o: Options{TLS: TLSOptions{KeyFile: pki.clientKey}}, want: []string{pki.clientKey, "cert_file is missing"}},
		{name: "key that is not a key", o: Options{TLS: TLSOptions{CertFile: pki.clientCert, KeyFile: notPEM}}, want: []string{pki.clientCert, notPEM}},
		{name: "every problem at once", o: Options{MaxConnsPerHost: -1, TLS: TLSOptions{CAFile: notPEM}}, want: []string{"max connections", "no PEM"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.o)
			require.Error(t, err, "New(%+v)", tt.o)
			assert.Nil(t, c)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestSecretsRedacted(t *testing.T) {
	secrets := &redact.Set{}
	secrets.Add("s3cr3t-token")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())

	c := newClient(t, Options{Secrets: secrets})
	var resp Response
	for _, scheme := range schemes {
		rawURL := scheme + "://user:hunter2@" + addr + "/x?token=s3cr3t-token"
		err := c.Do(context.Background(), &Request{URL: rawURL}, &resp)
		require.Error(t, err)
		msg := err.Error()
		assert.NotContains(t, msg, "hunter2")
		assert.NotContains(t, msg, "s3cr3t-token")
		assert.Contains(t, msg, redact.Placeholder)
		var te *Error
		require.ErrorAs(t, err, &te)
		assert.NotContains(t, te.URL, "hunter2")
		assert.NotContains(t, te.URL, "s3cr3t-token")
	}
}

// TestHostsBounded checks the bound on HTTP/1.1 host pools: a full map
// evicts a host without requests in flight and refuses when every host is
// busy. http:// and https:// pools of one host are two entries.
func TestHostsBounded(t *testing.T) {
	p := newH1Path(Options{MaxConnsPerHost: 1, IdleConnTimeout: time.Second}, &tls.Config{})
	key := func(i int) hostKey { return hostKey{https: i%2 == 1, host: fmt.Sprintf("host%d.test:443", i/2)} }
	held := make([]*hostPool, 0, MaxHosts)
	for i := range MaxHosts {
		h, err := p.host(key(i), time.Now())
		require.NoError(t, err)
		held = append(held, h)
	}
	extra := hostKey{host: "one-too-many.test:80"}
	_, err := p.host(extra, time.Now())
	require.ErrorIs(t, err, errTooManyHosts)

	// The same host again is no new entry.
	again, err := p.host(key(7), time.Now())
	require.NoError(t, err)
	p.release(again)

	p.release(held[3])
	h, err := p.host(extra, time.Now())
	require.NoError(t, err, "a host without requests in flight makes room")
	p.release(h)
	assert.Len(t, p.hosts, MaxHosts)
	assert.NotContains(t, p.hosts, key(3), "the idle host was evicted")
	assert.Contains(t, p.hosts, key(2), "the same host over the other scheme stays")
	assert.Contains(t, p.hosts, key(7), "busy hosts stay")
}

// TestConcurrent runs many requests at once on both paths (with -race).
func TestConcurrent(t *testing.T) {
	pki := newPKI(t)
	for _, scheme := range schemes {
		t.Run(scheme, func(t *testing.T) {
			srv := httpServer(t, scheme, pki, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.WriteString(w, r.URL.Query().Get("n"))
			}))
			c := clientFor(t, pki, Options{MaxConnsPerHost: 8})
			var wg sync.WaitGroup
			errs := make(chan error, 50)
			for g := range 50 {
				wg.Go(func() {
					var resp Response
					for i := range 20 {
						n := fmt.Sprintf("%d-%d", g, i)
						if err := c.Do(context.Background(), &Request{URL: srv.URL + "/?n=" + n}, &resp); err != nil {
							errs <- err
							return
						}
						if string(resp.Body) != n {
							errs <- fmt.Errorf("body %q for request %s", resp.Body, n)
							return
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
		})
	}
}

// TestWaitForConnection checks that with every connection busy a request
// waits for one (rather than failing) and gives up at its deadline.
func TestWaitForConnection(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			<-release
		}
		_, _ = io.WriteString(w, "ok")
	}))
	defer srv.Close()
	defer close(release)
	c := newClient(t, Options{MaxConnsPerHost: 1})

	done := make(chan error, 1)
	go func() {
		var resp Response
		done <- c.Do(context.Background(), &Request{URL: srv.URL + "/slow"}, &resp)
	}()
	time.Sleep(50 * time.Millisecond) // the slow request holds the only connection

	var resp Response
	err := c.Do(context.Background(), &Request{URL: srv.URL + "/fast", Timeout: 100 * time.Millisecond}, &resp)
	require.Error(t, err)
	assert.Equal(t, stats.ClassTimeout, Classify(err), "class of %q", err)
	assert.Contains(t, err.Error(), "waiting for one of 1 connections")

	go func() {
		time.Sleep(50 * time.Millisecond)
		release <- struct{}{}
	}()
	require.NoError(t, c.Do(context.Background(), &Request{URL: srv.URL + "/fast", Timeout: 5 * time.Second}, &resp))
	require.NoError(t, <-done)
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want stats.ErrorClass
	}{
		{"nil", nil, stats.ClassNone},
		{"transport error", NewError(stats.ClassTLS, "GET", "https://x/", errors.New("x"), nil), stats.ClassTLS},
		{"wrapped transport error", fmt.Errorf("step login: %w", NewError(stats.ClassDNS, "GET", "u", errors.New("x"), nil)), stats.ClassDNS},
		{"deadline", context.DeadlineExceeded, stats.ClassTimeout},
		{"cancelled", fmt.Errorf("x: %w", context.Canceled), stats.ClassOther},
		{"net timeout", &net.OpError{Op: "read", Err: timeoutErr{}}, stats.ClassTimeout},
		{"dns", &net.DNSError{Err: "no such host", Name: "x.invalid", IsNotFound: true}, stats.ClassDNS},
		{"dns timeout", &net.DNSError{Err: "i/o timeout", Name: "x", IsTimeout: true}, stats.ClassDNS},
		{"eof", io.EOF, stats.ClassEOF},
		{"unexpected eof", fmt.Errorf("body: %w", io.ErrUnexpectedEOF), stats.ClassEOF},
		{"body too large", bodyTooLarge(10), stats.ClassBodyTooLarge},
		{"tls alert", &net.OpError{Op: "remote error", Err: errors.New("tls: certificate required")}, stats.ClassTLS},
		{"plain server", errors.New("http: server gave HTTP response to HTTPS client"), stats.ClassTLS},
		{"host refused", NewError(stats.ClassHostNotAllowed, "GET", "https://x/", errors.New("host x refused"), nil), stats.ClassHostNotAllowed},
		{"anything else", errors.New("boom"), stats.ClassOther},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, Classify(tt.err), "Classify(%v) [%s]", tt.err, tt.name)
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string { return "i/o timeout" }
func (timeoutErr) Timeout() bool { return true }

// TestServerClosesIdleConnection checks that a keep-alive connection the
// server closed while it idled in the pool is not used: a synthetic monitor
// every few seconds against a server with a shorter keep-alive timeout
// (Node.js: 5 s) must not report eof each time.
func TestServerClosesIdleConnection(t *testing.T) {
	pki := newPKI(t)
	for _, scheme := range schemes {
		t.Run(scheme, func(t *testing.T) {
			srv := newRawServer(t, scheme, pki, func(s *rawServer, c net.Conn) {
				br := bufio.NewReader(c)
				for {
					if _, err := s.readRequest(br); err != nil {
						return
					}
					if _, err := io.WriteString(c, okResponse); err != nil {
						return
					}
					// Keep-alive timeout of 100 ms: close unless the next
					// request starts by then.
					_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
					if _, err := br.Peek(1); err != nil {
						return
					}
					_ = c.SetReadDeadline(time.Time{})
				}
			})
			c := clientFor(t, pki, Options{})
			var resp Response
			for i := range 3 {
				require.NoError(t, c.Do(context.Background(), &Request{URL: srv.URL}, &resp), "request %d", i)
				time.Sleep(400 * time.Millisecond)
			}
			assert.Equal(t, int64(3), srv.accepted.Load(), "each request on a new connection")
			assert.Equal(t, int64(3), srv.requests.Load())
		})
	}
}

// TestIdleConnectionHoldsNoBuffers: a plain connection has its buffers only
// while it carries a request, so idle connections cost a socket, and a
// server that ends every connection (as nginx does after a number of
// requests) does not make each new one allocate 68 KiB.
func TestIdleConnectionHoldsNoBuffers(t *testing.T) {
	keepAlive := answering(t, "http", nil, okResponse)
	closing := newRawServer(t, "http", nil, func(s *rawServer, c net.Conn) {
		if _, err := s.readRequest(bufio.NewReader(c)); err != nil {
			return
		}
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok")
	})
	c := newClient(t, Options{})
	var resp Response

	// Three requests at once leave three idle connections, none with
	// buffers.
	var wg sync.WaitGroup
	release := make(chan struct{})
	for range 3 {
		wg.Go(func() {
			<-release
			var resp Response
			assert.NoError(t, c.Do(context.Background(), &Request{URL: keepAlive.URL}, &resp))
		})
	}
	close(release)
	wg.Wait()
	host, err := c.h1.host(hostKey{host: strings.TrimPrefix(keepAlive.URL, "http://")}, time.Now())
	require.NoError(t, err)
	host.mu.Lock()
	require.NotEmpty(t, host.idle)
	for i, pc := range host.idle {
		assert.Nil(t, pc.buf, "idle connection %d holds buffers", i)
	}
	host.mu.Unlock()

	req := &Request{URL: closing.URL}
	require.NoError(t, c.Do(context.Background(), req, &resp))
	const n = 50
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := range n {
		require.NoError(t, c.Do(context.Background(), req, &resp), "request %d", i)
		assert.Equal(t, "ok", string(resp.Body))
	}
	runtime.ReadMemStats(&after)
	assert.Equal(t, int64(n+1), closing.accepted.Load(), "every request on a new connection")
	perRequest := (after.TotalAlloc - before.TotalAlloc) / n
	t.Logf("%d bytes allocated per request", perRequest)
	if !raceDetector { // it drops a quarter of what sync.Pool is given
		// The test's server allocates too (a reader and a goroutine per
		// connection); a fresh 64 KiB read buffer per dial would be far
		// above.
		assert.Less(t, perRequest, uint64(32<<10), "bytes allocated per request")
	}
}

// TestLargeHeaderSection: a plain connection reads through a 4 KiB buffer,
// yet a header section up to maxHeaderBytes is read on both paths alike,
// after interim responses too, and one past it fails on both. The
// connection that carried a large one is not reused: what follows the
// response is in a buffer of its own.
func TestLargeHeaderSection(t *testing.T) {
	pki := newPKI(t)
	big := func(n int) string { return "X-Big: " + strings.Repeat("a", n) + "\r\n" }
	tests := []struct {
		name    string
		interim string // responses before the final one
		size    int    // of the X-Big value
		wantErr bool
	}{
		{"fits the small buffer", "", 100, false},
		{"just past the small buffer", "", readBufferSize, false},
		{"40 KiB", "", 40 << 10, false},
		{"after an interim response", "HTTP/1.1 100 Continue\r\n\r\n", 10 << 10, false},
		{"past maxHeaderBytes", "", maxHeaderBytes + 1024, true},
	}
	for _, scheme := range schemes {
		for _, tt := range tests {
			t.Run(scheme+"/"+tt.name, func(t *testing.T) {
				srv := answering(t, scheme, pki, tt.interim+"HTTP/1.1 200 OK\r\n"+big(tt.size)+"Content-Length: 2\r\n\r\nok")
				c := clientFor(t, pki, Options{})
				var resp Response
				req := &Request{URL: srv.URL, NeedHeaders: true}
				if tt.wantErr {
					require.Error(t, c.Do(context.Background(), req, &resp))
					return
				}
				for range 2 { // the second request gets the same
					require.NoError(t, c.Do(context.Background(), req, &resp))
					assert.Equal(t, 200, resp.Status)
					assert.Equal(t, "ok", string(resp.Body))
					assert.Equal(t, strings.Repeat("a", tt.size), resp.Get("X-Big"))
				}
			})
		}
	}
	for _, scheme := range schemes {
		t.Run(scheme+"/trailer past the small buffer", func(t *testing.T) {
			srv := newRawServer(t, scheme, pki, func(s *rawServer, c net.Conn) {
				if _, err := s.readRequest(bufio.NewReader(c)); err != nil {
					return
				}
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n"+big(10<<10)+"\r\n")
				_, _ = io.Copy(io.Discard, c)
			})
			c := clientFor(t, pki, Options{})
			var resp Response
			require.NoError(t, c.Do(context.Background(), &Request{URL: srv.URL}, &resp))
			assert.Equal(t, "ok", string(resp.Body))
		})
		t.Run(scheme+"/not reused after a large one", func(t *testing.T) {
			srv := answering(t, scheme, pki, "HTTP/1.1 200 OK\r\n"+big(8<<10)+"Content-Length: 2\r\n\r\nok")
			c := clientFor(t, pki, Options{})
			var resp Response
			for range 3 {
				require.NoError(t, c.Do(context.Background(), &Request{URL: srv.URL}, &resp))
			}
			assert.Equal(t, int64(3), srv.accepted.Load())
		})
	}
}

// TestIdleConnectionPastItsDeadline: a keep-alive connection that idled
// longer than its last request's timeout is still open, and is reused.
func TestIdleConnectionPastItsDeadline(t *testing.T) {
	pki := newPKI(t)
	for _, scheme := range schemes {
		t.Run(scheme, func(t *testing.T) {
			srv := answering(t, scheme, pki, okResponse)
			c := clientFor(t, pki, Options{})
			var resp Response
			// The connection is made (a TLS handshake may take a while under
			// -race), then carries a request with a short deadline.
			require.NoError(t, c.Do(context.Background(), &Request{URL: srv.URL}, &resp))
			req := &Request{URL: srv.URL, Timeout: 50 * time.Millisecond}
			require.NoError(t, c.Do(context.Background(), req, &resp))
			time.Sleep(checkIdleAfter + 100*time.Millisecond) // past the deadline, and long enough to be checked
			require.NoError(t, c.Do(context.Background(), req, &resp))
			assert.Equal(t, int64(1), srv.accepted.Load(), "the idle connection is reused")
		})
	}
}

// TestUnsolicitedBytesDiscardConnection checks that a connection with bytes
// after a response (a HEAD answered with a body) is not reused, and that
// its buffers, taken by the next connection, hold none of them.
func TestUnsolicitedBytesDiscardConnection(t *testing.T) {
	pki := newPKI(t)
	for _, scheme := range schemes {
		t.Run(scheme, func(t *testing.T) {
			srv := answering(t, scheme, pki, okResponse) // a body even for HEAD
			c := clientFor(t, pki, Options{})
			var resp Response
			require.NoError(t, c.Do(context.Background(), &Request{Method: "HEAD", URL: srv.URL}, &resp))
			require.NoError(t, c.Do(context.Background(), &Request{URL: srv.URL}, &resp))
			assert.Equal(t, "ok", string(resp.Body))
			assert.Equal(t, int64(2), srv.accepted.Load())
		})
	}
}

// TestResponseHeaderParity sends the same raw response through both paths
// and expects the same Response.Header: framing headers handled alike,
// repeated fields kept in order, no made-up fields.
func TestResponseHeaderParity(t *testing.T) {
	pki := newPKI(t)
	tests := []struct {
		name     string
		response string
		want     []Header
	}{
		{
			name:     "fixed length, repeated fields",
			response: "HTTP/1.1 201 Created\r\nServer: demo\r\nSet-Cookie: a=1; Path=/\r\nSet-Cookie: b=2\r\nX-Trace: t1\r\nContent-Length: 4\r\n\r\nbody",
			want: []Header{
				{"Content-Length", "4"}, {"Server", "demo"}, {"Set-Cookie", "a=1; Path=/"}, {"Set-Cookie", "b=2"}, {"X-Trace", "t1"},
			},
		},
		{
			name:     "chunked, no Content-Type",
			response: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n4\r\nbody\r\n0\r\n\r\n",
			want:     []Header{{"X-A", "1"}},
		},
		{
			name:     "Connection: close (net/http drops it)",
			response: "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 4\r\n\r\nbody",
			want:     []Header{{"Content-Length", "4"}},
		},
		{
			name:     "Connection: keep-alive",
			response: "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 4\r\n\r\nbody",
			want:     []Header{{"Connection", "keep-alive"}, {"Content-Length", "4"}},
		},
		{
			name:     "HTTP/1.0 until close",
			response: "HTTP/1.0 200 OK\r\nX-Old: yes\r\n\r\nbody",
			want:     []Header{{"X-Old", "yes"}},
		},
		{
			name:     "interim 100 Continue, then the response",
			response: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbody",
			want:     []Header{{"Content-Length", "4"}},
		},
		{
			name:     "chunked with a trailer",
			response: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n4\r\nbody\r\n0\r\nX-Sum: 9\r\n\r\n",
			want:     nil, // net/http moves Trailer (and the trailer) out of the header
		},
		{
			name:     "lower-case names",
			response: "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nx-request-id: r1\r\ncontent-length: 4\r\n\r\nbody",
			want:     []Header{{"Content-Length", "4"}, {"Content-Type", "application/json"}, {"X-Request-Id", "r1"}},
		},
	}
	for _, tt := range tests {
		got := map[string][]Header{}
		for _, scheme := range schemes {
			srv := newRawServer(t, scheme, pki, func(s *rawServer, c net.Conn) {
				if _, err := s.readRequest(bufio.NewReader(c)); err != nil {
					return
				}
				_, _ = io.WriteString(c, tt.response)
			})
			c := clientFor(t, pki, Options{})
			var resp Response
			require.NoError(t, c.Do(context.Background(), &Request{URL: srv.URL, NeedHeaders: true}, &resp), "%s over %s", tt.name, scheme)
			assert.Equal(t, "body", string(resp.Body), "%s over %s", tt.name, scheme)
			got[scheme] = resp.Header
		}
		for _, scheme := range schemes {
			assert.Empty(t, cmp.Diff(tt.want, got[scheme]), "%s over %s: Response.Header (-want +got)", tt.name, scheme)
		}
	}
}

// TestContextWatchedPerConnection covers the cancellation watch that stays
// registered on a connection across requests under one context: it aborts
// a request under that context, never one under another context that
// reuses the connection, and a cancelled context sends nothing.
func TestContextWatchedPerConnection(t *testing.T) {
	pki := newPKI(t)
	for _, scheme := range schemes {
		t.Run(scheme, func(t *testing.T) {
			release, held := make(chan struct{}), make(chan struct{})
			var releaseOnce sync.Once
			closeRelease := func() { releaseOnce.Do(func() { close(release) }) }
			defer closeRelease() // a failure must not leave the server's handler waiting
			defer close(held)
			var stallOn atomic.Int64 // the request number to hold until release
			srv := newRawServer(t, scheme, pki, func(s *rawServer, c net.Conn) {
				br := bufio.NewReader(c)
				for {
					if _, err := s.readRequest(br); err != nil {
						return
					}
					switch n := s.requests.Load(); {
					case n == 4 && n == stallOn.Load():
						<-release
					case n == stallOn.Load():
						<-held // until the test ends
					}
					if _, err := io.WriteString(c, okResponse); err != nil {
						return
					}
				}
			})
			c := clientFor(t, pki, Options{})
			var resp Response

			a, cancelA := context.WithCancel(context.Background())
			defer cancelA()
			for i := 0; i < 3; i++ {
				require.NoError(t, c.Do(a, &Request{URL: srv.URL}, &resp))
			}
			b, cancelB := context.WithCancel(context.Background())
			defer cancelB()

			// Request 4, under b on the connection a watches, is held; cancelling
			// a meanwhile must not abort it.
			stallOn.Store(4)
			done := make(chan error, 1)
			go func() {
				var r Response
				done <- c.Do(b, &Request{URL: srv.URL, Timeout: 10 * time.Second}, &r)
			}()
			require.Eventually(t, func() bool { return srv.requests.Load() == 4 }, 5*time.Second, time.Millisecond)
			cancelA()
			select {
			case err := <-done:
				t.Fatalf("the request under another context ended with %v", err)
			case <-time.After(200 * time.Millisecond):
			}
			closeRelease()
			require.NoError(t, <-done)

			// A cancelled context sends nothing, on the same connection or a new one.
			require.ErrorIs(t, c.Do(a, &Request{URL: srv.URL}, &resp), context.Canceled)
			assert.Equal(t, int64(4), srv.requests.Load(), "nothing sent under a cancelled context")

			// Still one connection for all of it.
			require.NoError(t, c.Do(b, &Request{URL: srv.URL}, &resp))
			assert.Equal(t, int64(1), srv.accepted.Load(), "one keep-alive connection throughout")

			// b now watches the connection: cancelling it aborts a held request.
			stallOn.Store(6)
			time.AfterFunc(100*time.Millisecond, cancelB)
			start := time.Now()
			err := c.Do(b, &Request{URL: srv.URL, Timeout: 10 * time.Second}, &resp)
			require.ErrorIs(t, err, context.Canceled, "Do = %v", err)
			assert.Less(t, time.Since(start), 2*time.Second, "Do returned long after the cancellation")
		})
	}
}

// TestParsedURL: a request parsed beforehand (Request.Parsed) is sent to
// the parsed URL without parsing URL again; ParseURL rejects what Do does.
func TestParsedURL(t *testing.T) {
	srv := httpServer(t, "http", nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.URL.Path)
	}))
	c := newClient(t, Options{})
	u, err := ParseURL(srv.URL + "/parsed")
	require.NoError(t, err)
	var resp Response
	// URL names a refused port: only the parsed URL can reach the server.
	require.NoError(t, c.Do(context.Background(), &Request{URL: "http://127.0.0.1:1/string", Parsed: u}, &resp))
	assert.Equal(t, "/parsed", string(resp.Body))
	assert.Equal(t, srv.URL+"/parsed", u.String(), "Do leaves the parsed URL as it was")

	for _, bad := range []string{"ftp://127.0.0.1/", "/only/a/path", "http:///path", "http://127.0.0.1:bad/"} {
		_, err := ParseURL(bad)
		assert.Error(t, err, bad)
	}
}
