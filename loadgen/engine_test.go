package loadgen

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/canaryproj/canary/internal/clock"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// constPlan is a constant open rate (or VU count) for a duration; segment i
// of n takes every n-th iteration.
type constPlan struct {
	rate float64
	vus  int
	dur  time.Duration
	i, n uint64
}

func (p constPlan) step() uint64 {
	if p.n == 0 {
		return 1
	}
	return p.n
}

func (p constPlan) Due(k uint64) (time.Duration, bool) {
	g := k*p.step() + p.i
	d := time.Duration(float64(g) / p.rate * float64(time.Second))
	if p.dur > 0 && d >= p.dur {
		return 0, false
	}
	return d, true
}
func (p constPlan) Number(k uint64) uint64          { return k*p.step() + p.i }
func (p constPlan) VUs(time.Duration) int           { return p.vus }
func (p constPlan) Duration() time.Duration         { return p.dur }
func (p rampPlan) Due(uint64) (time.Duration, bool) { return 0, false }
func (p rampPlan) Number(k uint64) uint64           { return k }
func (p rampPlan) Duration() time.Duration          { return p.dur }

// rampPlan ramps VUs linearly from 0 to max over dur.
type rampPlan struct {
	max int
	dur time.Duration
}

func (p rampPlan) VUs(t time.Duration) int {
	if t >= p.dur {
		return p.max
	}
	return int(float64(p.max) * float64(t) / float64(p.dur))
}

// recorder is a Monitor and records every iteration a job saw.
type recorder struct {
	mu      sync.Mutex
	its     []Iteration
	lags    []time.Duration
	dropped atomic.Uint64
}

func (r *recorder) Lag(_ int, d time.Duration) {
	r.mu.Lock()
	r.lags = append(r.lags, d)
	r.mu.Unlock()
}
func (r *recorder) Dropped(_ int, n uint64) { r.dropped.Add(n) }
func (r *recorder) add(it Iteration) {
	r.mu.Lock()
	r.its = append(r.its, it)
	r.mu.Unlock()
}

// Every iteration of the schedule runs once, with its due time from the
// schedule, never before it; its lag is what the monitor is told. How late
// the timers wake depends on the machine (their precision is
// precise_linux_test's; the lag's effect on verdicts, the saturation
// rule's), so none of this depends on an idle one.
func TestOpenModelRunsEveryIterationAtItsDueTime(t *testing.T) {
	rec := &recorder{}
	plan := constPlan{rate: 200, dur: time.Second}
	res, err := Run(context.Background(), Options{
		Model: Open, Plan: plan, MaxInflight: 50, MaxLag: time.Minute, Monitor: rec,
		Job: JobFunc(func(ctx context.Context, it Iteration) {
			rec.add(it)
			time.Sleep(2 * time.Millisecond)
		}),
	})
	require.NoError(t, err)
	assert.Equal(t, uint64(200), res.Started, "200/s for 1 s")
	assert.Equal(t, uint64(0), res.Dropped)
	assert.Equal(t, uint64(200), res.Due)
	assert.False(t, res.Aborted)
	assert.Zero(t, res.BehindPct)

	seen := map[uint64]bool{}
	lateness := map[time.Duration]int{}
	for _, it := range rec.its {
		assert.False(t, seen[it.Number], "iteration %d ran twice", it.Number)
		seen[it.Number] = true
		want := res.Start.Add(time.Duration(it.Number) * 5 * time.Millisecond)
		assert.Equal(t, want, it.Due, "iteration %d due time", it.Number)
		assert.False(t, it.Start.Before(it.Due), "iteration %d started before it was due", it.Number)
		lateness[it.Start.Sub(it.Due)]++
	}
	assert.Len(t, seen, 200)
	// Each lag told is an iteration's start less its due time (an
	// iteration that found every slot busy tells none).
	require.NotEmpty(t, rec.lags)
	assert.LessOrEqual(t, len(rec.lags), 200)
	for _, l := range rec.lags {
		assert.Positive(t, lateness[l], "lag %v is no iteration's lateness", l)
		lateness[l]--
	}
}

