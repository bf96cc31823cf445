package transport

import (
	"context"
	"crypto/tls"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canaryproj/canary/stats"
)

func TestTLSVerification(t *testing.T) {
	// httptest's own self-signed certificate, which nothing trusts.
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "secure")
	}))
	srv.Config.ErrorLog = quietLog // the failed handshakes are the point
	srv.StartTLS()
	defer srv.Close()
	caFile := writeFile(t, t.TempDir(), "httptest-ca.pem",
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))

	tests := []struct {
		name    string
		tls     TLSOptions
		url     string
		want    stats.ErrorClass
		wantMsg string
	}{
		{name: "self-signed, not trusted", url: srv.URL, want: stats.ClassTLS, wantMsg: "certificate"},
		{name: "trusted through ca_file", tls: TLSOptions{CAFile: caFile}, url: srv.URL, want: stats.ClassNone},
		{name: "insecure_skip_verify", tls: TLSOptions{InsecureSkipVerify: true}, url: srv.URL, want: stats.ClassNone},
		{name: "trusted, but the name does not match", tls: TLSOptions{CAFile: caFile, ServerName: "other.test"}, url: srv.URL, want: stats.ClassTLS, wantMsg: "other.test"},
		{name: "trusted, SNI override to a name it has", tls: TLSOptions{CAFile: caFile, ServerName: "example.com"}, url: srv.URL, want: stats.ClassNone},
		{name: "https to a plain http server", tls: TLSOptions{CAFile: caFile}, url: "", want: stats.ClassTLS},
	}
	plain := httptest.NewServer(http.NotFoundHandler())
	defer plain.Close()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(t, Options{TLS: tt.tls})
			url := tt.url
			if url == "" {
				url = "https://" + hostPort(plain.URL)
			}
			var resp Response
			err := c.Do(context.Background(), &Request{URL: url}, &resp)
			assert.Equal(t, tt.want, Classify(err), "Do(%s) with %+v: %v", url, tt.tls, err)
			if tt.want == stats.ClassNone {
				require.NoError(t, err)
				assert.Equal(t, "secure", string(resp.Body))
				return
			}
			assert.Contains(t, errorText(err), tt.wantMsg)
		})
	}
}

func TestClientCertificate(t *testing.T) {
	pki := newPKI(t)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.TLS.PeerCertificates[0].Subject.CommonName)
	}))
	srv.TLS = pki.serverTLS()
	srv.TLS.ClientAuth = tls.RequireAndVerifyClientCert
	srv.TLS.ClientCAs = pki.caPool
	srv.Config.ErrorLog = quietLog
	srv.StartTLS()
	defer srv.Close()

	tests := []struct {
		name string
		tls  TLSOptions
		want stats.ErrorClass
	}{
		{name: "without a client certificate", tls: TLSOptions{CAFile: pki.caFile}, want: stats.ClassTLS},
		{name: "with the client certificate", tls: TLSOptions{CAFile: pki.caFile, CertFile: pki.clientCert, KeyFile: pki.clientKey}, want: stats.ClassNone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(t, Options{TLS: tt.tls})
			var resp Response
			err := c.Do(context.Background(), &Request{URL: srv.URL}, &resp)
			assert.Equal(t, tt.want, Classify(err), "Do(%s) with %+v: %v", srv.URL, tt.tls, err)
			if tt.want == stats.ClassNone {
				assert.Equal(t, "localhost", string(resp.Body), "the server saw the client certificate")
			}
		})
	}
}

