package daemon

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canaryproj/canary/demotarget"
)

// comparisonCheck is a check comparing two demo targets on their error
// rate, which a busy machine does not blur.
func comparisonCheck(baseline, candidate string) string {
	return fmt.Sprintf(`  - name: shop-canary
    scenario: shop.yaml
    baseline: %s
    candidate: %s
    objectives: ["errors not higher by more than 2pp"]
    profile: {rate: 50/s}
    window: 10s
`, baseline, candidate)
}

// TestComparisonCheckGates: a comparison check runs both sides all the
// time, and the gate endpoints answer with the candidate's verdict against
// the baseline: pass while they behave alike, 412 once the candidate fails
// more often.
func TestComparisonCheckGates(t *testing.T) {
	base := demotarget.New(demotarget.Options{Seed: 1})
	cand := demotarget.New(demotarget.Options{Seed: 2})
	bs, cs := httptest.NewServer(base), httptest.NewServer(cand)
	defer bs.Close()
	defer cs.Close()
	td := start(t, comparisonCheck(bs.URL, cs.URL+"/"))

	gate := func() (int, map[string]any) {
		code, _, body := td.do("GET", "/api/v1/gate/shop-canary", "", nil)
		return code, body
	}
	require.Eventually(t, func() bool { c, _ := gate(); return c == 200 }, 30*time.Second, 200*time.Millisecond, "alike: pass once both sides have samples")
	_, v := gate()
	assert.Equal(t, "pass", v["verdict"])
	cmp := v["comparison"].(map[string]any)
	assert.Equal(t, bs.URL, cmp["baseline"])
	assert.Equal(t, cs.URL+"/", cmp["candidate"])
	results := cmp["judgement"].(map[string]any)["results"].([]any)
	require.Len(t, results, 1)
	assert.Equal(t, "errors not higher by more than 2pp", results[0].(map[string]any)["objective"])
	objs := v["objectives"].([]any)
	require.Len(t, objs, 1)
	assert.Regexp(t, `^\+0pp \[-[0-9.]+pp, \+[0-9.]+pp\]$`, objs[0].(map[string]any)["observed"], "the effect and its interval")
	assert.Positive(t, base.Counts()["GET /products"], "the baseline is driven")
	assert.Positive(t, cand.Counts()["GET /products"], "and the candidate")

	require.NoError(t, cand.SetFaults(demotarget.Faults{ErrorRatio: 0.3}))
	require.Eventually(t, func() bool { c, _ := gate(); return c == 412 }, 30*time.Second, 200*time.Millisecond, "a candidate failing more fails the gate")
	code, _, v := td.do("GET", "/api/v1/checks/shop-canary/verdict", "", nil)
	assert.Equal(t, 200, code)
	assert.Equal(t, "fail", v["verdict"])
	assert.Contains(t, fmt.Sprint(v["reasons"]), "is worse than the allowed +2pp")
	// Flagger's webhook asks the same, with its payload.
	code, _, _ = td.do("POST", "/api/v1/gate/shop-canary", "", map[string]any{"name": "shop", "namespace": "prod", "phase": "Progressing", "metadata": map[string]string{"window": "3s"}})
	assert.Equal(t, 412, code)
	// The check's metrics are the candidate's; its verdict is the comparison's.
	metrics := td.raw("/metrics")
	assert.Contains(t, metrics, `canary_requests_total{check="shop-canary",code="503",error="http_status",method="GET",step="products"}`)
	require.Eventually(t, func() bool { return strings.Contains(td.raw("/metrics"), `canary_verdict{check="shop-canary"} 0`) },
		5*time.Second, 100*time.Millisecond, "the evaluation's verdict is the comparison's")
	// The status page lists it like any check.
	assert.Contains(t, td.raw("/checks/shop-canary"), "errors not higher by more than 2pp")
}

// TestComparisonOnDemandRun: an on-demand run of a comparison check runs
// both sides under the requested profile, once per key, and keeps the
// comparison with both sides' reports.
func TestComparisonOnDemandRun(t *testing.T) {
	base := demotarget.New(demotarget.Options{Seed: 1})
	cand := demotarget.New(demotarget.Options{Seed: 2, Faults: demotarget.Faults{ErrorRatio: 0.5}})
	bs, cs := httptest.NewServer(base), httptest.NewServer(cand)
	defer bs.Close()
	defer cs.Close()
	// A scheduled check runs nothing until asked.
	check := strings.Replace(comparisonCheck(bs.URL, cs.URL), "profile: {rate: 50/s}", "profile: {constant: {target: 50, duration: 5s}}\n    schedule: \"@yearly\"", 1)
	td := start(t, check)

	req := map[string]any{"check": "shop-canary", "profile": map[string]any{"rate": "100/s"}, "duration": "2s", "key": "rollout-7"}
	code, hdr, first := td.do("POST", "/api/v1/runs", token, req)
	require.Equal(t, 202, code, "%v", first)
	loc := strings.TrimPrefix(hdr.Get("Location"), td.base) // an absolute URL
	code, hdr, second := td.do("POST", "/api/v1/runs", token, req)
	assert.Equal(t, 202, code)
	assert.Equal(t, td.base+loc, hdr.Get("Location"), "the same key, the same run")
	assert.Equal(t, first["id"], second["id"])
	require.Eventually(t, func() bool {
		_, _, r := td.do("GET", loc, "", nil)
		return r["status"] == "failed"
	}, 20*time.Second, 200*time.Millisecond)

	_, _, run := td.do("GET", loc, "", nil)
	doc := run["comparison"].(map[string]any)
	assert.Equal(t, "canary.compare/v1", doc["schema"])
	assert.Equal(t, "fail", doc["verdict"])
	for _, side := range []string{"baseline", "candidate"} {
		rep := doc[side].(map[string]any)["report"].(map[string]any)
		assert.Equal(t, 200.0, rep["iterations"].(map[string]any)["total"], "%s: one run of 100/s for 2 s", side)
	}
	assert.Equal(t, 200.0, float64(base.Counts()["GET /products"]), "the baseline saw each iteration once")
	assert.Equal(t, 200.0, float64(cand.Counts()["GET /products"]), "and so did the candidate")

	// Both sides count against max_rate: 2 × 150/s is over the 200/s cap.
	code, _, body := td.do("POST", "/api/v1/runs", token, map[string]any{"check": "shop-canary", "profile": map[string]any{"rate": "150/s"}, "duration": "1s"})
	assert.Equal(t, 429, code)
	assert.Contains(t, body["error"], "a run at 300/s would exceed max_rate 200/s")
}
