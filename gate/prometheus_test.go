package gate

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canaryproj/canary/config"
	"github.com/canaryproj/canary/metrics"
	"github.com/canaryproj/canary/promql"
	"github.com/canaryproj/canary/slo"
)

// prometheus is an httptest Prometheus HTTP API answering instant queries
// (/api/v1/query) from a table of expressions; any other expression has no
// data (an empty vector), and is recorded so the test can say so.
type prometheus struct {
	srv *httptest.Server

	mu      sync.Mutex
	values  map[string]float64 // expression → value (NaN: no data)
	asked   []string
	at      []string // the time parameter of each query
	unknown []string
	status  int // answer every query with this HTTP status when set
}

func newPrometheus(t *testing.T, values map[string]float64) *prometheus {
	p := &prometheus{values: values}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *prometheus) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if r.URL.Path != "/api/v1/query" || r.ParseForm() != nil {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	q := r.Form.Get("query")
	p.mu.Lock()
	p.asked = append(p.asked, q)
	p.at = append(p.at, r.Form.Get("time"))
	v, ok := p.values[q]
	if !ok {
		p.unknown = append(p.unknown, q)
	}
	status := p.status
	p.mu.Unlock()
	if status != 0 {
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]string{"status": "error", "errorType": "execution", "error": "query timed out"})
		return
	}
	result := []any{}
	if ok && !math.IsNaN(v) {
		result = append(result, map[string]any{"metric": map[string]string{}, "value": []any{1764000000, strconv.FormatFloat(v, 'g', -1, 64)}})
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"status": "success", "data": map[string]any{"resultType": "vector", "result": result}})
}

func objectives(t *testing.T, exprs ...string) []slo.Objective {
	t.Helper()
	var out []slo.Objective
	for i, e := range exprs {
		o, err := slo.ParseExpr(e)
		require.NoError(t, err)
		o.Name = "slo" + strconv.Itoa(i)
		out = append(out, o)
	}
	return out
}