// TestHTTP2 covers the protocol choice: HTTP/1.1 by default, even with a
// server that offers h2; with Options.HTTP2, h2 over TLS and h2c in the
// clear, and an error from a server that speaks only HTTP/1.1.
func TestHTTP2(t *testing.T) {
	pki := newPKI(t)
	tests := []struct {
		name      string
		scheme    string
		serverH2  bool // the server speaks HTTP/2 (h2 over TLS, h2c in the clear) besides HTTP/1.1
		http2     bool // Options.HTTP2
		wantProto string
		wantErr   stats.ErrorClass
	}{
		{name: "https, h2 offered, default", scheme: "https", serverH2: true, wantProto: "HTTP/1.1"},
		{name: "https, h2 offered, HTTP2", scheme: "https", serverH2: true, http2: true, wantProto: "HTTP/2.0"},
		{name: "http, h2c server, HTTP2", scheme: "http", serverH2: true, http2: true, wantProto: "HTTP/2.0"},
		{name: "http, h2c server, default", scheme: "http", serverH2: true, wantProto: "HTTP/1.1"},
		{name: "https, HTTP/1.1 server, HTTP2", scheme: "https", http2: true, wantErr: stats.ClassTLS}, // no ALPN protocol in common
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			srv := httptest.NewUnstartedServer(rec)
			srv.Config.ErrorLog = quietLog
			switch {
			case tt.scheme == "https":
				srv.TLS = pki.serverTLS()
				if tt.serverH2 {
					srv.TLS.NextProtos = []string{"h2", "http/1.1"}
					srv.EnableHTTP2 = true
				}
				srv.StartTLS()
			default:
				srv.Config.Protocols = new(http.Protocols)
				srv.Config.Protocols.SetHTTP1(true)
				srv.Config.Protocols.SetUnencryptedHTTP2(tt.serverH2)
				srv.Start()
			}
			defer srv.Close()

			c := newClient(t, Options{TLS: TLSOptions{CAFile: pki.caFile}, UserAgent: "ua", HTTP2: tt.http2})
			var resp Response
			reqs := []Request{
				{URL: srv.URL + "/first"},
				{URL: srv.URL + "/second"},
				{Method: "POST", URL: srv.URL + "/post", Body: []byte("payload"), NeedHeaders: true},
				{Method: "HEAD", URL: srv.URL + "/head"},
			}
			if tt.wantErr != stats.ClassNone {
				err := c.Do(context.Background(), &reqs[0], &resp)
				require.Error(t, err)
				assert.Equal(t, tt.wantErr, Classify(err), "class of %q", err)
				assert.Empty(t, rec.all(), "nothing reached the handler")
				return
			}
			for _, req := range reqs {
				require.NoError(t, c.Do(context.Background(), &req, &resp), "Do(%s %s)", req.Method, req.URL)
				assert.Equal(t, tt.wantProto, resp.Proto, "%s %s", req.Method, req.URL)
				assert.Equal(t, 200, resp.Status)
				if req.NeedHeaders {
					assert.Equal(t, "text/plain", resp.Get("Content-Type"))
				}
			}
			got := rec.all()
			require.Len(t, got, len(reqs))
			for i, s := range got {
				want := reqs[i].Method
				if want == "" {
					want = "GET"
				}
				assert.Equal(t, want, s.Method, "request %d", i)
				assert.Equal(t, string(reqs[i].Body), s.Body, "request %d", i)
				assert.Equal(t, []string{"ua"}, s.Header["User-Agent"])
				assert.Empty(t, s.Header["Accept-Encoding"], "no Accept-Encoding added")
			}
		})
	}
}

// quietLog discards a test server's log.
var quietLog = log.New(io.Discard, "", 0)

// TestTLSSessionResumption: a connection made after the first resumes the
// TLS session instead of a full handshake, with TLS 1.2 and 1.3 servers.
func TestTLSSessionResumption(t *testing.T) {
	pki := newPKI(t)
	tests := []struct {
		name       string
		maxVersion uint16
	}{
		{"TLS 1.2", tls.VersionTLS12},
		{"TLS 1.3", tls.VersionTLS13},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var conns atomic.Int64
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = fmt.Fprintf(w, "%x resumed=%v", r.TLS.Version, r.TLS.DidResume)
			}))
			srv.TLS = pki.serverTLS()
			srv.TLS.MaxVersion = tt.maxVersion
			srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
				if s == http.StateNew {
					conns.Add(1)
				}
			}
			srv.StartTLS()
			defer srv.Close()

			c := clientFor(t, pki, Options{})
			var resp Response
			want := []string{"resumed=false", "resumed=false", "resumed=true", "resumed=true"}
			for i, w := range want {
				if i == 2 {
					c.Close() // the next request dials again
				}
				require.NoError(t, c.Do(context.Background(), &Request{URL: srv.URL}, &resp), "request %d", i)
				assert.Equal(t, fmt.Sprintf("%x %s", tt.maxVersion, w), string(resp.Body), "request %d", i)
			}
			assert.Equal(t, int64(2), conns.Load(), "connections: one kept alive, one after Close")
		})
	}
}
