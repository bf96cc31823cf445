package scenario

import (
	"context"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// certSink keeps what it is told.
type certSink struct {
	mu   sync.Mutex
	seen []sawCert
}

type sawCert struct {
	Step  int
	Host  string
	Chain []*x509.Certificate
}

func (s *certSink) SawCertificates(step int, host string, chain []*x509.Certificate) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seen = append(s.seen, sawCert{step, host, chain})
}

func TestRunnerTellsOfTheCertificatesEachStepIsServed(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") })
	secure := httptest.NewTLSServer(ok)
	defer secure.Close()
	plain := httptest.NewServer(ok)
	defer plain.Close()
	s := parseSrc(t, `name: s
defaults: {tls: {insecure_skip_verify: true}}
steps:
  - {name: plain, request: {url: "`+plain.URL+`/"}}
  - {name: secure, request: {url: "`+secure.URL+`/"}}
`, nil)
	sink := &certSink{}
	r := NewRunner(s, client(t, s), WithCertificates(sink))
	for i := range 3 {
		res := r.Run(context.Background(), Iteration{Number: uint64(i)}, nil)
		require.True(t, res.OK, "%v", res.Err)
	}
	require.Len(t, sink.seen, 1, "told once: the later requests reuse the connection and its chain")
	got := sink.seen[0]
	assert.Equal(t, 1, got.Step, "the https step")
	assert.Equal(t, "127.0.0.1", got.Host)
	require.NotEmpty(t, got.Chain)
	assert.Equal(t, secure.Certificate().Raw, got.Chain[0].Raw)
	assert.Equal(t, secure.Certificate().NotAfter, got.Chain[0].NotAfter)

	// Without a sink, nothing is looked at.
	r = NewRunner(s, client(t, s))
	assert.True(t, r.Run(context.Background(), Iteration{}, nil).OK)
}
