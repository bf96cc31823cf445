package slo

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/canaryproj/canary/stats"
)

// measured builds what a run of n iterations measured: bad of them failed
// with a 503, every step took correctedMs from its due time and serviceMs
// from its send, and the whole iteration the sum of its steps' corrected
// latencies.
func measured(t *testing.T, steps int, n, bad int64, correctedMs, serviceMs float64) *stats.Snapshot {
	names := []string{"login", "cart", "pay"}[:steps]
	s := stats.NewSnapshot(names)
	for i := int64(0); i < n; i++ {
		for k := range s.Steps {
			st := &s.Steps[k]
			require.NoError(t, st.Latency.RecordValue(int64(correctedMs*1000)))
			require.NoError(t, st.Service.RecordValue(int64(serviceMs*1000)))
			if i < bad {
				st.Status[503]++
				st.Errors[stats.ClassHTTPStatus]++
			} else {
				st.Status[200]++
				st.Errors[stats.ClassNone]++
			}
		}
		require.NoError(t, s.Iteration.RecordValue(int64(correctedMs*1000)*int64(steps)))
		if i < bad {
			s.Iterations.Failure++
			s.IterationErrors[stats.ClassHTTPStatus]++
		} else {
			s.Iterations.Success++
		}
	}
	return s
}