// A target that stalls with every slot busy: later iterations wait for a
// slot and keep their due time, so the wait shows up in their latency.
func TestOpenModelCountsSlotWaitFromDueTime(t *testing.T) {
	rec := &recorder{}
	var stall atomic.Bool
	stall.Store(true)
	res, err := Run(context.Background(), Options{
		Model: Open, Plan: constPlan{rate: 100, dur: 600 * time.Millisecond}, MaxInflight: 2, MaxLag: 10 * time.Second,
		Monitor: rec,
		Job: JobFunc(func(ctx context.Context, it Iteration) {
			rec.add(it)
			if it.Number < 2 { // the first two hold both slots for 300 ms
				time.Sleep(300 * time.Millisecond)
			}
		}),
	})
	require.NoError(t, err)
	assert.Equal(t, uint64(60), res.Started)
	assert.Equal(t, int64(2), res.PeakInflight)
	var waited int
	for _, it := range rec.its {
		if it.Number >= 2 && it.Number < 30 {
			// Due during the stall, started only when a slot freed at ~300 ms.
			assert.GreaterOrEqual(t, it.Start.Sub(res.Start), 290*time.Millisecond, "iteration %d", it.Number)
			assert.Equal(t, res.Start.Add(time.Duration(it.Number)*10*time.Millisecond), it.Due, "iteration %d keeps its due time", it.Number)
			waited++
		}
	}
	assert.Equal(t, 28, waited)
}

// A burst of iterations held up by the target starts a worker for each;
// once it passes, the spare workers leave.
func TestOpenModelShedsSpareWorkers(t *testing.T) {
	var (
		e        *Engine
		gate     = make(chan struct{})
		open     sync.Once
		peak     atomic.Int64
		lateMost atomic.Int64
	)
	most := func(a *atomic.Int64, v int64) {
		for cur := a.Load(); v > cur && !a.CompareAndSwap(cur, v); cur = a.Load() {
		}
	}
	e, err := New(Options{
		Model: Open, Plan: constPlan{rate: 1000, dur: 1500 * time.Millisecond}, MaxInflight: 500, MaxLag: 5 * time.Second,
		Job: JobFunc(func(ctx context.Context, it Iteration) {
			switch {
			case it.Number < 100: // the target holds the first 100 ms of iterations
				select {
				case <-gate:
				case <-ctx.Done():
				}
			case it.Number == 100:
				open.Do(func() { close(gate) })
			}
			n := e.workers.Load()
			most(&peak, n)
			if it.Number >= 1000 { // 0.9 s after the burst
				most(&lateMost, n)
			}
		}),
	})
	require.NoError(t, err)
	res := e.Run(context.Background())
	assert.Equal(t, uint64(1500), res.Started)
	assert.GreaterOrEqual(t, peak.Load(), int64(100), "a worker for each held iteration")
	assert.Less(t, lateMost.Load(), int64(maxSpareWorkers+10), "workers left after the burst")
	assert.Zero(t, e.workers.Load())
}

// fakeRun runs o on a fake clock, moving the clock by step whenever the
// engine (or its job) waits on it, until the run ends. With one worker
// (MaxInflight 1) one goroutine at a time waits, so the run is the same
// every time.
func fakeRun(t *testing.T, o Options, fake *clock.Fake, step time.Duration) Result {
	t.Helper()
	type outcome struct {
		res Result
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := Run(context.Background(), o)
		done <- outcome{res, err}
	}()
	deadline := time.After(time.Minute)
	for {
		ctx, cancel := context.WithCancel(context.Background())
		waiting := make(chan error, 1)
		go func() { waiting <- fake.BlockUntil(ctx, 1) }()
		select {
		case out := <-done:
			cancel()
			<-waiting
			require.NoError(t, out.err)
			return out.res
		case err := <-waiting:
			cancel()
			if err == nil {
				fake.Advance(step)
			}
		case <-deadline:
			cancel()
			t.Fatal("the run did not end on the fake clock")
		}
	}
}

