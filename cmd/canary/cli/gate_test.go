package cli

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canaryproj/canary/gate"
	"github.com/canaryproj/canary/slo"
)

// verdictDaemon answers GET /api/v1/checks/checkout/verdict with body and
// records the query strings it was asked with.
func verdictDaemon(t *testing.T, body string) (base string, queries func() []url.Values) {
	t.Helper()
	var (
		mu   sync.Mutex
		seen []url.Values
	)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/checks/checkout/verdict", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.URL.Query())
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(body))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL, func() []url.Values {
		mu.Lock()
		defer mu.Unlock()
		return append([]url.Values(nil), seen...)
	}
}

const failingVerdict = `{
  "check": "checkout", "verdict": "fail", "window": "5m", "since": "2026-11-24T10:00:00Z",
  "at": "2026-11-24T10:07:12Z", "samples": 1830,
  "objectives": [
    {"name": "availability", "objective": "success>=99.5%", "observed": "99.8%", "pass": true, "target": 0.995, "value": 0.998},
    {"name": "login-p99", "objective": "p99(login)<300ms", "observed": "412ms", "pass": false, "target": 0.3, "value": 0.412}
  ],
  "reasons": ["p99 of login 412ms >= 300ms since 2026-11-24T10:00:00Z, n=1830"]
}`

func TestGateOutput(t *testing.T) {
	base, _ := verdictDaemon(t, failingVerdict)
	for _, tc := range []struct {
		name  string
		args  []string
		check func(t *testing.T, stdout string)
	}{
		{"text by default", nil, func(t *testing.T, stdout string) {
			assert.Equal(t, `checkout: FAIL (n=1830, window 5m, since 2026-11-24T10:00:00Z)
  ✓ availability  success>=99.5%  observed 99.8%
  ✗ login-p99  p99(login)<300ms  observed 412ms
  p99 of login 412ms >= 300ms since 2026-11-24T10:00:00Z, n=1830
`, stdout)
		}},
		{"json as the daemon answered", []string{"--output", "json"}, func(t *testing.T, stdout string) {
			assert.JSONEq(t, failingVerdict, stdout)
		}},
		{"json, short flag", []string{"-o", "json"}, func(t *testing.T, stdout string) {
			assert.JSONEq(t, failingVerdict, stdout)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := invoke(t, nil, append([]string{"gate", "--server", base, "--check", "checkout"}, tc.args...)...)
			assert.Equal(t, ExitSLOFailed, code, stderr)
			tc.check(t, stdout)
		})
	}
	code, _, stderr := invoke(t, nil, "gate", "--server", base, "--check", "checkout", "--output", "yaml")
	assert.Equal(t, ExitUsage, code)
	assert.Equal(t, "canary: --output \"yaml\": want text or json\n", stderr)
}

// --prometheus has no daemon answer to print: its JSON has a verdict's
// fields all the same.
func TestGateJSONWithoutABody(t *testing.T) {
	var b strings.Builder
	require.NoError(t, writeGateJSON(&b, "checkout", &gateResultInconclusive))
	var got map[string]any
	require.NoError(t, json.Unmarshal([]byte(b.String()), &got))
	assert.Equal(t, map[string]any{"check": "checkout", "verdict": "inconclusive", "reasons": []any{"no data"}}, got)
}

// --min-samples has one default, the check's: it is sent only when given.
func TestGateMinSamplesDefault(t *testing.T) {
	code, help, _ := invoke(t, nil, "gate", "--help")
	require.Equal(t, ExitOK, code)
	line := ""
	for _, l := range strings.Split(help, "\n") {
		if strings.Contains(l, "--min-samples") {
			line = l
		}
	}
	assert.Equal(t, 1, strings.Count(line, "default"), "one default in %q", line)

	base, queries := verdictDaemon(t, failingVerdict)
	invoke(t, nil, "gate", "--server", base, "--check", "checkout")
	invoke(t, nil, "gate", "--server", base, "--check", "checkout", "--min-samples", "0")
	q := queries()
	require.Len(t, q, 2)
	assert.False(t, q[0].Has("min_samples"), "not given: the check's own")
	assert.Equal(t, "0", q[1].Get("min_samples"), "given, even 0")
}

var gateResultInconclusive = gate.Result{Verdict: slo.Inconclusive, Reasons: []string{"no data"}}
