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
		pts = append(pts, Point{T: now.Add(time.Duration(i-10) * time.Second), Rate: float64(5 + i%3), P99Ms: float64(10 + i), ErrorPct: float64(i % 2)})
	}
	return Status{
		GeneratedAt: now, Version: "v1.0.0",
		Config: ConfigStatus{OK: true, LastReload: now.Add(-5 * time.Minute), File: "canary.yaml"},
		Checks: []Check{
			{Name: "health", Verdict: "pass", Window: "5m", Samples: 30, AchievedRate: 0.1, TargetRate: 0.1, P50Ms: 1.2, P99Ms: 3.4,
				Objectives: []Objective{{Name: "availability", Objective: "success>=99%", Observed: "100%", Pass: true, Evaluated: true}}, Series: pts},
			{Name: "checkout", Verdict: "fail", Window: "2m", Samples: 600, AchievedRate: 5, TargetRate: 5, P50Ms: 40, P99Ms: 912, ErrorPct: 12.5,
				Labels: map[string]string{"team": "payments"}, Reasons: []string{"success 87.5% < 99.5% over 2m, n=600"},
				Objectives: []Objective{{Name: "availability", Objective: "success>=99.5%", Observed: "87.5%", Evaluated: true}, {Name: "login-p99", Objective: "p99(login)<800ms", Observed: "n/a"}},
				Steps:      []Step{{Name: "login", Count: 600, P50Ms: 20, P99Ms: 400, ErrorPct: 1, Errors: map[string]int64{"http_status": 6}, Status: map[string]int64{"200": 594, "503": 6}}},
				Series:     pts},
		},
		Alerts:   []Alert{{Check: "checkout", SLO: "availability", Severity: "page", Since: now.Add(-3 * time.Minute)}},
		Silences: []Silence{{ID: "s1", Matchers: map[string]string{"check": "health"}, EndsAt: now.Add(time.Hour), Comment: "maintenance", CreatedBy: "ops"}},
		Runs:     []Run{{ID: "20261124T115900-ab12", Check: "checkout", Status: "passed", Started: now.Add(-time.Minute)}},
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

func TestEscaping(t *testing.T) {
	st := fixture()
	st.Checks[0].Labels = map[string]string{"team": "<script>alert(1)</script>"}
	st.Checks[0].Reasons = []string{`"><img src=x onerror=alert(1)>`}
	st.Config = ConfigStatus{OK: false, Error: "<b>bad</b>"}
	h := Handler(func(context.Context) (Status, error) { return st, nil }, nil)
	for _, path := range []string{"/", "/checks/health"} {
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