func TestAskPrometheus(t *testing.T) {
	const check, w = "checkout", "10m"
	objs := objectives(t, "success>=99%", "errors<1%", "p99(login)<300ms", "mean<1s", "rps>=10", "tls_expiry>14d")
	success, errs, p99, mean := objs[0], objs[1], objs[2], objs[3]
	// The service-latency counterpart the saturation rule reads when the
	// corrected p99 fails.
	p99s, ok := p99.ServiceCounterpart(2)
	require.True(t, ok)
	healthy := func() map[string]float64 {
		return map[string]float64{
			promql.Iterations(check, w):                                              600,
			promql.GeneratorLag(0.99, check, w):                                      0.002,
			promql.Observations(metrics.GeneratorLag, promql.CheckMatcher(check), w): 600,
			promql.SLIErrorRatio(check, p99s, w):                                     0.004,
			promql.LatencyQuantile(check, p99s, w):                                   0.2,
			promql.SLIErrorRatio(check, success, w):                                  0.002,
			promql.SLIErrorRatio(check, errs, w):                                     0.002,
			promql.SLIErrorRatio(check, p99, w):                                      0.004,
			promql.LatencyQuantile(check, p99, w):                                    0.21,
			promql.MeanLatency(check, mean, w):                                       0.35,
			promql.Throughput(check, w):                                              12,
			promql.TLSExpiry(check):                                                  41 * 86400,
		}
	}
	with := func(changes map[string]float64) map[string]float64 {
		v := healthy()
		for k, x := range changes {
			v[k] = x
		}
		return v
	}
	for _, tc := range []struct {
		name       string
		values     map[string]float64
		minSamples int64
		verdict    slo.Verdict
		reasons    []string
	}{
		{name: "pass", values: healthy(), minSamples: 100, verdict: slo.Pass},
		{name: "failing availability", values: with(map[string]float64{
			promql.SLIErrorRatio(check, success, w): 0.05, promql.SLIErrorRatio(check, errs, w): 0.05,
		}), minSamples: 100, verdict: slo.Fail, reasons: []string{
			"success 95% < 99% over 10m, n=600", "errors 5% >= 1% over 10m, n=600",
		}},
		{name: "slow login: more than the budget above the threshold", values: with(map[string]float64{
			promql.SLIErrorRatio(check, p99, w): 0.03, promql.LatencyQuantile(check, p99, w): 0.45,
		}), minSamples: 100, verdict: slo.Fail, reasons: []string{"p99 of login 450ms >= 300ms over 10m, n=600"}},
		{name: "a certificate expiring", values: with(map[string]float64{promql.TLSExpiry(check): 9.5 * 86400}),
			minSamples: 100, verdict: slo.Fail, reasons: []string{"tls_expiry 9.5d <= 14d over 10m, n=600"}},
		{name: "too few samples", values: healthy(), minSamples: 1000, verdict: slo.Inconclusive},
		{name: "generator saturated: what it cannot change passes", values: with(map[string]float64{promql.GeneratorLag(0.99, check, w): 0.025}),
			minSamples: 100, verdict: slo.Pass, reasons: []string{
				"generator saturated: generator lag p99 25ms > 10ms over 600 lag samples; it could change none of the objectives' answers",
			}},
		{name: "generator saturated: an outage still fails", values: with(map[string]float64{
			promql.GeneratorLag(0.99, check, w): 0.2, promql.SLIErrorRatio(check, success, w): 0.2, promql.SLIErrorRatio(check, errs, w): 0.2,
		}), minSamples: 100, verdict: slo.Fail},
		{name: "generator saturated: corrected p99 fails, service passes", values: with(map[string]float64{
			promql.GeneratorLag(0.99, check, w): 0.2, promql.SLIErrorRatio(check, p99, w): 0.03, promql.LatencyQuantile(check, p99, w): 0.45,
		}), minSamples: 100, verdict: slo.Inconclusive},
		{name: "generator saturated: service p99 fails too", values: with(map[string]float64{
			promql.GeneratorLag(0.99, check, w): 0.2, promql.SLIErrorRatio(check, p99, w): 0.03, promql.LatencyQuantile(check, p99, w): 0.45,
			promql.SLIErrorRatio(check, p99s, w): 0.02, promql.LatencyQuantile(check, p99s, w): 0.4,
		}), minSamples: 100, verdict: slo.Fail},
		{name: "a lag p99 over too few samples is no saturation", values: with(map[string]float64{
			promql.GeneratorLag(0.99, check, w): 0.2, promql.Observations(metrics.GeneratorLag, promql.CheckMatcher(check), w): 20,
			promql.SLIErrorRatio(check, p99, w): 0.03, promql.LatencyQuantile(check, p99, w): 0.45,
		}), minSamples: 100, verdict: slo.Fail},
		{name: "no data for a ratio", values: with(map[string]float64{promql.SLIErrorRatio(check, success, w): math.NaN()}),
			minSamples: 100, verdict: slo.Inconclusive},
		{name: "no data at all", values: map[string]float64{}, minSamples: 100, verdict: slo.Inconclusive},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prom := newPrometheus(t, tc.values)
			now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
			client := &http.Client{Timeout: 5 * time.Second}
			t.Cleanup(client.CloseIdleConnections)
			res, err := AskPrometheus(context.Background(), PromOptions{
				URL: prom.srv.URL, Check: check, SLOs: objs, Window: 10 * time.Minute, MinSamples: tc.minSamples, Now: now, HTTPClient: client,
			})
			require.NoError(t, err)
			assert.Equal(t, tc.verdict, res.Verdict, "%v", res.Reasons)
			for _, r := range tc.reasons {
				assert.Contains(t, res.Reasons, r)
			}
			if len(tc.values) > 0 {
				assert.Empty(t, prom.unknown, "every query the gate asks is one of promql's")
			}
			for _, at := range prom.at {
				assert.Equal(t, strconv.FormatInt(now.Unix(), 10), at, "evaluated at Now")
			}
			if tc.verdict == slo.Pass {
				assert.Equal(t, len(tc.reasons), len(res.Reasons), "a pass gives no reasons but the ones expected: %v", res.Reasons)
			}
		})
	}
}