func TestOpenModelDropsIterationsLaterThanMaxLag(t *testing.T) {
	fake := clock.NewFake(time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC))
	rec := &recorder{}
	res := fakeRun(t, Options{
		Model: Open, Plan: constPlan{rate: 100, dur: time.Second}, MaxInflight: 1, MaxLag: 50 * time.Millisecond,
		Monitor: rec, Clock: fake,
		Job: JobFunc(func(ctx context.Context, it Iteration) {
			rec.add(it)
			if it.Number == 0 {
				_ = clock.Sleep(ctx, fake, 500*time.Millisecond) // blocks the only slot
			}
		}),
	}, fake, 10*time.Millisecond)
	// Iterations 1..45 were due during the stall (10..450 ms) and more than
	// 50 ms late when the slot freed at 500 ms; the 5 due in its last 50 ms
	// ran late instead.
	assert.Equal(t, res.Dropped, rec.dropped.Load(), "the monitor saw every drop")
	assert.Equal(t, uint64(45), res.Dropped, "dropped")
	assert.Equal(t, uint64(100), res.Started+res.Dropped, "every iteration either ran or was dropped, once")
	seen := map[uint64]bool{}
	for _, it := range rec.its {
		assert.False(t, seen[it.Number], "iteration %d ran twice", it.Number)
		seen[it.Number] = true
		assert.LessOrEqual(t, it.Start.Sub(it.Due), 50*time.Millisecond, "iteration %d ran although too late", it.Number)
	}
}

func TestOpenModelZeroMaxLagNeverWaits(t *testing.T) {
	fake := clock.NewFake(time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC))
	res := fakeRun(t, Options{
		Model: Open, Plan: constPlan{rate: 100, dur: 500 * time.Millisecond}, MaxInflight: 1, MaxLag: 0, Clock: fake,
		Job: JobFunc(func(ctx context.Context, it Iteration) {
			if it.Number == 0 {
				_ = clock.Sleep(ctx, fake, 200*time.Millisecond)
			}
		}),
	}, fake, 10*time.Millisecond)
	assert.Equal(t, uint64(20), res.Dropped, "iterations due while the only slot was busy (10..200 ms) are dropped at once")
	assert.Equal(t, uint64(50), res.Started+res.Dropped)
}

func TestSegmentsTakeDisjointIterations(t *testing.T) {
	var mu sync.Mutex
	all := map[uint64]int{}
	var wg sync.WaitGroup
	for i := uint64(0); i < 3; i++ {
		wg.Add(1)
		go func(i uint64) {
			defer wg.Done()
			_, err := Run(context.Background(), Options{
				Model: Open, Plan: constPlan{rate: 300, dur: 500 * time.Millisecond, i: i, n: 3}, MaxLag: time.Second,
				Job: JobFunc(func(ctx context.Context, it Iteration) {
					mu.Lock()
					all[it.Number]++
					mu.Unlock()
				}),
			})
			assert.NoError(t, err)
		}(i)
	}
	wg.Wait()
	assert.Len(t, all, 150, "the three segments together run the whole schedule")
	for n, c := range all {
		assert.Equal(t, 1, c, "iteration %d", n)
		assert.Less(t, n, uint64(150))
	}
}