func TestSaturationRule(t *testing.T) {
	var (
		healthy = Generator{LagP99: 800 * time.Microsecond, LagSamples: 1200}
		busy    = Generator{LagP99: 57 * time.Millisecond, LagSamples: 1200}
		// Saturated, but its lag is small against a 300 ms threshold.
		busyLittle = Generator{LagP99: 12 * time.Millisecond, LagSamples: 1200}
		behind     = Generator{LagP99: 2 * time.Millisecond, LagSamples: 1200, BehindPct: 2.5, Due: 1200}
	)
	type run struct {
		steps                  int
		bad                    int64 // of 1000 iterations over 10 s
		correctedMs, serviceMs float64
	}
	var (
		clean   = run{1, 0, 250, 180}                                      // every latency objective below passes
		slow    = run{1, 0, 412, 350}                                      // corrected and service over 300 ms
		between = run{1, 0, 412, 180}                                      // corrected over 300 ms, service under
		outage  = run{1, 198, 250, 180}                                    // 19.8 % 503s
		multi   = run{2, 0, 412, 180}                                      // two steps: the iteration has no service counterpart
		mixed   = run{1, 198, 412, 180}                                    // 503s, and latency between
		few     = Generator{LagP99: 57 * time.Millisecond, LagSamples: 12} // a light monitor's hiccup
	)
	for _, tc := range []struct {
		name    string
		slos    []string
		run     run
		gen     Generator
		verdict Verdict
		reasons []string // the reasons, in order
	}{
		// A healthy generator: every objective is judged as measured.
		{"healthy, errors fail", []string{"errors<1%"}, outage, healthy, Fail, []string{"errors 19.8% >= 1% over 5m, n=1000"}},
		{"healthy, errors pass", []string{"errors<1%"}, clean, healthy, Pass, nil},
		{"healthy, latency passes", []string{"p99(login)<300ms"}, clean, healthy, Pass, nil},
		{"healthy, latency fails", []string{"p99(login)<300ms"}, slow, healthy, Fail, []string{"p99 of login 412.16ms >= 300ms over 5m, n=1000"}},
		{"healthy, latency between fails on corrected", []string{"p99(login)<300ms"}, between, healthy, Fail,
			[]string{"p99 of login 412.16ms >= 300ms over 5m, n=1000"}},
		{"healthy, service fails", []string{"p99(login, service)<300ms"}, slow, healthy, Fail, []string{"p99 (service) of login 350.21ms >= 300ms over 5m, n=1000"}},
		{"healthy, rps fails", []string{"rps>=150"}, clean, healthy, Fail, []string{"rps 100 < 150 over 5m, n=1000"}},

		// A saturated generator: only what its delay could change is voided.
		{"busy, errors fail (the issue's 19.8 % 503s)", []string{"errors<1%"}, outage, busy, Fail, []string{
			"errors 19.8% >= 1% over 5m, n=1000",
			"generator saturated: generator lag p99 57ms > 10ms over 1200 lag samples; it could change none of the objectives' answers"}},
		{"busy, success fails", []string{"success>=99.5%"}, outage, busy, Fail, nil},
		{"busy, success passes", []string{"success>=99.5%"}, clean, busy, Pass, []string{
			"generator saturated: generator lag p99 57ms > 10ms over 1200 lag samples; it could change none of the objectives' answers"}},
		{"busy, latency passes on corrected", []string{"p99(login)<300ms"}, clean, busy, Pass, nil},
		{"busy, latency fails on service too", []string{"p99(login)<300ms"}, slow, busy, Fail, []string{
			"p99 of login 412.16ms >= 300ms over 5m, n=1000 (p99(login): corrected 412.16ms >= 300ms and service 350.21ms >= 300ms: the target was slow whatever the generator did)",
			"generator saturated: generator lag p99 57ms > 10ms over 1200 lag samples; it could change none of the objectives' answers"}},
		{"busy, latency between", []string{"p99(login)<300ms"}, between, busy, Inconclusive, []string{
			"generator saturated: generator lag p99 57ms > 10ms over 1200 lag samples; it could account for 1 objective(s) failing",
			"p99(login): corrected 412.16ms >= 300ms but service 180.1ms < 300ms, and generator lag p99 57ms: inconclusive"}},
		{"busy, whole iteration of one step between", []string{"p99(iteration)<300ms"}, between, busy, Inconclusive, []string{
			"generator saturated: generator lag p99 57ms > 10ms over 1200 lag samples; it could account for 1 objective(s) failing",
			"p99(iteration): corrected 412.16ms >= 300ms but service 180.1ms < 300ms, and generator lag p99 57ms: inconclusive"}},
		{"busy, whole iteration of two steps has no counterpart", []string{"p99(iteration)<500ms"}, multi, busy, Inconclusive, []string{
			"generator saturated: generator lag p99 57ms > 10ms over 1200 lag samples; it could account for 1 objective(s) failing",
			"p99(iteration): corrected 824.32ms >= 500ms, no service latency of the whole iteration to compare (the scenario has several steps), and generator lag p99 57ms: inconclusive"}},
		{"busy, every request of two steps has its counterpart", []string{"p99<300ms"}, multi, busy, Inconclusive, []string{
			"generator saturated: generator lag p99 57ms > 10ms over 1200 lag samples; it could account for 1 objective(s) failing",
			"p99: corrected 412.16ms >= 300ms but service 180.1ms < 300ms, and generator lag p99 57ms: inconclusive"}},
		{"busy, step of two steps has its counterpart", []string{"p99(cart)<300ms"}, multi, busy, Inconclusive, nil},
		{"busy, lag small against the threshold", []string{"p99(login)<300ms"}, between, busyLittle, Fail, []string{
			"p99 of login 412.16ms >= 300ms over 5m, n=1000 (p99(login): corrected 412.16ms >= 300ms; generator lag p99 12ms is under 10% of 300ms, too small to account for it)",
			"generator saturated: generator lag p99 12ms > 10ms over 1200 lag samples; it could change none of the objectives' answers"}},
		{"busy, lag small against a 1s threshold", []string{"p99(login)<1s"}, run{1, 0, 1200, 180}, busy, Fail, nil},
		{"busy, lag large against a 400ms threshold", []string{"p99(login)<400ms"}, run{1, 0, 1200, 180}, busy, Inconclusive, nil},
		{"busy, service passes", []string{"p99(login, service)<300ms"}, between, busy, Pass, nil},
		{"busy, service fails", []string{"p99(login, service)<300ms"}, slow, busy, Fail, nil},
		{"busy, mean between", []string{"mean(login)<300ms"}, between, busy, Inconclusive, nil},
		{"busy, lower bound is never voided", []string{"p50(login)>500ms"}, between, busy, Fail, nil},
		{"busy, rps fails", []string{"rps>=150"}, clean, busy, Inconclusive, []string{
			"generator saturated: generator lag p99 57ms > 10ms over 1200 lag samples; it could account for 1 objective(s) failing",
			"rps: 100 < 150 while the generator was saturated, which lowers the achieved rate: inconclusive"}},
		{"busy, rps passes", []string{"rps>=90"}, clean, busy, Pass, nil},
		{"busy, a target failure beats a voided latency", []string{"errors<1%", "p99(login)<300ms"}, mixed, busy, Fail, []string{
			"errors 19.8% >= 1% over 5m, n=1000",
			"p99(login): corrected 412.16ms >= 300ms but service 180.1ms < 300ms, and generator lag p99 57ms: inconclusive",
			"generator saturated: generator lag p99 57ms > 10ms over 1200 lag samples; it could account for 1 objective(s) failing"}},
		// Behind its schedule with little lag: the iterations it did start
		// were on time, so only the achieved rate is its doing.
		{"behind its schedule, latency between", []string{"p99(login)<300ms"}, between, behind, Fail, []string{
			"p99 of login 412.16ms >= 300ms over 5m, n=1000 (p99(login): corrected 412.16ms >= 300ms; generator lag p99 2ms is under 10% of 300ms, too small to account for it)",
			"generator saturated: the generator fell 2.5% behind its schedule (> 1%) over 1200 due iterations; it could change none of the objectives' answers"}},
		{"behind its schedule, rps fails", []string{"rps>=150"}, clean, behind, Inconclusive, nil},
		{"a light monitor's hiccup is not saturation", []string{"p99(login)<300ms"}, between, few, Fail, []string{
			"p99 of login 412.16ms >= 300ms over 5m, n=1000"}},

		// The first reproduction: 20/s against a healthy target,
		// lag p99 37 ms, 300 ms objectives that pass.
		{"20/s healthy target, lag p99 37 ms", []string{"p99<300ms", "p99(login)<300ms", "success>=99.9%"}, run{1, 0, 48, 45},
			Generator{LagP99: 37 * time.Millisecond, LagSamples: 1200}, Pass, []string{
				"generator saturated: generator lag p99 37ms > 10ms over 1200 lag samples; it could change none of the objectives' answers"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var objs []Objective
			for _, e := range tc.slos {
				objs = append(objs, must(t, e))
			}
			snap := measured(t, tc.run.steps, 1000, tc.run.bad, tc.run.correctedMs, tc.run.serviceMs)
			j := Judge(objs, Input{Snapshot: snap, Duration: 10 * time.Second, Window: "5m", MinSamples: 50, Generator: tc.gen})
			require.Equal(t, tc.verdict, j.Verdict, "reasons: %q", j.Reasons)
			if tc.reasons != nil {
				require.Equal(t, tc.reasons, j.Reasons)
			}
			if tc.verdict == Inconclusive {
				var affected int
				for _, r := range j.Results {
					if r.Inconclusive {
						affected++
						require.True(t, strings.HasSuffix(r.Note, ": inconclusive"), r.Note)
					}
				}
				require.Positive(t, affected, "an inconclusive verdict names the objective the generator voided")
			}
		})
	}
}

