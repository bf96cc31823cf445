package run

import (
	"bytes"
	"context"
	"errors"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canaryproj/canary/internal/clock"
	"github.com/canaryproj/canary/loadgen"
	"github.com/canaryproj/canary/profiles"
	"github.com/canaryproj/canary/scenario"
	"github.com/canaryproj/canary/slo"
	"github.com/canaryproj/canary/stats"
)

// failingWriter fails every write after the first n bytes.
type failingWriter struct {
	mu sync.Mutex
	n  int
}

func (w *failingWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(p) > w.n {
		return 0, errors.New("disk full")
	}
	w.n -= len(p)
	return len(p), nil
}

// A run whose HDR log cannot be written is still complete and judged, and
// says what went wrong.
func TestHdrLogWriteErrorIsReturned(t *testing.T) {
	c := &counter{seen: map[int]int{}}
	srv := httptest.NewServer(c)
	defer srv.Close()
	var header bytes.Buffer
	_, err := stats.NewHdrLog(&header, time.Now())
	require.NoError(t, err)
	w := &failingWriter{n: header.Len()} // the header fits, the intervals do not
	out, err := Run(context.Background(), Options{Scenario: load(t, srv.URL), Profile: flags(t, profiles.Flags{Iterations: 20, VUs: 2}), HdrLog: w})
	require.Error(t, err)
	assert.EqualError(t, err, `hdr log: step "get": disk full`)
	require.NotNil(t, out, "the outcome of the run that did happen")
	assert.Equal(t, int64(20), out.Report.Iterations.Total)
	assert.Equal(t, slo.Pass, out.Judgement.Verdict)
}

// Engine is the one place a profile becomes an engine.
func TestEngineModels(t *testing.T) {
	sc := load(t, "http://127.0.0.1:1")
	job := &loadgen.ScenarioJob{Runner: scenario.NewRunner(sc, nil), Stats: stats.NewCollector(sc.StepNames(), time.Now(), stats.Options{})}
	for _, tc := range []struct {
		name  string
		flags profiles.Flags
	}{
		{"open", profiles.Flags{Rate: "5/s", Duration: time.Second}},
		{"closed", profiles.Flags{VUs: 3, Duration: time.Second}},
		{"iterations", profiles.Flags{Iterations: 4, VUs: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := Engine(flags(t, tc.flags), job, 0, clock.Real())
			require.NoError(t, err)
			assert.NotNil(t, e)
			assert.Zero(t, e.Started(), "built, not started")
		})
	}
}

func TestClientSizedToTheProfile(t *testing.T) {
	sc := load(t, "http://127.0.0.1:1")
	c, err := Client(sc, flags(t, profiles.Flags{VUs: 3, Duration: time.Second}), func(h string) error { return errors.New("no " + h) })
	require.NoError(t, err)
	defer c.Close()
	res := scenario.NewRunner(sc, c).Run(context.Background(), scenario.Iteration{}, nil)
	require.Error(t, res.Err)
	assert.Contains(t, res.Err.Error(), "no 127.0.0.1", "the allow-list is the client's")
}

// Flush flushes once a second on its clock, and once more when it stops.
func TestFlushOnAClock(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	clk := clock.NewFake(start)
	col := stats.NewCollector([]string{"s"}, start, stats.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	flushed := make(chan time.Time, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		Flush(ctx, clk, col, func(now time.Time) { flushed <- now })
	}()
	for i := 1; i <= 3; i++ {
		col.Shard(0).RecordIteration(stats.Success, stats.ClassNone, time.Millisecond)
		require.NoError(t, clk.BlockUntil(ctx, 1))
		clk.Advance(time.Second)
		assert.Equal(t, start.Add(time.Duration(i)*time.Second), <-flushed)
		assert.Equal(t, int64(i), col.Totals().Iterations.Success, "flushed by tick %d", i)
	}
	col.Shard(1).RecordIteration(stats.Failure, stats.ClassTimeout, time.Millisecond)
	cancel()
	<-done
	assert.Equal(t, int64(1), col.Totals().Iterations.Failure, "the last flush on the way out")
}

func TestJudgeAppliesTheSaturationRule(t *testing.T) {
	snap := func(lagMs int64, n int) *stats.Snapshot {
		s := stats.NewSnapshot([]string{"s"})
		s.Iterations.Success = 100
		for range n {
			require.NoError(t, s.Lag.RecordValue(lagMs*1000))
		}
		return s
	}
	// A success objective is judged on what the target answered: a
	// saturated generator is reported, and never voids it.
	objs := []slo.Objective{{Name: "a", Kind: slo.KindSuccess, Op: slo.GE, Target: 0.99}}
	for _, tc := range []struct {
		name      string
		snap      *stats.Snapshot
		behind    float64
		due       int64
		saturated bool
	}{
		{"no lag recorded", snap(0, 0), 0, 0, false},
		{"small lag", snap(2, 150), 0, 150, false},
		{"large lag over too few samples to tell", snap(40, 50), 0, 50, false},
		{"large lag", snap(40, 150), 0, 150, true},
		{"behind its schedule", snap(2, 150), 5, 1000, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := Judge(objs, slo.Input{Snapshot: tc.snap, Duration: time.Minute, Window: "1m"}, tc.behind, tc.due)
			assert.Equal(t, slo.Pass, j.Verdict, "%v", j.Reasons)
			assert.Equal(t, tc.saturated, j.Saturated)
			if tc.snap.Lag.TotalCount() > 0 {
				assert.InDelta(t, float64(tc.snap.Lag.ValueAtQuantile(99))/1000, j.LagP99Ms, 1e-9)
			}
		})
	}
}