// The closed model follows the plan's VU count, read every 50 ms: on a
// fake clock, with iterations of 5 ms, the ramp to 8 VUs over 400 ms runs
// j VUs from 50·j ms for 50 ms, 10 iterations apiece: 280 in all. (On the
// wall clock a busy machine ran 84 of them, where 130 to 370 were wanted.)
func TestClosedModelFollowsVUs(t *testing.T) {
	fake := clock.NewFake(time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC))
	plan := rampPlan{max: 8, dur: 400 * time.Millisecond}
	var cur, peak atomic.Int64
	var count atomic.Uint64
	done := make(chan Result, 1)
	go func() {
		res, err := Run(context.Background(), Options{
			Model: Closed, Plan: plan, MaxInflight: 100, Clock: fake,
			Job: JobFunc(func(ctx context.Context, it Iteration) {
				n := cur.Add(1)
				for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
				}
				count.Add(1)
				_ = clock.Sleep(ctx, fake, 5*time.Millisecond)
				cur.Add(-1)
			}),
		})
		assert.NoError(t, err)
		done <- res
	}()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start := fake.Now()
	for el := time.Duration(0); el < plan.dur; el = fake.Now().Sub(start) {
		// The controller's ticker, the plan's end and one sleep per VU of
		// the count read at the last tick: everything waits on the clock.
		waiters := 2 + plan.VUs(el.Truncate(50*time.Millisecond))
		require.NoError(t, fake.BlockUntil(ctx, waiters), "at %v: want %d waiting", el, waiters)
		fake.Advance(5 * time.Millisecond)
	}
	// At the end, the iterations in flight are cancelled (no grace).
	var res Result
	select {
	case res = <-done:
	case <-ctx.Done():
		t.Fatal("the run did not end")
	}
	assert.LessOrEqual(t, peak.Load(), int64(8), "never more VUs than the plan")
	assert.GreaterOrEqual(t, peak.Load(), int64(7), "VUs ramp to 8 over the run")
	assert.Equal(t, count.Load(), res.Started)
	// Σ 10·j for j = 0..7, and at the end each of the (up to 8) VUs may
	// start one more before it sees the stop.
	assert.GreaterOrEqual(t, res.Started, uint64(280))
	assert.LessOrEqual(t, res.Started, uint64(288))
}

func TestIterationsModel(t *testing.T) {
	var mu sync.Mutex
	seen := map[uint64]bool{}
	vus := map[int]bool{}
	res, err := Run(context.Background(), Options{
		Model: Iterations, Iterations: 37, VUs: 4,
		Job: JobFunc(func(ctx context.Context, it Iteration) {
			mu.Lock()
			seen[it.Number] = true
			vus[it.VU] = true
			mu.Unlock()
			time.Sleep(time.Millisecond)
		}),
	})
	require.NoError(t, err)
	assert.Equal(t, uint64(37), res.Started)
	assert.Len(t, seen, 37)
	assert.Len(t, vus, 4)
}

func TestCancelDrainsWithinGrace(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var cancelled atomic.Int64
	started := make(chan struct{}, 10)
	go func() {
		for i := 0; i < 3; i++ {
			<-started
		}
		cancel()
	}()
	t0 := time.Now()
	res, err := Run(ctx, Options{
		Model: Closed, Plan: constPlan{vus: 3, dur: time.Minute}, Grace: 200 * time.Millisecond,
		Job: JobFunc(func(ctx context.Context, it Iteration) {
			started <- struct{}{}
			<-ctx.Done() // an iteration that never finishes by itself
			cancelled.Add(1)
		}),
	})
	require.NoError(t, err)
	took := time.Since(t0)
	assert.True(t, res.Aborted)
	assert.Equal(t, int64(3), cancelled.Load(), "all in-flight iterations were cancelled after the grace period")
	assert.GreaterOrEqual(t, took, 200*time.Millisecond)
	assert.Less(t, took, 2*time.Second)
}

func TestCancelLetsQuickIterationsFinish(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var finished, cancelled atomic.Int64
	time.AfterFunc(100*time.Millisecond, cancel)
	_, err := Run(ctx, Options{
		Model: Closed, Plan: constPlan{vus: 2, dur: time.Minute}, Grace: 5 * time.Second,
		Job: JobFunc(func(ctx context.Context, it Iteration) {
			select {
			case <-time.After(30 * time.Millisecond):
				finished.Add(1)
			case <-ctx.Done():
				cancelled.Add(1)
			}
		}),
	})
	require.NoError(t, err)
	assert.Zero(t, cancelled.Load(), "iterations that finish within the grace period are not cancelled")
	assert.Positive(t, finished.Load())
}

