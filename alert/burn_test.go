package alert_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/canaryproj/canary/alert"
	"github.com/canaryproj/canary/slo"
	"github.com/canaryproj/canary/stats"
)

// TestMeasure reads burn rates and spans from a real collector's windows:
// a check that ran for a minute at 10 iterations a second, failing one a
// second (80 ms) for the first half and none (40 ms) for the second.
func TestMeasure(t *testing.T) {
	col := stats.NewCollector(nil, t0, stats.Options{Shards: 1, WindowRetention: 10 * time.Minute})
	sh := col.Shard(0)
	for s := 0; s < 60; s++ {
		for i := 0; i < 10; i++ {
			if s < 30 && i == 0 {
				sh.RecordIteration(stats.Failure, stats.ClassHTTPStatus, 80*time.Millisecond)
			} else {
				sh.RecordIteration(stats.Success, stats.ClassNone, 40*time.Millisecond)
			}
		}
		col.Flush(t0.Add(time.Duration(s+1) * time.Second))
	}
	now := t0.Add(time.Minute)
	snaps := map[time.Duration]*stats.Snapshot{
		5 * time.Minute:  col.Window(now, 5*time.Minute),
		30 * time.Second: col.Window(now, 30*time.Second),
	}
	empty := stats.NewCollector(nil, t0, stats.Options{Shards: 1, WindowRetention: time.Minute})
	empty.Flush(now)

	tests := []struct {
		name  string
		o     slo.Objective
		snaps map[time.Duration]*stats.Snapshot
		want  map[time.Duration]alert.Burn
	}{
		{name: "success 99%: 5% bad over the minute, none in the last 30 s", snaps: snaps,
			o: slo.Objective{Kind: slo.KindSuccess, Op: slo.GE, Target: 0.99},
			want: map[time.Duration]alert.Burn{
				5 * time.Minute:  {Rate: 5, Span: time.Minute}, // younger than the window: it spans what ran
				30 * time.Second: {Rate: 0, Span: 30 * time.Second},
			}},
		{name: "errors below 2%", snaps: snaps,
			o: slo.Objective{Kind: slo.KindErrors, Op: slo.LT, Target: 0.02},
			want: map[time.Duration]alert.Burn{
				5 * time.Minute:  {Rate: 2.5, Span: time.Minute},
				30 * time.Second: {Rate: 0, Span: 30 * time.Second},
			}},
		{name: "p99 of the iteration below 50ms: the slow ones are bad", snaps: snaps,
			o: slo.Objective{Kind: slo.KindLatency, Op: slo.LT, Target: 0.05, Stat: slo.Percentile, Percentile: 99, Iteration: true},
			want: map[time.Duration]alert.Burn{
				5 * time.Minute:  {Rate: 5, Span: time.Minute},
				30 * time.Second: {Rate: 0, Span: 30 * time.Second},
			}},
		{name: "no error budget (rps): nothing", snaps: snaps,
			o:    slo.Objective{Kind: slo.KindRPS, Op: slo.GE, Target: 5},
			want: map[time.Duration]alert.Burn{}},
		{name: "a window without events is absent",
			snaps: map[time.Duration]*stats.Snapshot{time.Minute: empty.Window(now, time.Minute)},
			o:     slo.Objective{Kind: slo.KindSuccess, Op: slo.GE, Target: 0.99},
			want:  map[time.Duration]alert.Burn{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := alert.Measure(tt.o, tt.snaps)
			assert.Len(t, got, len(tt.want))
			for w, want := range tt.want {
				assert.InDelta(t, want.Rate, got[w].Rate, 1e-9, "Measure(%v) over %v: rate", tt.o, w)
				assert.Equal(t, want.Span, got[w].Span, "Measure(%v) over %v: span", tt.o, w)
			}
		})
	}
}