// An objective that buckets cannot answer (max) is not evaluated: it has
// no data, and the verdict says so rather than guessing.
func TestAskPrometheusMaxIsNotEvaluated(t *testing.T) {
	objs := objectives(t, "max<2s")
	prom := newPrometheus(t, map[string]float64{promql.Iterations("c", "5m"): 600})
	client := &http.Client{Timeout: 5 * time.Second}
	t.Cleanup(client.CloseIdleConnections)
	res, err := AskPrometheus(context.Background(), PromOptions{URL: prom.srv.URL, Check: "c", SLOs: objs, Window: 5 * time.Minute, HTTPClient: client})
	require.NoError(t, err)
	assert.Equal(t, slo.Inconclusive, res.Verdict)
	assert.Contains(t, res.Reasons, "max: no data over 5m")
}

func TestAskPrometheusErrors(t *testing.T) {
	client := &http.Client{Timeout: 5 * time.Second}
	t.Cleanup(client.CloseIdleConnections)

	prom := newPrometheus(t, nil)
	prom.status = http.StatusServiceUnavailable
	_, err := AskPrometheus(context.Background(), PromOptions{URL: prom.srv.URL, Check: "c", Window: time.Minute, HTTPClient: client})
	require.Error(t, err)
	assert.False(t, errors.Is(err, ErrUsage), "Prometheus failing is not the caller's mistake")
	assert.Contains(t, err.Error(), "query sum(increase(canary_iterations_total")

	_, err = AskPrometheus(context.Background(), PromOptions{URL: prom.srv.URL, Check: "c", Window: 1500 * time.Microsecond, HTTPClient: client})
	require.Error(t, err)
	assert.True(t, errors.Is(err, ErrUsage), "a window Prometheus cannot say: %v", err)

	_, err = AskPrometheus(context.Background(), PromOptions{URL: "://nope", Check: "c", Window: time.Minute})
	require.Error(t, err)
	assert.True(t, errors.Is(err, ErrUsage))
}

func TestPromOptionsFor(t *testing.T) {
	cfg, err := config.Load("../examples/canary.yaml", func(string) (string, bool) { return "", false })
	require.NoError(t, err)
	ck := cfg.CheckByName("checkout")
	require.NotNil(t, ck)

	o, err := PromOptionsFor(cfg, "http://prom:9090", "checkout", 0, -1)
	require.NoError(t, err)
	assert.Equal(t, PromOptions{URL: "http://prom:9090", Check: "checkout", SLOs: ck.SLOs, Window: ck.Window, MinSamples: ck.MinSamples,
		Steps: len(ck.Scenario.StepNames())}, o)

	o, err = PromOptionsFor(cfg, "http://prom:9090", "checkout", 10*time.Minute, 0)
	require.NoError(t, err)
	assert.Equal(t, 10*time.Minute, o.Window)
	assert.Zero(t, o.MinSamples, "0 is a choice, not the default")

	_, err = PromOptionsFor(cfg, "http://prom:9090", "nope", 0, -1)
	require.Error(t, err)
	assert.True(t, errors.Is(err, ErrUsage))
	assert.True(t, strings.HasSuffix(err.Error(), `no check "nope" in ../examples/canary.yaml`), err.Error())

	_, err = PromOptionsFor(cfg, "http://prom:9090", "candidate", 0, -1)
	require.Error(t, err)
	assert.True(t, errors.Is(err, ErrUsage))
	assert.Contains(t, err.Error(), `check "candidate" compares a candidate with a baseline`)
}
