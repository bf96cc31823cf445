package transport

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canaryproj/canary/stats"
)

// TestFaultyServers sends one request to servers that misbehave in every
// way the error classes name, on both paths, and checks the class.
func TestFaultyServers(t *testing.T) {
	pki := newPKI(t)
	tests := []struct {
		name    string
		handle  func(s *rawServer, c net.Conn)
		timeout time.Duration
		want    stats.ErrorClass
		wantMsg string
	}{
		{
			name: "body cut after the headers",
			handle: func(s *rawServer, c net.Conn) {
				if _, err := s.readRequest(bufio.NewReader(c)); err != nil {
					return
				}
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part of it")
			},
			want: stats.ClassEOF,
		},
		{
			name: "chunked body cut",
			handle: func(s *rawServer, c net.Conn) {
				if _, err := s.readRequest(bufio.NewReader(c)); err != nil {
					return
				}
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nonly part")
			},
			want: stats.ClassEOF,
		},
		{
			name: "closed after reading the request",
			handle: func(s *rawServer, c net.Conn) {
				_, _ = s.readRequest(bufio.NewReader(c))
			},
			want: stats.ClassEOF,
		},
		{
			name: "reset after reading the request",
			handle: func(s *rawServer, c net.Conn) {
				if _, err := s.readRequest(bufio.NewReader(c)); err != nil {
					return
				}
				resetConn(c)
			},
			want: stats.ClassConnectionReset,
		},
		{
			name: "reset in the middle of the body",
			handle: func(s *rawServer, c net.Conn) {
				if _, err := s.readRequest(bufio.NewReader(c)); err != nil {
					return
				}
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npart")
				time.Sleep(50 * time.Millisecond) // let the client read the headers
				resetConn(c)
			},
			want: stats.ClassConnectionReset,
		},
		{
			name: "stall past the timeout",
			handle: func(s *rawServer, c net.Conn) {
				if _, err := s.readRequest(bufio.NewReader(c)); err != nil {
					return
				}
				_, _ = io.Copy(io.Discard, c) // until the client gives up
			},
			timeout: 200 * time.Millisecond,
			want:    stats.ClassTimeout,
		},
		{
			name: "stall in the middle of the body",
			handle: func(s *rawServer, c net.Conn) {
				if _, err := s.readRequest(bufio.NewReader(c)); err != nil {
					return
				}
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npart")
				_, _ = io.Copy(io.Discard, c)
			},
			timeout: 200 * time.Millisecond,
			want:    stats.ClassTimeout,
		},
		{
			name: "20 MiB body with a Content-Length",
			handle: func(s *rawServer, c net.Conn) {
				if _, err := s.readRequest(bufio.NewReader(c)); err != nil {
					return
				}
				_, _ = fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", 20<<20)
				writeZeros(c, 20<<20)
			},
			want:    stats.ClassBodyTooLarge,
			wantMsg: "more than 10485760 bytes",
		},
		{
			name: "20 MiB chunked body",
			handle: func(s *rawServer, c net.Conn) {
				if _, err := s.readRequest(bufio.NewReader(c)); err != nil {
					return
				}
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
				chunk := fmt.Sprintf("%x\r\n%s\r\n", 64<<10, strings.Repeat("x", 64<<10))
				for range 20 << 4 {
					if _, err := io.WriteString(c, chunk); err != nil {
						return
					}
				}
				_, _ = io.WriteString(c, "0\r\n\r\n")
			},
			want:    stats.ClassBodyTooLarge,
			wantMsg: "more than 10485760 bytes",
		},
		{
			name: "20 MiB body until close",
			handle: func(s *rawServer, c net.Conn) {
				if _, err := s.readRequest(bufio.NewReader(c)); err != nil {
					return
				}
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
				writeZeros(c, 20<<20)
			},
			want: stats.ClassBodyTooLarge,
		},
		{
			name: "garbage instead of a response",
			handle: func(s *rawServer, c net.Conn) {
				if _, err := s.readRequest(bufio.NewReader(c)); err != nil {
					return
				}
				_, _ = io.WriteString(c, "SMTP ready\r\n\r\n")
			},
			want: stats.ClassOther,
		},
		{
			name: "bad status line",
			handle: func(s *rawServer, c net.Conn) {
				if _, err := s.readRequest(bufio.NewReader(c)); err != nil {
					return
				}
				_, _ = io.WriteString(c, "HTTP/1.1 abc Nope\r\nContent-Length: 0\r\n\r\n")
			},
			want: stats.ClassOther,
		},
	}
	for _, scheme := range schemes {
		for _, tt := range tests {
			t.Run(scheme+"/"+tt.name, func(t *testing.T) {
				srv := newRawServer(t, scheme, pki, tt.handle)
				c := clientFor(t, pki, Options{})
				timeout := tt.timeout
				if timeout == 0 {
					timeout = 5 * time.Second
				}
				var resp Response
				start := time.Now()
				err := c.Do(context.Background(), &Request{URL: srv.URL + "/fault", Timeout: timeout}, &resp)
				elapsed := time.Since(start)
				t.Logf("Do: %v (after %v)", err, elapsed)

				require.Error(t, err, "Do(%s) against a server that does %q", srv.URL, tt.name)
				var te *Error
				require.ErrorAs(t, err, &te)
				assert.Equal(t, tt.want, te.Class, "class of %q", err)
				assert.Equal(t, tt.want, Classify(err), "Classify(%q)", err)
				assert.Contains(t, err.Error(), tt.wantMsg)
				assert.Contains(t, err.Error(), "GET "+srv.URL+"/fault: "+tt.want.String()+": ")
				if tt.want == stats.ClassTimeout {
					assert.GreaterOrEqual(t, elapsed, timeout-20*time.Millisecond, "Do returned before the timeout")
					assert.Less(t, elapsed, timeout+time.Second, "Do returned long after the timeout")
				}
			})
		}
	}
}

// resetConn makes the peer see a reset: linger 0, then close the TCP
// connection itself (closing a TLS connection would first send close_notify,
// a clean end).
func resetConn(c net.Conn) {
	tc := tcpConn(c)
	_ = tc.SetLinger(0)
	_ = tc.Close()
}

func writeZeros(w io.Writer, n int) {
	buf := make([]byte, 64<<10)
	for n > 0 {
		k := min(n, len(buf))
		if _, err := w.Write(buf[:k]); err != nil {
			return
		}
		n -= k
	}
}
