package slo

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canaryproj/canary/stats"
)

// shop is a two-step scenario's steps: login (POST, region=eu) and cart
// (GET, region=us).
var shop = []StepInfo{
	{Name: "login", Method: "POST", Tags: map[string]string{"region": "eu"}},
	{Name: "cart", Method: "GET", Tags: map[string]string{"region": "us"}},
}

// shopSnapshot: 100 iterations. login answers 200 in 10 ms, except 5 that
// answered 503; cart answers 200 in 100 ms, except 2 whose JSON was wrong
// (an assertion failure on a 200), and was not sent after a failed login.
// An iteration takes its steps' time.
func shopSnapshot() *stats.Snapshot {
	s := stats.NewSnapshot([]string{"login", "cart"})
	login, cart := &s.Steps[0], &s.Steps[1]
	for i := range 100 {
		if i < 5 {
			login.Latency.RecordValue(10_000)
			login.Service.RecordValue(9_000)
			login.Status[503]++
			login.Errors[stats.ClassHTTPStatus]++
			s.Iterations.Failure++
			s.Iteration.RecordValue(10_000)
			continue
		}
		login.Latency.RecordValue(10_000)
		login.Service.RecordValue(9_000)
		login.Status[200]++
		login.Errors[stats.ClassNone]++
		cart.Latency.RecordValue(100_000)
		cart.Service.RecordValue(90_000)
		cart.Status[200]++
		if i < 7 {
			cart.Errors[stats.ClassAssertion]++
			s.Iterations.Failure++
		} else {
			cart.Errors[stats.ClassNone]++
			s.Iterations.Success++
		}
		s.Iteration.RecordValue(110_000)
	}
	return s
}

func TestEvaluateRequests(t *testing.T) {
	snap := shopSnapshot()
	in := Input{Snapshot: snap, Duration: 10 * time.Second}
	for _, tc := range []struct {
		name     string
		expr     string
		observed float64
		samples  int64
	}{
		{"errors count iterations", "errors<1%", 0.07, 100},
		{"errors of a step count its requests", "errors(login)<1%", 0.05, 100},
		{"an assertion failure is a failed request", "errors(cart)<1%", 2.0 / 95, 95},
		{"errors by status count that status", "errors(status=5xx)<1%", 5.0 / 195, 195},
		{"a status with a step", "errors(cart, status=5xx)<1%", 0, 95},
		{"success by tag", "success(region=us)>=99%", 93.0 / 95, 95},
		{"errors by method", "errors(method=POST)<1%", 0.05, 100},
		{"every request's p50 is login's or cart's", "p50<50ms", 0.01, 195},
		{"every request's p99 is cart's", "p99<50ms", 0.1, 195},
		{"a step's p99", "p99(login)<50ms", 0.01, 100},
		{"a tag's p99", "p99(region=us)<50ms", 0.1, 95},
		{"service latency of every request", "p50(service)<50ms", 0.009, 195},
		{"the iteration's p99", "p99(iteration)<50ms", 0.11, 100},
		{"iterations per second", "rps>=1", 10, 100},
		{"requests per second of a step", "rps(cart)>=1", 9.5, 95},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := must(t, tc.expr)
			require.NoError(t, o.Bind(shop))
			r := Evaluate(o, in)
			require.True(t, r.Evaluated, "Evaluate(%q)", tc.expr)
			assert.InDelta(t, tc.observed, r.Observed, tc.observed/500+1e-9, "Evaluate(%q).Observed", tc.expr)
			assert.Equal(t, tc.samples, r.Samples, "Evaluate(%q).Samples", tc.expr)
		})
	}
}

func TestEvaluateUnboundFilterHasNoData(t *testing.T) {
	// Which steps region=eu selects only the scenario knows: an objective
	// that was not bound to it has nothing to judge, rather than a wrong
	// answer over every step.
	r := Evaluate(must(t, "p99(region=eu)<1s"), Input{Snapshot: shopSnapshot()})
	assert.False(t, r.Evaluated)
	// A status filter needs no scenario.
	r = Evaluate(must(t, "errors(status=5xx)<1%"), Input{Snapshot: shopSnapshot()})
	assert.True(t, r.Evaluated)
}

func TestBadRatioOfRequests(t *testing.T) {
	o := must(t, "errors(login)<1%")
	require.NoError(t, o.Bind(shop))
	ratio, n, ok := BadRatio(o, shopSnapshot())
	require.True(t, ok)
	assert.Equal(t, int64(100), n)
	assert.InDelta(t, 0.05, ratio, 1e-12)
	b, ok := BurnRate(o, shopSnapshot())
	require.True(t, ok)
	assert.InDelta(t, 5, b, 1e-9, "5% bad against a 1% budget")
}
