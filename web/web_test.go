package web

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/canaryproj/canary/internal/golden"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var now = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

func fixture() Status {
	pts := []Point{}
	for i := 0; i < 10; i++ {
		pts = append(pts, Point{T: now.Add(time.Duration(i-10) * time.Second), Rate: float64(5 + i%3), P50Ms: float64(4 + i%2), P99Ms: float64(10 + i), ErrorPct: float64(i % 2)})
	}
	up := func(success, total int64, partial time.Duration) []Uptime {
		var out []Uptime
		for _, w := range []struct {
			name string
			d    time.Duration
		}{{"24h", 24 * time.Hour}, {"7d", 7 * 24 * time.Hour}, {"30d", 30 * 24 * time.Hour}} {
			u := Uptime{Window: w.name, Success: success, Total: total, From: now.Add(-w.d), Span: w.d}
			if partial > 0 && partial < w.d {
				u.From, u.Span, u.Partial = now.Add(-partial), partial, true
			}
			out = append(out, u)
		}
		return out
	}
	leaf := now.Add(9 * 24 * time.Hour)
	return Status{
		GeneratedAt: now, Version: "v1.0.0",
		Config: ConfigStatus{OK: true, LastReload: now.Add(-5 * time.Minute), File: "canary.yaml"},
		Checks: []Check{
			{Name: "health", Verdict: "pass", EvaluatedAt: now.Add(-3 * time.Second), Window: "5m", Samples: 30, AchievedRate: 0.1, TargetRate: 0.1, P50Ms: 1.2, P99Ms: 3.4,
				Uptime:     up(25910, 25920, 0),
				Objectives: []Objective{{Name: "availability", Objective: "success>=99%", Observed: "100\u00a0%", Pass: true, Evaluated: true, HasBudget: true, BudgetLeft: 0.961, BudgetPeriod: "30d"}}, Series: pts},
			{Name: "checkout", Verdict: "fail", EvaluatedAt: now.Add(-3 * time.Second), Window: "2m", Samples: 600, AchievedRate: 5, TargetRate: 5, P50Ms: 40, P99Ms: 912, ErrorPct: 12.5,
				Labels: map[string]string{"team": "payments"}, Reasons: []string{"success 87.5% < 99.5% over 2m, n=600"},
				Uptime: up(9982, 10000, 3*time.Hour+12*time.Minute),
				Objectives: []Objective{
					{Name: "availability", Objective: "success>=99.5%", Observed: "87.5\u00a0%", Evaluated: true, HasBudget: true, BudgetLeft: -1.5, BudgetPeriod: "30d"},
					{Name: "login-p99", Objective: "p99(login)<800ms", Observed: "n/a"},
					{Name: "certificate", Objective: "tls_expiry>14d", Observed: "9 d", Evaluated: true}},
				Steps:        []Step{{Name: "login", Count: 600, P50Ms: 20, P99Ms: 400, ErrorPct: 1, Errors: map[string]int64{"http_status": 6}, Status: map[string]int64{"200": 594, "503": 6}}},
				Series:       pts,
				LatencyRules: []Rule{{Label: "p99 < 800 ms", Value: 800}},
				Failures: []FailureGroup{{Step: "login", Class: "http_status", Status: 503, Count: 6, First: now.Add(-time.Minute), Last: now.Add(-2 * time.Second),
					Reason: "step login: POST https://shop.example.com/login: unexpected status 503",
					Samples: []FailureSample{{At: now.Add(-2 * time.Second), Method: "POST", URL: "https://shop.example.com/login", Status: 503,
						Error: "unexpected status 503", Expected: "status 200", Actual: "503",
						RequestHeaders: []Header{{"Authorization", "<redacted>"}}, RequestBody: `{"user":"ann"}`,
						ResponseHeaders: []Header{{"Content-Type", "text/plain"}}, ResponseBody: "upstream down", ResponseBytes: 4096,
						Timing: []Phase{{"connect", 0.4}, {"tls", 2.1}, {"first byte", 31}, {"body", 0.2}}}}}},
				Certs: []Cert{{Step: "login", Host: "shop.example.com", Subject: "CN=shop.example.com", Issuer: "CN=Example CA R3", NotAfter: leaf, FirstSeen: now.Add(-10 * time.Second),
					Chain: []ChainCert{{Subject: "CN=shop.example.com", Issuer: "CN=Example CA R3", NotAfter: leaf}, {Subject: "CN=Example CA R3", Issuer: "CN=Example Root", NotAfter: now.Add(5 * 24 * time.Hour)}}}}},
			{Name: "nightly", Verdict: "inconclusive", EvaluatedAt: now.Add(-3 * time.Second), Window: "5m", Schedule: "0 3 * * *", NextRun: now.Add(15*time.Hour + 10*time.Minute),
				LastRun: &LastRun{Start: now.Add(-8*time.Hour - 50*time.Minute), End: now.Add(-8*time.Hour - 40*time.Minute), Verdict: "pass", Samples: 1200},
				Uptime:  up(1200, 1200, 0),
				Reasons: []string{"0 iterations over 5m, fewer than min_samples 10"}},
		},
		Alerts:   []Alert{{Check: "checkout", SLO: "availability", Severity: "page", Since: now.Add(-3 * time.Minute)}},
		Silences: []Silence{{ID: "s1", Matchers: map[string]string{"check": "health"}, EndsAt: now.Add(time.Hour), Comment: "maintenance", CreatedBy: "ops"}},
		Runs:     []Run{{ID: "20261124T115900-ab12", Check: "checkout", Status: "passed", Started: now.Add(-time.Minute), Ended: now.Add(-30 * time.Second)}},
	}
}