func TestGeneratorSaturated(t *testing.T) {
	for _, tc := range []struct {
		name string
		g    Generator
		want string // "" = not saturated
	}{
		{"idle", Generator{}, ""},
		{"healthy", Generator{LagP99: 800 * time.Microsecond, LagSamples: 10000}, ""},
		{"at the limit", Generator{LagP99: 10 * time.Millisecond, LagSamples: 10000, BehindPct: 1, Due: 10000}, ""},
		{"lag", Generator{LagP99: 10500 * time.Microsecond, LagSamples: 100}, "generator lag p99 10.5ms > 10ms over 100 lag samples"},
		{"lag over too few samples", Generator{LagP99: 200 * time.Millisecond, LagSamples: 99}, ""},
		{"behind", Generator{LagP99: time.Millisecond, LagSamples: 1000, BehindPct: 1.5, Due: 1000}, "the generator fell 1.5% behind its schedule (> 1%) over 1000 due iterations"},
		{"behind over too few due", Generator{BehindPct: 5, Due: 20}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, why := tc.g.Saturated()
			require.Equal(t, tc.want != "", got)
			require.Equal(t, tc.want, why)
		})
	}
}

func TestGeneratorOf(t *testing.T) {
	s := stats.NewSnapshot([]string{"a"})
	require.Equal(t, Generator{}, GeneratorOf(s))
	for i := range 200 {
		v := int64(1000) // 1 ms
		if i >= 196 {
			v = 50000 // the worst 2 %: 50 ms
		}
		require.NoError(t, s.Lag.RecordValue(v))
	}
	g := GeneratorOf(s)
	require.Equal(t, int64(200), g.LagSamples)
	require.InDelta(t, 50*time.Millisecond, g.LagP99, float64(100*time.Microsecond), "p99 = %v", g.LagP99)
}

func TestServiceCounterpart(t *testing.T) {
	for _, tc := range []struct {
		expr  string
		steps int
		want  string // "" = none
	}{
		{"p99(login)<300ms", 3, "p99(login, service)<300ms"},
		{"p99<300ms", 1, "p99(service)<300ms"},
		{"p99<300ms", 2, "p99(service)<300ms"},
		{"p99(iteration)<300ms", 1, "p99(service)<300ms"},
		{"p99(iteration)<300ms", 2, ""},
		{"mean(login)<10ms", 2, "mean(login, service)<10ms"},
		{"p99(login, service)<300ms", 1, ""},
		{"errors<1%", 1, ""},
		{"rps>=10", 1, ""},
	} {
		got, ok := must(t, tc.expr).ServiceCounterpart(tc.steps)
		require.Equal(t, tc.want != "", ok, "%s with %d steps", tc.expr, tc.steps)
		if ok {
			require.Equal(t, tc.want, got.String(), "%s with %d steps", tc.expr, tc.steps)
		}
	}
}
