package daemon

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/canaryproj/canary/config"
	"github.com/canaryproj/canary/internal/clock"
	"github.com/canaryproj/canary/loadgen"
	"github.com/canaryproj/canary/metrics"
	"github.com/canaryproj/canary/profiles"
	"github.com/canaryproj/canary/run"
	"github.com/canaryproj/canary/slo"
	"github.com/canaryproj/canary/stats"
	"github.com/canaryproj/canary/transport"
)

// checkRunner runs one configured check: its profile forever (or on its
// schedule), its stats with sliding windows, its metrics. It is replaced
// whole when a reload changes the check's definition.
type checkRunner struct {
	ck  *config.Check
	col *stats.Collector
	// failures holds the samples of the check's failing exchanges since it
	// started (or its definition last changed).
	failures *stats.Failures
	metrics  *metrics.Check
	client   *transport.Client
	log      *slog.Logger
	clk      clock.Clock
	started  time.Time
	grace    time.Duration
	// admit asks the daemon's global rate budget before a scheduled run.
	admit func(rate float64) (release func(), ok bool)

	engine atomic.Pointer[loadgen.Engine]
	cancel context.CancelFunc
	done   chan struct{}

	// lastStarted and lastAt are the engine's count of started iterations
	// at the last flush; only the flush (setRates) reads and writes them.
	lastStarted uint64
	lastAt      time.Time

	mu        sync.Mutex
	evaluated time.Time
	nextRun   time.Time   // a scheduled check's next run
	verdict   slo.Verdict // at the last evaluation ("" before the first)
	running   atomic.Bool // a scheduled run is in progress (or the check is continuous)

	// baseline is a comparison check's baseline (daemon/compare.go); nil
	// for other checks.
	baseline *baselineSide
	// lastRun is a scheduled check's last finished run (nil before the
	// first), for the status page.
	lastRun atomic.Pointer[runSpan]
	// tls keeps the certificates the check's steps are served (tls.go);
	// set before start.
	tls *tlsTracker
}

// runSpan is when a scheduled run started and ended.
type runSpan struct{ start, end time.Time }

// retention is how far back a check's windows reach: its verdict window,
// the longest burn-rate window, and the status page's longest uptime
// (30 d), whichever is longest.
func retention(ck *config.Check, longest time.Duration) time.Duration {
	return max(ck.Window, longest, longestView)
}

func newCheckRunner(ck *config.Check, m *metrics.Check, allow func(string) error, longest, grace time.Duration, log *slog.Logger,
	admit func(float64) (func(), bool), clk clock.Clock) (*checkRunner, error) {
	client, err := run.Client(checkScenario(ck), ck.Profile, allow)
	if err != nil {
		return nil, err
	}
	now := clk.Now()
	ret := retention(ck, longest)
	r := &checkRunner{
		ck: ck,
		// A check is read through its windows and the status page's
		// history of it: exact totals over months would cost it hundreds
		// of KB, and a series since the start up to 3,600 points (~830 KB
		// of 2 steps) where the page draws the last day in 360.
		col: stats.NewCollector(ck.Scenario.StepNames(), now, stats.Options{WindowRetention: ret, NoTotals: true,
			SeriesCap: historyPoints + 1, SeriesSpan: historySpan}),
		failures: stats.NewFailures(ck.Scenario.StepNames(), stats.FailureOptions{}),
		metrics:  m,
		client:   client,
		log:      log.With("check", ck.Name),
		clk:      clk,
		started:  now,
		grace:    grace,
		admit:    admit,
		done:     make(chan struct{}),
	}
	if ck.Schedule != nil {
		// Known from the start, before the check's loop first looks.
		r.nextRun = ck.Schedule.Next(now)
	}
	if ck.Comparison != nil {
		if r.baseline, err = newBaselineSide(ck, allow, now, ret); err != nil {
			client.Close()
			return nil, err
		}
	}
	return r, nil
}