func get(t *testing.T, h http.Handler, method, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	b, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(b)
}

func TestPagesGolden(t *testing.T) {
	h := Handler(func(context.Context) (Status, error) { return fixture(), nil }, nil)
	code, body := get(t, h, "GET", "/")
	require.Equal(t, 200, code)
	golden.Assert(t, "testdata/overview.golden.html", []byte(body))
	assert.Contains(t, body, "<title>canary — 1 failing</title>")
	assert.Less(t, strings.Index(body, `href="/checks/checkout"`), strings.Index(body, `href="/checks/health"`), "failing checks first")
	code, body = get(t, h, "GET", "/checks/checkout")
	require.Equal(t, 200, code)
	golden.Assert(t, "testdata/check.golden.html", []byte(body))
	assert.Contains(t, body, "success 87.5% &lt; 99.5% over 2m, n=600")
}

func TestPagesSay(t *testing.T) {
	h := Handler(func(context.Context) (Status, error) { return fixture(), nil }, nil)
	for _, tc := range []struct {
		name, path string
		want       []string
		not        []string
	}{
		{"uptime rounded for people", "/", []string{">99.82\u00a0%<", ">99.96\u00a0%<", "3 h 12 min"}, []string{"99.8200", "99.9614"}},
		{"a scheduled check between runs shows its next and last run", "/",
			[]string{"next run Nov 25 03:10 UTC (in 15 h 10 min)", `<span class="v pass">pass</span><br><span class="meta">last run Nov 24 03:20 UTC, n=1` + "\u2009" + `200</span>`},
			[]string{`<span class="v inconclusive">inconclusive</span><br><span class="meta">5m`}},
		{"budget left", "/", []string{"96.1\u00a0% left", "overspent 2.5×"}, nil},
		{"the chain's first expiry", "/", []string{`title="expires 2026-11-29">5 d<`}, nil},
		{"a p99 chart with a scale and a span", "/", []string{`aria-label="p99 latency in ms`, ">−1 min<", ">now<", ">20 ms<"}, nil},
		{"charts with axes, units and legends", "/checks/checkout", []string{
			`<figure id="latency">`, `<figure id="errors">`, `<figure id="throughput">`, ">time (UTC)<", ">20 ms<", ">1.0%<", ">8/s<",
			">p99 &lt; 800 ms (above the scale)<", "over the last 10 s"}, nil},
		{"the uptime's span when the check is younger", "/checks/checkout", []string{"over 3 h 12 min, since 2026-11-24 08:48:00 UTC"}, nil},
		{"failure samples", "/checks/checkout", []string{"Latest failures", "login · http_status 503", "expected <code>status 200</code>, got <code>503</code>",
			"first 13 of 4" + "\u2009" + "096 bytes", "connect 400 µs · tls 2.1 ms · first byte 31 ms · body 200 µs"}, nil},
		{"certificates", "/checks/checkout", []string{"<code>shop.example.com</code>", "2026-12-03 (in 9 d)", "CN=Example CA R3", "2026-11-29"}, nil},
		{"the check's runs", "/checks/checkout", []string{`href="/api/v1/runs/20261124T115900-ab12"`}, nil},
		{"badges", "/checks/checkout", []string{`<img src="/badge/checkout.svg"`, `<img src="/badge/checkout/uptime.svg?window=30d"`}, nil},
		{"scheduled check page", "/checks/nightly", []string{"Scheduled <code>0 3 * * *</code>: next run at <strong>Nov 25 03:10 UTC</strong> (in 15 h 10 min)",
			"Last run 2026-11-24 03:10:00 UTC – 2026-11-24 03:20:00 UTC"}, []string{"fewer than min_samples"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := get(t, h, "GET", tc.path)
			require.Equal(t, 200, code)
			for _, w := range tc.want {
				assert.Contains(t, body, w)
			}
			for _, n := range tc.not {
				assert.NotContains(t, body, n)
			}
		})
	}
}

