package transport

import (
	"context"
	"crypto/tls"
	"encoding/pem"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
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

func TestHTTP2(t *testing.T) {
	pki := newPKI(t)
	rec := &recorder{}
	srv := httptest.NewUnstartedServer(rec)
	srv.TLS = pki.serverTLS()
	srv.TLS.NextProtos = []string{"h2", "http/1.1"}
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()

	c := newClient(t, Options{TLS: TLSOptions{CAFile: pki.caFile}, UserAgent: "ua"})
	var resp Response
	// The first request meets a host the client does not know yet; later
	// ones a host known to speak HTTP/2.
	reqs := []Request{
		{URL: srv.URL + "/first"},
		{URL: srv.URL + "/second"},
		{Method: "POST", URL: srv.URL + "/post", Body: []byte("payload"), NeedHeaders: true},
		{Method: "HEAD", URL: srv.URL + "/head"},
	}
	for _, req := range reqs {
		require.NoError(t, c.Do(context.Background(), &req, &resp), "Do(%s %s)", req.Method, req.URL)
		assert.Equal(t, "HTTP/2.0", resp.Proto, "%s %s", req.Method, req.URL)
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
}

// quietLog discards a test server's log.
var quietLog = log.New(io.Discard, "", 0)
