package transport

import (
	"bufio"
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
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// schemes are the two wire paths: fasthttp and net/http.
var schemes = []string{"http", "https"}

// newClient returns a client closed when the test ends.
func newClient(t testing.TB, o Options) *Client {
	t.Helper()
	c, err := New(o)
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}

// testPKI is a self-signed CA, a server certificate for 127.0.0.1 and
// localhost, and a client certificate, all made fresh for a test.
type testPKI struct {
	caPEM      []byte
	caFile     string
	caPool     *x509.CertPool
	server     tls.Certificate
	clientCert string // files of the client certificate and key
	clientKey  string
}

func newPKI(t testing.TB) *testPKI {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "canary test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	ca, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)

	leaf := func(serial int64, usage x509.ExtKeyUsage) (certPEM, keyPEM []byte) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: "localhost"},
			DNSNames:     []string{"localhost"},
			IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		require.NoError(t, err)
		kder, err := x509.MarshalECPrivateKey(key)
		require.NoError(t, err)
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
			pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
	}

	p := &testPKI{caPool: x509.NewCertPool()}
	p.caPool.AddCert(ca)
	p.caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	p.caFile = writeFile(t, dir, "ca.pem", p.caPEM)

	sc, sk := leaf(2, x509.ExtKeyUsageServerAuth)
	p.server, err = tls.X509KeyPair(sc, sk)
	require.NoError(t, err)

	cc, ck := leaf(3, x509.ExtKeyUsageClientAuth)
	p.clientCert = writeFile(t, dir, "client.pem", cc)
	p.clientKey = writeFile(t, dir, "client-key.pem", ck)
	return p
}

func writeFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(path, data, 0o600))
	return path
}

// serverTLS is the TLS configuration of the test servers: HTTP/1.1 only
// unless a test asks for HTTP/2.
func (p *testPKI) serverTLS() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{p.server}, NextProtos: []string{"http/1.1"}}
}

// httpServer starts an httptest server for scheme: plain, or TLS with the
// PKI's certificate (HTTP/1.1 only).
func httpServer(t testing.TB, scheme string, pki *testPKI, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	if scheme == "https" {
		srv.TLS = pki.serverTLS()
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return srv
}

// rawServer is a loopback TCP server whose connections are handled by a
// test function: the faulty servers. Close stops accepting, closes the open
// connections and waits for every handler.
type rawServer struct {
	ln     net.Listener
	URL    string
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool

	accepted atomic.Int64 // connections
	requests atomic.Int64 // requests read, as counted by readRequest
}

// newRawServer serves scheme on 127.0.0.1 with handle called for each
// connection (after the TLS handshake for https).
func newRawServer(t testing.TB, scheme string, pki *testPKI, handle func(s *rawServer, c net.Conn)) *rawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &rawServer{ln: ln, URL: scheme + "://" + ln.Addr().String(), conns: make(map[net.Conn]struct{})}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.accepted.Add(1)
			var conn net.Conn = c
			if scheme == "https" {
				conn = tls.Server(c, pki.serverTLS())
			}
			if !s.track(conn) {
				_ = conn.Close()
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer s.untrack(conn)
				handle(s, conn)
			}()
		}
	}()
	t.Cleanup(s.Close)
	return s
}

func (s *rawServer) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *rawServer) untrack(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	_ = c.Close()
}

// Close stops the server and waits for its goroutines.
func (s *rawServer) Close() {
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	_ = s.ln.Close()
	s.wg.Wait()
}

// readRequest reads one request (headers and body) from br and counts it.
func (s *rawServer) readRequest(br *bufio.Reader) (*http.Request, error) {
	req, err := http.ReadRequest(br)
	if err != nil {
		return nil, err
	}
	if _, err := io.Copy(io.Discard, req.Body); err != nil {
		return nil, err
	}
	s.requests.Add(1)
	return req, nil
}

// tcpConn returns the TCP connection under c (under TLS for https).
func tcpConn(c net.Conn) *net.TCPConn {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	return c.(*net.TCPConn)
}

// okResponse is a complete keep-alive response.
const okResponse = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

// answering is a server that answers every request on a connection with
// response, keeping the connection open.
func answering(t testing.TB, scheme string, pki *testPKI, response string) *rawServer {
	t.Helper()
	return newRawServer(t, scheme, pki, func(s *rawServer, c net.Conn) {
		br := bufio.NewReader(c)
		for {
			if _, err := s.readRequest(br); err != nil {
				return
			}
			if _, err := io.WriteString(c, response); err != nil {
				return
			}
		}
	})
}

// errorText returns err's message, or "" for nil.
func errorText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// clientFor returns a client that trusts pki (for the https servers).
func clientFor(t testing.TB, pki *testPKI, o Options) *Client {
	t.Helper()
	if pki != nil && o.TLS.CAFile == "" {
		o.TLS.CAFile = pki.caFile
	}
	return newClient(t, o)
}

func hostPort(rawURL string) string {
	return strings.TrimPrefix(strings.TrimPrefix(rawURL, "http://"), "https://")
}