func TestHeaders(t *testing.T) {
	h := Handler(func(context.Context) (Status, error) { return fixture(), nil }, nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/checks/checkout", nil))
	assert.Equal(t, "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:", rec.Header().Get("Content-Security-Policy"),
		"no script may run, and images only from the daemon (the badges)")
	assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
}

func TestEscaping(t *testing.T) {
	st := fixture()
	st.Checks[0].Labels = map[string]string{"team": "<script>alert(1)</script>"}
	st.Checks[0].Reasons = []string{`"><img src=x onerror=alert(1)>`}
	st.Config = ConfigStatus{OK: false, Error: "<b>bad</b>"}
	// What a target sends: a response body and a certificate's names.
	st.Checks[1].Failures[0].Samples[0].ResponseBody = "<script>alert(1)</script>"
	st.Checks[1].Certs[0].Subject = "<script>alert(1)</script>"
	st.Checks[1].Certs[0].Chain[1].Subject = `"><img src=x onerror=alert(1)>`
	h := Handler(func(context.Context) (Status, error) { return st, nil }, nil)
	for _, path := range []string{"/", "/checks/health", "/checks/checkout"} {
		_, body := get(t, h, "GET", path)
		assert.NotContains(t, body, "<script>alert(1)</script>", path)
		assert.NotContains(t, body, "<img src=x", path)
		assert.NotContains(t, body, "<b>bad</b>", path)
	}
	_, body := get(t, h, "GET", "/")
	assert.Contains(t, body, "&lt;script&gt;alert(1)&lt;/script&gt;")
	assert.Contains(t, body, "The last configuration reload was rejected")
}

func TestErrorsAndMethods(t *testing.T) {
	h := Handler(func(context.Context) (Status, error) { return fixture(), nil }, nil)
	code, body := get(t, h, "GET", "/checks/nope")
	assert.Equal(t, 404, code)
	assert.Contains(t, body, `No check named &#34;nope&#34;.`)
	code, _ = get(t, h, "POST", "/")
	assert.Equal(t, 405, code)
	code, _ = get(t, h, "GET", "/what")
	assert.Equal(t, 404, code)

	broken := Handler(func(context.Context) (Status, error) { return Status{}, errors.New("open /secret/path: denied") }, nil)
	code, body = get(t, broken, "GET", "/")
	assert.Equal(t, 500, code)
	assert.NotContains(t, body, "/secret/path", "the error's details stay in the log")
}

func TestBoundedRows(t *testing.T) {
	st := fixture()
	for i := 0; i < MaxRuns+7; i++ {
		st.Runs = append(st.Runs, Run{ID: "r", Check: "c", Status: "passed", Started: now})
	}
	h := Handler(func(context.Context) (Status, error) { return st, nil }, nil)
	_, body := get(t, h, "GET", "/")
	assert.Contains(t, body, "… 8 more")
	assert.Equal(t, MaxRuns, strings.Count(body, `href="/api/v1/runs/`), "runs listed")
}
