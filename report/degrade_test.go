package report

import (
	"context"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/canaryproj/canary/internal/clock"
	"github.com/canaryproj/canary/slo"
	"github.com/canaryproj/canary/stats"
)

// The degrading run: a checkout scenario (login, then cart) at 10
// iterations/s for 2 minutes against a target that is healthy for the
// first minute, answers twice as slowly after it, and from 1m30s on also
// fails 5 % of iterations: 2 % of logins answer a body without the token
// they expect, 3 % of cart requests a 503.
const (
	degradeRate     = 10
	degradeDuration = 2 * time.Minute
	slowFrom        = time.Minute
	failFrom        = 90 * time.Second
)

var degradeSLOs = []string{"p99(iteration)<120ms", "p99(login)<60ms", "p99(cart, service)<80ms", "errors<1%", "rps>=9.5"}

// degradingTarget is the target: it draws each answer's delay and outcome
// from a seeded source and holds the response on the fake clock for that
// long. It tells the driver the delay it chose, because the driver is the
// one who moves the fake clock.
type degradingTarget struct {
	clk    *clock.Fake
	start  time.Time
	rng    *rand.Rand
	delays chan time.Duration
}

func (d *degradingTarget) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	el := d.clk.Now().Sub(d.start)
	base := 10 * time.Millisecond
	if el >= slowFrom {
		base *= 2
	}
	// Mostly near base, with a long tail: a tenth of answers take up to
	// 4 times as long.
	f := 0.7 + 0.3*d.rng.ExpFloat64()
	if d.rng.IntN(10) == 0 {
		f += 3 * d.rng.Float64()
	}
	delay := time.Duration(float64(base) * f).Round(10 * time.Microsecond)
	status, body := http.StatusOK, `{"token":"t"}`
	if el >= failFrom {
		switch {
		case r.URL.Path == "/cart" && d.rng.IntN(100) < 3:
			status, body = http.StatusServiceUnavailable, "busy"
		case r.URL.Path == "/login" && d.rng.IntN(100) < 2:
			body = "{}"
		}
	}
	d.delays <- delay
	if clock.Sleep(r.Context(), d.clk, delay) != nil {
		return
	}
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

// degradingRun runs the degrading scenario on a fake clock through real
// HTTP to an httptest target and returns its report, judged on
// degradeSLOs. One worker runs the open schedule: an iteration due while
// the previous one is still running starts late, and its corrected
// latency counts the wait, as canary's does. Everything is seeded, so the
// report is the same on every run.
func degradingRun(t testing.TB) *stats.Report {
	t.Helper()
	start := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	clk := clock.NewFake(start)
	target := &degradingTarget{clk: clk, start: start, rng: rand.New(rand.NewPCG(18, 4)), delays: make(chan time.Duration)}
	srv := httptest.NewServer(target)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	steps := []string{"login", "cart"}
	col := stats.NewCollector(steps, start, stats.Options{})
	sh := col.Shard(0)
	flushed := start
	flushTo := func(now time.Time) { // a flush at every whole second passed
		for !flushed.Add(time.Second).After(now) {
			flushed = flushed.Add(time.Second)
			col.Flush(flushed)
		}
	}
	// send does one request, moving the fake clock by the delay the
	// target chose; it returns the status and whether the body had the
	// token.
	send := func(path string) (int, bool) {
		type result struct {
			status int
			ok     bool
			err    error
		}
		done := make(chan result, 1)
		go func() {
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+path, nil)
			if err != nil {
				done <- result{err: err}
				return
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				done <- result{err: err}
				return
			}
			defer resp.Body.Close()
			var buf [64]byte
			n, _ := resp.Body.Read(buf[:])
			done <- result{status: resp.StatusCode, ok: string(buf[:n]) == `{"token":"t"}`}
		}()
		var delay time.Duration
		select {
		case delay = <-target.delays:
		case r := <-done:
			require.NoError(t, r.err, "no answer from the target")
			t.Fatalf("%s answered without waiting", path)
		}
		require.NoError(t, clk.BlockUntil(ctx, 1), "the target waits on the clock")
		clk.Advance(delay)
		r := <-done
		require.NoError(t, r.err)
		return r.status, r.ok
	}

	interval := time.Second / degradeRate
	for k := 0; ; k++ {
		due := start.Add(time.Duration(k) * interval)
		if due.Sub(start) >= degradeDuration {
			break
		}
		if clk.Now().Before(due) {
			flushTo(due)
			clk.Set(due)
		}
		outcome, class := stats.Success, stats.ClassNone
		stepDue := due // the first step is due with the iteration, the next when it starts
		for i, path := range []string{"/login", "/cart"} {
			sent := clk.Now()
			status, ok := send(path)
			done := clk.Now()
			flushTo(done)
			c, a := stats.ClassNone, stats.AssertNone
			switch {
			case status != http.StatusOK:
				c, a = stats.ClassHTTPStatus, stats.AssertStatus
			case !ok:
				c, a = stats.ClassAssertion, stats.AssertBodyContains
			}
			sh.RecordStep(i, status, c, a, done.Sub(stepDue), done.Sub(sent))
			stepDue = done
			if c != stats.ClassNone {
				outcome, class = stats.Failure, c
				break
			}
		}
		sh.RecordIteration(outcome, class, clk.Now().Sub(due))
	}
	end := start.Add(degradeDuration)
	if clk.Now().Before(end) {
		clk.Set(end)
	}
	flushTo(clk.Now())

	snap := col.Totals()
	rep, err := stats.NewReport(snap, col.Series(), stats.ReportMeta{
		Scenario: "checkout", Profile: map[string]any{"model": "open", "shape": "constant", "rate": degradeRate, "duration": degradeDuration.String()},
		TargetRate: degradeRate, RateSpan: degradeDuration, CPUs: 2,
	})
	require.NoError(t, err)
	rep.Verdict = "pass"
	for _, expr := range degradeSLOs {
		o, err := slo.ParseExpr(expr)
		require.NoError(t, err)
		res := slo.Evaluate(o, slo.Input{Snapshot: snap, Duration: degradeDuration})
		require.True(t, res.Evaluated, expr)
		observed := res.Observed // in the report's units: ms and %
		switch o.Kind {
		case slo.KindLatency:
			observed *= 1000
		case slo.KindErrors, slo.KindSuccess:
			observed *= 100
		}
		rep.SLOs = append(rep.SLOs, stats.SLOResult{Expr: expr, Observed: math.Round(observed*1000) / 1000, Pass: res.Pass})
		if !res.Pass {
			rep.Verdict = "fail"
			rep.Reasons = append(rep.Reasons, expr+" failed: observed "+res.ObservedText())
		}
	}
	return rep
}
