package daemon

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canaryproj/canary/demotarget"
	"github.com/canaryproj/canary/internal/logtest"
	"github.com/canaryproj/canary/metrics"
	"github.com/canaryproj/canary/redact"
)

// testChain is a CA and a leaf for 127.0.0.1 it issued, with a known
// expiry; the CA in a PEM file a scenario's tls.ca_file can name.
type testChain struct {
	caFile   string
	cert     tls.Certificate
	notAfter time.Time
}

func newTestChain(t *testing.T, dir string, notAfter time.Time) testChain {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Canary Test CA", Organization: []string{"canary"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter.Add(365 * 24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	ca, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)
	leafDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: big.NewInt(2),
		Subject: pkix.Name{CommonName: "shop.test"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, ca, &leafKey.PublicKey, caKey)
	require.NoError(t, err)
	caFile := filepath.Join(dir, "ca.pem")
	require.NoError(t, os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600))
	return testChain{caFile: caFile, cert: tls.Certificate{Certificate: [][]byte{leafDER, caDER}, PrivateKey: leafKey}, notAfter: notAfter}
}

// startTLS runs a daemon whose check shop goes to the demo target over
// https, served a certificate expiring at notAfter, with the objective
// tls_expiry > 14d.
func startTLS(t *testing.T, notAfter time.Time) (*testDaemon, testChain) {
	t.Helper()
	dir := t.TempDir()
	chain := newTestChain(t, dir, notAfter.Truncate(time.Second))
	demo := demotarget.New(demotarget.Options{Seed: 1})
	target := httptest.NewUnstartedServer(demo)
	target.TLS = &tls.Config{Certificates: []tls.Certificate{chain.cert}}
	target.StartTLS()
	t.Cleanup(target.Close)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "shop.yaml"), []byte(`name: shop
vars: {base: "${TARGET}"}
defaults: {tls: {ca_file: "`+chain.caFile+`"}}
steps:
  - name: products
    request: {url: "{{ .base }}/products"}
    expect: {status: 200}
`), 0o644))
	cfg := filepath.Join(dir, "canary.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(configYAML(`  - name: shop
    scenario: shop.yaml
    profile: {rate: 20/s}
    slos:
      - {name: availability, success: 95%}
      - {name: certificate, tls_expiry: 14d}
    window: 3s
    min_samples: 10
`)), 0o644))
	td := &testDaemon{t: t, dir: dir, cfg: cfg, demo: demo, target: target, logs: &logtest.Buffer{},
		env: map[string]string{"TARGET": target.URL, "CANARY_TOKEN": token}}
	td.run()
	return td, chain
}

func TestCertificatesAreTrackedJudgedAndAlerted(t *testing.T) {
	for _, tc := range []struct {
		name     string
		in       time.Duration
		verdict  string
		alerting bool
	}{
		{"expiring in 9 days", 9 * 24 * time.Hour, "fail", true},
		{"expiring in 41 days", 41 * 24 * time.Hour, "pass", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			td, chain := startTLS(t, time.Now().Add(tc.in))
			var s map[string]any
			require.Eventually(t, func() bool {
				s = td.checkSummaryOf("shop")
				return s["verdict"] == tc.verdict
			}, 15*time.Second, 100*time.Millisecond)

			// The API: the chain, per step and host.
			certs, _ := s["certificates"].([]any)
			require.Len(t, certs, 1)
			c := certs[0].(map[string]any)
			assert.Equal(t, "products", c["step"])
			assert.Equal(t, "127.0.0.1", c["host"])
			assert.Equal(t, "shop.test", c["subject"])
			assert.Equal(t, "Canary Test CA", c["issuer"])
			notAfter, err := time.Parse(time.RFC3339, fmt.Sprint(c["not_after"]))
			require.NoError(t, err)
			assert.True(t, chain.notAfter.Equal(notAfter), "not_after %v, the certificate's %v", notAfter, chain.notAfter)
			assert.Len(t, c["chain"], 2, "the leaf and the CA the server sent")

			// The metric.
			series := fmt.Sprintf(`canary_tls_cert_not_after_timestamp_seconds{check="shop",host="127.0.0.1",step="products"} %g`, float64(chain.notAfter.Unix()))
			assert.Contains(t, td.raw("/metrics"), series)

			// The objective, its reason and its alert.
			page := td.raw("/checks/shop")
			assert.Contains(t, page, "TLS certificates")
			assert.Contains(t, page, chain.notAfter.UTC().Format("2006-01-02"))
			assert.Contains(t, page, "Canary Test CA")
			firing := `canary_alerts_firing{check="shop",slo="certificate"} 1`
			if !tc.alerting {
				assert.NotContains(t, fmt.Sprint(s["reasons"]), "tls_expiry")
				assert.NotContains(t, td.raw("/metrics"), firing)
				return
			}
			assert.Contains(t, fmt.Sprint(s["reasons"]), "tls_expiry 9d <= 14d")
			assert.Contains(t, fmt.Sprint(s["reasons"]), "the certificate of 127.0.0.1 (step products) expires")
			require.Eventually(t, func() bool { return strings.Contains(td.raw("/metrics"), firing) }, 10*time.Second, 100*time.Millisecond)
			assert.Contains(t, td.raw("/"), `<td>certificate</td><td>ticket</td>`, "the firing alert, a ticket")
		})
	}
}

func TestTLSTrackerIsBounded(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	e, err := metrics.NewExporter(reg)
	require.NoError(t, err)
	m, err := e.AddCheck("c", metrics.CheckOptions{Steps: []string{"a"}})
	require.NoError(t, err)
	secrets := &redact.Set{}
	secrets.Add("secret-tenant")
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	tr := newTLSTracker([]string{"a"}, m, secrets, func() time.Time { return now })
	leaf := func(days int) []*x509.Certificate {
		return []*x509.Certificate{{Subject: pkix.Name{CommonName: "x"}, Issuer: pkix.Name{CommonName: "ca"}, NotAfter: now.AddDate(0, 0, days)}}
	}
	for i := range maxTLSHosts + 5 {
		tr.SawCertificates(0, fmt.Sprintf("Host-%d.example.com", i), leaf(30))
	}
	assert.Len(t, tr.list(), maxTLSHosts)
	assert.Equal(t, maxTLSHosts, testutil.CollectAndCount(reg, metrics.TLSCertNotAfter), "a series per tracked host")
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP canary_tls_hosts_dropped_total Certificates seen for a (step, host) past the check's bound of tracked hosts, and not exported.
# TYPE canary_tls_hosts_dropped_total counter
canary_tls_hosts_dropped_total{check="c"} 5
`), metrics.TLSHostsDropped), "the others counted")

	// A known host's new chain replaces its old one; the same chain again
	// changes nothing; bad steps and empty chains are ignored.
	tr.SawCertificates(0, "host-0.example.com", leaf(90))
	tr.SawCertificates(0, "host-0.example.com", leaf(90))
	tr.SawCertificates(7, "host-0.example.com", leaf(1))
	tr.SawCertificates(0, "host-1.example.com", nil)
	for _, c := range tr.list() {
		if c.Host == "host-0.example.com" {
			assert.Equal(t, now.AddDate(0, 0, 90), c.NotAfter)
		}
	}
	in := tr.objectiveInput(now)
	require.Len(t, in.Certs, maxTLSHosts)

	// A host that is a secret is not a label.
	tr2 := newTLSTracker([]string{"a"}, m, secrets, func() time.Time { return now })
	tr2.SawCertificates(0, "secret-tenant.example.com", leaf(30))
	require.Len(t, tr2.list(), 1)
	assert.Equal(t, "redacted", tr2.list()[0].Host)
}
