package daemon

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/canaryproj/canary/loadgen"
	"github.com/canaryproj/canary/metrics"
	"github.com/canaryproj/canary/profiles"
	"github.com/canaryproj/canary/scenario"
	"github.com/canaryproj/canary/stats"
	"github.com/canaryproj/canary/transport"
)

// checkRunner runs one configured check: its profile forever (or on its
// schedule), its stats with sliding windows, its metrics. It is replaced
// whole when a reload changes the check's definition.
type checkRunner struct {
	ck      *Check
	col     *stats.Collector
	metrics *metrics.Check
	client  *transport.Client
	log     *slog.Logger
	started time.Time
	grace   time.Duration
	// admit asks the daemon's global rate budget before a scheduled run.
	admit func(rate float64) (release func(), ok bool)

	engine atomic.Pointer[loadgen.Engine]
	cancel context.CancelFunc
	done   chan struct{}

	mu        sync.Mutex
	evaluated time.Time
	running   atomic.Bool // a scheduled run is in progress (or the check is continuous)
}

// retention is how far back a check's windows reach: its verdict window and
// the longest burn-rate window.
func retention(ck *Check, longest time.Duration) time.Duration {
	return max(ck.Window, longest)
}

func newCheckRunner(ck *Check, m *metrics.Check, allow func(string) error, longest, grace time.Duration, log *slog.Logger,
	admit func(float64) (func(), bool)) (*checkRunner, error) {
	topts := ck.Scenario.TransportOptions()
	topts.MaxConnsPerHost = ck.Profile.Concurrency()
	topts.Allow = allow
	client, err := transport.New(topts)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	ret := retention(ck, longest)
	return &checkRunner{
		ck:      ck,
		col:     stats.NewCollector(ck.Scenario.StepNames(), now, stats.Options{WindowRetention: ret}),
		metrics: m,
		client:  client,
		log:     log.With("check", ck.Name),
		started: now,
		grace:   grace,
		admit:   admit,
		done:    make(chan struct{}),
	}, nil
}

// start runs the check until stop; it returns at once.
func (r *checkRunner) start(parent context.Context) {
	ctx, cancel := context.WithCancel(parent)
	r.cancel = cancel
	go func() {
		defer close(r.done)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.flushLoop(ctx)
		}()
		r.loop(ctx)
		cancel()
		wg.Wait()
		r.client.Close()
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
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		next := r.ck.Schedule.Next(time.Now())
		timer.Reset(time.Until(next))
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		release, ok := r.admit(peakRate(r.ck.Profile))
		if !ok {
			r.log.Warn("scheduled run skipped: it would exceed the daemon's max_rate", "next", r.ck.Schedule.Next(time.Now()))
			continue
		}
		r.running.Store(true)
		r.runOnce(ctx, r.ck.Profile)
		r.running.Store(false)
		release()
	}
}

func peakRate(p *profiles.Profile) float64 {
	if p.Model == profiles.Open {
		return p.PeakTarget()
	}
	return 0
}

// runOnce drives the profile until it ends or ctx ends.
func (r *checkRunner) runOnce(ctx context.Context, p *profiles.Profile) {
	job := &loadgen.ScenarioJob{Runner: scenario.NewRunner(r.ck.Scenario, r.client), Stats: r.col, Observer: r.metrics}
	o := loadgen.Options{Plan: p, MaxInflight: p.MaxInflight, MaxLag: p.MaxLag, Grace: r.grace, Job: job, Monitor: job}
	switch p.Model {
	case profiles.Open:
		o.Model = loadgen.Open
	case profiles.Closed:
		o.Model, o.MaxInflight = loadgen.Closed, 100000
	default:
		o.Model, o.Iterations, o.VUs = loadgen.Iterations, p.Iterations, p.VUs(0)
	}
	e, err := loadgen.New(o)
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

// flushLoop closes a stats interval every second and updates the rate gauges.
func (r *checkRunner) flushLoop(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var lastStarted uint64
	var lastAt time.Time
	for {
		select {
		case <-ctx.Done():
			r.col.Flush(time.Now())
			return
		case now := <-t.C:
			r.col.Flush(now)
			target, achieved, inflight := 0.0, 0.0, int64(0)
			if e := r.engine.Load(); e != nil {
				el := e.Elapsed()
				if r.ck.Profile.Model == profiles.Open {
					target = r.ck.Profile.Target(el)
				}
				started := e.Started()
				if !lastAt.IsZero() && started >= lastStarted {
					achieved = float64(started-lastStarted) / now.Sub(lastAt).Seconds()
				}
				lastStarted, lastAt = started, now
				inflight = e.Inflight()
			} else {
				lastStarted, lastAt = 0, time.Time{}
			}
			r.metrics.SetRates(target, achieved, inflight)
		}
	}
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
