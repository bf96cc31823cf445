package slo

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLost(t *testing.T) {
	// shopSnapshot: 100 iterations so far, 7 failed (5 login 503s, 2 cart
	// assertion failures); login 10 ms, cart 100 ms.
	for _, tc := range []struct {
		name    string
		expr    string
		planned int64
		lost    bool
		why     string
	}{
		{name: "7 of 600 planned iterations is over 1%", expr: "errors<1%", planned: 600, lost: true,
			why: "errors: 7 iterations failed of at most 600 planned: even if no other fails, it ends at 1.1667%, >= 1%"},
		{name: "7 of 1000 planned iterations may still pass", expr: "errors<1%", planned: 1000},
		{name: "success alike", expr: "success>=99%", planned: 600, lost: true,
			why: "success: 7 iterations failed of at most 600 planned: even if no other fails, it ends at 98.8333%, < 99%"},
		{name: "without a plan nothing is lost", expr: "errors<1%", planned: 0},
		{name: "errors of a step count its planned requests", expr: "errors(login)<1%", planned: 400, lost: true,
			why: "errors of login: 5 requests failed of at most 400 planned: even if no other fails, it ends at 1.25%, >= 1%"},
		{name: "every request: planned iterations times the steps", expr: "errors(status=5xx)<1%", planned: 300},
		{name: "a status class", expr: "errors(status=5xx)<1%", planned: 200, lost: true,
			why: "errors of status=5xx: 5 requests answered 5xx of at most 400 planned: even if no other fails, it ends at 1.25%, >= 1%"},
		{name: "a percentile's budget", expr: "p90<50ms", planned: 200, lost: true,
			why: "p90 of every request: 95 requests slower than 50ms of at most 400 planned, more than the 10% (40) it allows"},
		{name: "a percentile's budget not spent", expr: "p90<50ms", planned: 1000},
		{name: "a maximum only grows", expr: "max(cart)<50ms", planned: 1000, lost: true,
			why: "max of cart 100.03ms >= 50ms: a maximum only grows"},
		{name: "a mean is never lost", expr: "mean<1ms", planned: 1000},
		{name: "a floor is never lost", expr: "errors>50%", planned: 1000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := must(t, tc.expr)
			require.NoError(t, o.Bind(shop))
			lost, why := Lost(o, shopSnapshot(), tc.planned)
			assert.Equal(t, tc.lost, lost, "Lost(%q, planned %d)", tc.expr, tc.planned)
			assert.Equal(t, tc.why, why, "Lost(%q, planned %d)", tc.expr, tc.planned)
		})
	}
}

func TestCheckAbort(t *testing.T) {
	snap := shopSnapshot() // 7% of iterations failed
	in := Input{Snapshot: snap, Duration: 10 * time.Second}
	type step struct {
		at    time.Duration
		abort bool
		why   string
	}
	for _, tc := range []struct {
		name    string
		expr    string
		planned int64
		in      Input
		steps   []step
	}{
		{name: "lost at once", expr: "errors<1% abort_on_fail", planned: 600, in: in,
			steps: []step{{at: time.Second, abort: true, why: "errors: 7 iterations failed of at most 600 planned: even if no other fails, it ends at 1.1667%, >= 1%"}}},
		{name: "not before its delay", expr: "errors<1% abort_on_fail(delay=5s)", planned: 600, in: in,
			steps: []step{{at: 4 * time.Second}, {at: 5 * time.Second, abort: true, why: "errors: 7 iterations failed of at most 600 planned: even if no other fails, it ends at 1.1667%, >= 1%"}}},
		{name: "not before its samples", expr: "errors<1% abort_on_fail(min_samples=101)", planned: 600, in: in,
			steps: []step{{at: time.Second}}},
		{name: "failing but not lost: a plan waits for the loss", expr: "errors<1% abort_on_fail", planned: 100000, in: in,
			steps: []step{{at: time.Second}, {at: time.Minute}}},
		{name: "failing for a span", expr: "errors<1% abort_on_fail(for=10s)", planned: 100000, in: in,
			steps: []step{{at: time.Second}, {at: 10 * time.Second}, {at: 11 * time.Second, abort: true, why: "errors 7% >= 1%, n=100, failing for 10s"}}},
		{name: "without a plan, failing is enough", expr: "errors<1% abort_on_fail", in: in,
			steps: []step{{at: time.Second, abort: true, why: "errors 7% >= 1%, n=100"}}},
		{name: "passing never aborts", expr: "errors<10% abort_on_fail", in: in,
			steps: []step{{at: time.Second}, {at: time.Hour}}},
		{name: "latency does not abort while the generator saturated", expr: "max<50ms abort_on_fail", planned: 1000,
			in: Input{Snapshot: snap, Duration: 10 * time.Second, Generator: Generator{LagP99: 50 * time.Millisecond, LagSamples: 1000}}, steps: []step{{at: time.Second}}},
		{name: "no abort clause", expr: "errors<1%", planned: 600, in: in, steps: []step{{at: time.Second}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := must(t, tc.expr)
			require.NoError(t, o.Bind(shop))
			var st AbortState
			for _, s := range tc.steps {
				abort, why := CheckAbort(o, &st, tc.in, tc.planned, s.at)
				assert.Equal(t, s.abort, abort, "CheckAbort(%q) at %v", tc.expr, s.at)
				assert.Equal(t, s.why, why, "CheckAbort(%q) at %v", tc.expr, s.at)
			}
		})
	}
}