// start runs the check until stop; it returns at once.
func (r *checkRunner) start(parent context.Context) {
	ctx, cancel := context.WithCancel(parent)
	r.cancel = cancel
	// Armed here, the flushes fall on whole seconds from the check's start.
	flusher := run.NewFlusher(r.clk, r.col)
	go func() {
		defer close(r.done)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			flusher.Run(ctx, func(now time.Time) {
				r.flushBaseline(now)
				r.setRates(now)
			})
		}()
		r.loop(ctx)
		cancel()
		wg.Wait()
		r.client.Close()
		r.closeBaseline()
	}()
}

// stop ends the check: no new iterations; in-flight ones get the grace
// period. It returns when everything the check started has exited.
func (r *checkRunner) stop() {
	if r.cancel != nil {
		r.cancel()
		<-r.done
	}
}

func (r *checkRunner) loop(ctx context.Context) {
	if r.ck.Schedule == nil {
		r.running.Store(true)
		r.runOnce(ctx, r.ck.Profile)
		return
	}
	timer := r.clk.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now := r.clk.Now()
		next := r.ck.Schedule.Next(now)
		r.setNextRun(next)
		timer.Reset(next.Sub(r.clk.Now()))
		r.log.Info("next scheduled run", "at", next.UTC().Format(time.RFC3339), "in", next.Sub(now).Round(time.Second).String())
		select {
		case <-ctx.Done():
			return
		case <-timer.C():
		}
		release, ok := r.admit(run.ExpectedRate(r.ck.Profile))
		if !ok {
			r.log.Warn("scheduled run skipped: it would exceed the daemon's max_rate")
			continue
		}
		r.log.Info("scheduled run starting", "profile", r.ck.Profile.Shape)
		r.running.Store(true)
		start := r.clk.Now()
		r.setNextRun(r.ck.Schedule.Next(next))
		r.runOnce(ctx, r.ck.Profile)
		r.lastRun.Store(&runSpan{start: start, end: r.clk.Now()})
		r.running.Store(false)
		release()
	}
}

// setNextRun records when a scheduled check runs next.
func (r *checkRunner) setNextRun(t time.Time) {
	r.mu.Lock()
	r.nextRun = t
	r.mu.Unlock()
}

// schedule reports whether a scheduled check's run is in progress, and
// when it runs next (zero for a continuous check).
func (r *checkRunner) schedule() (running bool, next time.Time) {
	if r.ck.Schedule == nil {
		return true, time.Time{}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.running.Load(), r.nextRun
}

// runOnce drives the profile until it ends or ctx ends.
func (r *checkRunner) runOnce(ctx context.Context, p *profiles.Profile) {
	e, err := run.Engine(p, r.job(), r.grace, r.clk)
	if err != nil {
		r.log.Error("check cannot run", "err", err)
		return
	}
	r.engine.Store(e)
	res := e.Run(ctx)
	r.engine.Store(nil)
	if res.Dropped > 0 {
		r.log.Info("run ended", "started", res.Started, "dropped", res.Dropped)
	}
}

// setRates updates the rate gauges after each flush: the profile's target
// now, iterations started per second since the last flush, and in flight.
func (r *checkRunner) setRates(now time.Time) {
	target, achieved, inflight := 0.0, 0.0, int64(0)
	if e := r.engine.Load(); e != nil {
		el := e.Elapsed()
		if r.ck.Profile.Model == profiles.Open {
			target = r.ck.Profile.Target(el)
		}
		started := e.Started()
		if !r.lastAt.IsZero() && started >= r.lastStarted {
			achieved = float64(started-r.lastStarted) / now.Sub(r.lastAt).Seconds()
		}
		r.lastStarted, r.lastAt = started, now
		inflight = e.Inflight()
	} else {
		r.lastStarted, r.lastAt = 0, time.Time{}
	}
	r.metrics.SetRates(target, achieved, inflight)
}

// rates reports the live target and achieved rates and in-flight count.
func (r *checkRunner) rates() (target float64, inflight int64) {
	if e := r.engine.Load(); e != nil {
		if r.ck.Profile.Model == profiles.Open {
			target = r.ck.Profile.Target(e.Elapsed())
		}
		inflight = e.Inflight()
	}
	return target, inflight
}
