package transport

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// chainPKI is a root, an intermediate and a leaf for 127.0.0.1 and
// localhost with known expiries, as a server's chain (leaf, intermediate).
type chainPKI struct {
	rootFile                    string
	chain                       tls.Certificate
	leafNotAfter, interNotAfter time.Time
}

func newChainPKI(t *testing.T) *chainPKI {
	t.Helper()
	p := &chainPKI{
		leafNotAfter:  time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC),
		interNotAfter: time.Date(2030, 6, 7, 8, 9, 10, 0, time.UTC),
	}
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		return k
	}
	issue := func(tmpl, parent *x509.Certificate, pub, signer any) (*x509.Certificate, []byte) {
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
		require.NoError(t, err)
		c, err := x509.ParseCertificate(der)
		require.NoError(t, err)
		return c, der
	}
	notBefore := time.Now().Add(-time.Hour)
	rootKey, interKey, leafKey := key(), key(), key()
	rootTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "canary test root"},
		NotBefore: notBefore, NotAfter: time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	root, rootDER := issue(rootTmpl, rootTmpl, &rootKey.PublicKey, rootKey)
	inter, interDER := issue(&x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "canary test intermediate"},
		NotBefore: notBefore, NotAfter: p.interNotAfter, IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign},
		root, &interKey.PublicKey, rootKey)
	_, leafDER := issue(&x509.Certificate{SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: notBefore, NotAfter: p.leafNotAfter, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, inter, &leafKey.PublicKey, interKey)
	p.chain = tls.Certificate{Certificate: [][]byte{leafDER, interDER}, PrivateKey: leafKey}
	p.rootFile = writeFile(t, t.TempDir(), "root.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: rootDER}))
	return p
}

// server starts a TLS server with the chain, speaking HTTP/2 when h2;
// state, when set, sees its connections' states.
func (p *chainPKI) server(t *testing.T, h2 bool, h http.Handler, state ...func(net.Conn, http.ConnState)) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	if len(state) > 0 {
		srv.Config.ConnState = state[0]
	}
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{p.chain}, NextProtos: []string{"http/1.1"}}
	if h2 {
		srv.EnableHTTP2 = true
		srv.TLS.NextProtos = []string{"h2"}
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func TestResponsesCarryThePeerCertificates(t *testing.T) {
	p := newChainPKI(t)
	for _, tc := range []struct {
		name string
		h2   bool
	}{{"HTTP/1.1", false}, {"HTTP/2", true}} {
		t.Run(tc.name, func(t *testing.T) {
			var other *httptest.Server
			srv := p.server(t, tc.h2, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/elsewhere" {
					http.Redirect(w, r, other.URL+"/here", http.StatusFound)
					return
				}
				_, _ = io.WriteString(w, "ok")
			}))
			// The same server under another name: localhost instead of 127.0.0.1.
			other = srv
			_, port, _ := net.SplitHostPort(hostPort(srv.URL))
			other = &httptest.Server{URL: "https://localhost:" + port}

			c := newClient(t, Options{TLS: TLSOptions{CAFile: p.rootFile}, HTTP2: tc.h2})
			var resp Response
			for i := range 2 { // a new connection, then the same one again
				require.NoError(t, c.Do(context.Background(), &Request{URL: srv.URL + "/"}, &resp))
				require.Len(t, resp.TLS, 1, "request %d", i)
				got := resp.TLS[0]
				assert.Equal(t, "127.0.0.1", got.Host)
				require.Len(t, got.Chain, 2, "the leaf and the intermediate the server sent")
				assert.Equal(t, p.leafNotAfter, got.Chain[0].NotAfter.UTC())
				assert.Equal(t, "localhost", got.Chain[0].Subject.CommonName)
				assert.Equal(t, "canary test intermediate", got.Chain[0].Issuer.CommonName)
				assert.Equal(t, p.interNotAfter, got.Chain[1].NotAfter.UTC())
			}

			// A redirect to another host: both hops' chains, in order.
			require.NoError(t, c.Do(context.Background(), &Request{URL: srv.URL + "/elsewhere", FollowRedirects: true}, &resp))
			require.Equal(t, 200, resp.Status)
			require.Len(t, resp.TLS, 2)
			assert.Equal(t, "127.0.0.1", resp.TLS[0].Host)
			assert.Equal(t, "localhost", resp.TLS[1].Host)

			// Reset forgets them.
			resp.Reset()
			assert.Empty(t, resp.TLS)
		})
	}
}

func TestResumedSessionsCarryThePeerCertificates(t *testing.T) {
	p := newChainPKI(t)
	var resumed atomic.Int64
	srv := p.server(t, false, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS.DidResume {
			resumed.Add(1)
		}
		w.Header().Set("Connection", "close") // a new connection, and a resumed session, every time
		_, _ = io.WriteString(w, "ok")
	}))
	c := newClient(t, Options{TLS: TLSOptions{CAFile: p.rootFile}})
	var resp Response
	for range 3 {
		require.NoError(t, c.Do(context.Background(), &Request{URL: srv.URL + "/"}, &resp))
		require.Len(t, resp.TLS, 1)
		require.NotEmpty(t, resp.TLS[0].Chain)
		assert.Equal(t, p.leafNotAfter, resp.TLS[0].Chain[0].NotAfter.UTC())
	}
	assert.Positive(t, resumed.Load(), "sessions were resumed")
}

func TestPlainHTTPHasNoPeerCertificates(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") }))
	defer srv.Close()
	c := newClient(t, Options{})
	var resp Response
	require.NoError(t, c.Do(context.Background(), &Request{URL: srv.URL}, &resp))
	assert.Empty(t, resp.TLS)
}
