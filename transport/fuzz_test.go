package transport

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/canaryproj/canary/stats"
)

// FuzzResponse feeds arbitrary bytes to both paths as a server's answer:
// whatever arrives, Do returns a response within the cap or a classified
// error, and never panics.
func FuzzResponse(f *testing.F) {
	for _, seed := range []string{
		okResponse,
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
		"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
		"HTTP/1.1 301 Moved\r\nLocation: http://[::1\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.0 200 OK\r\n\r\n" + strings.Repeat("x", 2000),
		"HTTP/1.1 999 Whatever\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200\r\n\r\n",
		"HTTP/2.0 200 OK\r\n\r\n",
		"HTTP/1.1 200 OK\r\nX: " + strings.Repeat("v", 70<<10) + "\r\n\r\n",
		"HTTP/1.1 200 OK\r\nX: " + strings.Repeat("v", 5<<10) + "\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: " + strings.Repeat("t", 5<<10) + "\r\n\r\n",
		"HTTP/1.1 200 OK\nContent-Length: 2\n\nok",
		"\r\n\r\n",
		"",
		"\x00\xff\x16\x03\x01",
	} {
		f.Add([]byte(seed))
	}
	pki := newPKI(f)
	var answer atomic.Pointer[[]byte]
	handle := func(s *rawServer, c net.Conn) {
		if _, err := s.readRequest(bufio.NewReader(c)); err != nil {
			return
		}
		if a := answer.Load(); a != nil {
			_, _ = c.Write(*a)
		}
	}
	servers := map[string]*rawServer{}
	clients := map[string]*Client{}
	for _, scheme := range schemes {
		servers[scheme] = newRawServer(f, scheme, pki, handle)
		clients[scheme] = clientFor(f, pki, Options{})
	}
	const maxBody = 1024

	f.Fuzz(func(t *testing.T, data []byte) {
		answer.Store(&data)
		for _, scheme := range schemes {
			var resp Response
			req := &Request{URL: servers[scheme].URL + "/fuzz", MaxBody: maxBody, Timeout: time.Second, NeedHeaders: true, FollowRedirects: true}
			err := clients[scheme].Do(context.Background(), req, &resp)
			if err == nil {
				if resp.Status < 100 || resp.Status > 999 {
					t.Errorf("%s: status %d accepted from %q", scheme, resp.Status, data)
				}
				if len(resp.Body) > maxBody {
					t.Errorf("%s: body of %d bytes over the cap of %d", scheme, len(resp.Body), maxBody)
				}
				continue
			}
			var te *Error
			if !errors.As(err, &te) {
				t.Fatalf("%s: Do returned %T %v, want *Error", scheme, err, err)
			}
			if te.Class == stats.ClassNone || te.Class >= stats.NumErrorClasses {
				t.Errorf("%s: class %d for %v", scheme, te.Class, err)
			}
		}
	})
}

// FuzzRequest sends requests built from arbitrary parts (URL path, method,
// a header) to a loopback server: a request is either refused with a
// classified error or arrives as given — never split into two, never with
// a header of its own making. The allow-list keeps every request on
// 127.0.0.1 whatever the URL says.
func FuzzRequest(f *testing.F) {
	for _, seed := range []struct{ path, method, name, value string }{
		{"/", "GET", "X-A", "1"},
		{"/a b", "POST", "X-B", "two words"},
		{"/?q=%zz", "PUT", "X-C", "v\r\nX-Injected: yes"},
		{"/\x00", "GET", "Bad Name", "v"},
		{"@evil.example/", "GET", "X-D", "v"},
		{"/#frag", "DELETE", "Content-Length", "5"},
		{"/x", "G\nET", "Host", "h"},
		{"/ü", "OPTIONS", "X-E", "\xff"},
	} {
		f.Add(seed.path, seed.method, seed.name, seed.value)
	}
	pki := newPKI(f)
	var (
		mu   sync.Mutex
		seen []*http.Request
	)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		seen = append(seen, r)
		mu.Unlock()
	})
	servers := map[string]string{}
	clients := map[string]*Client{}
	allow := func(host string) error {
		if host != "127.0.0.1" {
			return fmt.Errorf("%s is not loopback", host)
		}
		return nil
	}
	for _, scheme := range schemes {
		servers[scheme] = httpServer(f, scheme, pki, handler).URL
		clients[scheme] = clientFor(f, pki, Options{Allow: allow})
	}

	f.Fuzz(func(t *testing.T, path, method, name, value string) {
		for _, scheme := range schemes {
			mu.Lock()
			seen = nil
			mu.Unlock()
			req := &Request{Method: method, URL: servers[scheme] + path, Header: []Header{{name, value}}, Timeout: time.Second}
			var resp Response
			err := clients[scheme].Do(context.Background(), req, &resp)
			mu.Lock()
			got := seen
			mu.Unlock()
			if err != nil {
				if Classify(err) == stats.ClassNone {
					t.Errorf("%s: unclassified error %v", scheme, err)
				}
				continue
			}
			if len(got) != 1 {
				t.Fatalf("%s: the server saw %d requests for one Do(%q %q, %q: %q)", scheme, len(got), method, path, name, value)
			}
			if got[0].Header.Get("X-Injected") != "" {
				t.Errorf("%s: header injected through %q: %q", scheme, name, value)
			}
		}
	})
}