func TestOptionsValidation(t *testing.T) {
	_, err := Run(context.Background(), Options{Model: Open, Plan: constPlan{rate: 1}})
	assert.ErrorIs(t, err, ErrNoJob)
	_, err = Run(context.Background(), Options{Model: Open, Job: JobFunc(func(context.Context, Iteration) {})})
	assert.EqualError(t, err, "loadgen: no plan")
	_, err = Run(context.Background(), Options{Model: Open, Plan: constPlan{rate: 1}, MaxLag: -1, Job: JobFunc(func(context.Context, Iteration) {})})
	assert.EqualError(t, err, "loadgen: max_lag -1ns must not be negative")
}

// TestOpenModelOnInjectedClock: the open model tells the time and sleeps
// on the clock it is given. On a fake clock every iteration starts exactly
// at its due time on that clock, whatever real time does.
func TestOpenModelOnInjectedClock(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	fake := clock.NewFake(t0)
	rec := &recorder{}
	ran := make(chan Iteration, 10)
	type outcome struct {
		res Result
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := Run(context.Background(), Options{
			Model: Open, Plan: constPlan{rate: 10, dur: time.Second}, MaxInflight: 4, MaxLag: time.Second,
			Monitor: rec, Clock: fake, Job: JobFunc(func(_ context.Context, it Iteration) { ran <- it }),
		})
		done <- outcome{res, err}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	next := func() Iteration {
		select {
		case it := <-ran:
			return it
		case <-ctx.Done():
			t.Fatal("no iteration ran")
			return Iteration{}
		}
	}
	its := []Iteration{next()} // due at the start
	for range 9 {
		// The worker holding the next claim waits for it: move the clock
		// to its due time, and only there.
		require.NoError(t, fake.BlockUntil(ctx, 1))
		fake.Advance(100 * time.Millisecond)
		its = append(its, next())
	}
	out := <-done
	require.NoError(t, out.err)
	assert.Equal(t, uint64(10), out.res.Started)
	assert.Equal(t, t0, out.res.Start, "the run starts at the fake clock's time")
	for k, it := range its {
		assert.Equal(t, uint64(k), it.Number)
		assert.Equal(t, t0.Add(time.Duration(k)*100*time.Millisecond), it.Due, "iteration %d due", k)
		assert.Equal(t, it.Due, it.Start, "iteration %d starts at its due time on the fake clock", k)
	}
	for _, l := range rec.lags {
		assert.Zero(t, l, "no lag on a fake clock that stops at each due time")
	}
}

// TestElapsedIsSafeBeforeAndDuringRun: progress reporting (the daemon's
// GET /api/v1/checks, the CLI's live line) holds an engine from before its
// Run starts and asks Elapsed from other goroutines; under -race this was a
// data race on the run's start time.
func TestElapsedIsSafeBeforeAndDuringRun(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	fake := clock.NewFake(t0)
	ran := make(chan struct{}, 1)
	e, err := New(Options{
		Model: Open, Plan: constPlan{rate: 1, dur: 10 * time.Second}, Clock: fake,
		Job: JobFunc(func(context.Context, Iteration) {
			select {
			case ran <- struct{}{}:
			default:
			}
		}),
	})
	require.NoError(t, err)
	assert.Zero(t, e.Elapsed(), "not started yet")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan Result, 1)
	go func() { done <- e.Run(ctx) }()
	reader := make(chan time.Duration, 1)
	go func() { reader <- e.Elapsed() }() // races with Run's start, by design
	assert.Zero(t, <-reader, "the fake clock has not moved")
	<-ran // the first iteration, due at the start
	fake.Advance(1500 * time.Millisecond)
	assert.Equal(t, 1500*time.Millisecond, e.Elapsed())
	cancel()
	res := <-done
	assert.True(t, res.Aborted)
}
