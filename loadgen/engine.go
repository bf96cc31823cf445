// Package loadgen drives iterations under a load profile: the open model
// (an arrival rate, free of coordinated omission), the closed model (virtual
// users) and a fixed number of iterations. It decides *when* each iteration
// starts and measures the generator's own health; what an iteration does is
// a Job's business (see ScenarioJob for the real one).
package loadgen

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/canaryproj/canary/internal/clock"
)

// Model is how load is generated.
type Model int

// The load models.
const (
	Open       Model = iota // an arrival rate of iterations; latency counted from due times
	Closed                  // virtual users, each looping iterations
	Iterations              // a fixed number of iterations over a fixed number of workers
)

// Plan is the load shape, as the engine needs it (profiles.Profile
// implements it). All times are elapsed since the run's start.
type Plan interface {
	// Due reports when the plan's k-th iteration is due (open model), false
	// past the end.
	Due(k uint64) (time.Duration, bool)
	// Number maps the plan's k-th iteration to its global iteration number
	// (they differ for segments of a distributed run).
	Number(k uint64) uint64
	// VUs is the closed model's virtual-user count at t.
	VUs(t time.Duration) int
	// Duration is the plan's length; 0 means forever.
	Duration() time.Duration
}

// Iteration identifies one iteration handed to a Job.
type Iteration struct {
	Number uint64    // global iteration number (disjoint across segments)
	VU     int       // virtual user (closed model) or worker (open model)
	Worker int       // the engine's worker index, for sharded recording
	Due    time.Time // when it should have started; latency counts from here
	Start  time.Time // when it actually started
}

// Job runs one iteration. It must return promptly when ctx ends.
type Job interface {
	Iterate(ctx context.Context, it Iteration)
}

// JobFunc adapts a function to Job.
type JobFunc func(ctx context.Context, it Iteration)

// Iterate calls f.
func (f JobFunc) Iterate(ctx context.Context, it Iteration) { f(ctx, it) }

// Monitor receives the engine's own measurements. Calls come from many
// goroutines at once.
type Monitor interface {
	// Lag records generator lag: due → start of an iteration whose slot was
	// free at its due time (timer slack, a generator short of CPU).
	Lag(worker int, d time.Duration)
	// Dropped records n iterations dropped for being more than max_lag late.
	Dropped(worker int, n uint64)
}

// Options configure a run.
type Options struct {
	Model       Model
	Plan        Plan
	MaxInflight int           // open model: concurrent iterations (default 1000)
	MaxLag      time.Duration // open model: later than this → dropped; 0 = never wait for a slot
	Iterations  uint64        // Iterations model: how many
	VUs         int           // Iterations model: how many workers
	// Grace is how long in-flight iterations may finish after the run stops
	// (its end, or ctx cancelled) before their context is cancelled.
	Grace   time.Duration
	Job     Job
	Monitor Monitor // optional
	// Clock tells the time and sleeps (default the real clock, on which
	// the open model sleeps on precise timers where the system has them).
	Clock clock.Clock
}

// Result is how the run went, from the generator's side.
type Result struct {
	Start, End time.Time
	Started    uint64 // iterations started
	Dropped    uint64 // open model: iterations dropped (more than max_lag late)
	// Due is the number of iterations due by the time the run stopped (open
	// model), including dropped ones.
	Due uint64
	// BehindPct is the share of due iterations the generator had not started
	// when the run stopped although it had free slots (open model).
	BehindPct    float64
	PeakInflight int64
	Aborted      bool // stopped by ctx before the plan's end
}

// ErrNoJob is returned when Options has no Job.
var ErrNoJob = errors.New("loadgen: no job")

// Engine is a run in progress. Create with Start; it is also what progress
// reporting reads while the run goes.
type Engine struct {
	o      Options
	clock  clock.Clock
	timers *timerPool // open model on the real clock; else nil
	start  time.Time
	// begun is start, published for readers outside the run (Elapsed): an
	// engine is handed to progress reporting before Run sets start.
	begun atomic.Pointer[time.Time]

	next     atomic.Uint64 // open/iterations: the next iteration index to claim
	started  atomic.Uint64
	dropped  atomic.Uint64
	inflight atomic.Int64
	peak     atomic.Int64

	// open model worker pool
	workers atomic.Int64 // workers alive
	waiting atomic.Int64 // workers holding a claim, waiting for its due time

	stopping  chan struct{} // closed: start no new iterations
	stopOnce  sync.Once
	iterCtx   context.Context // in-flight iterations; cancelled after Grace
	iterStop  context.CancelFunc
	wg        sync.WaitGroup
	endReason atomic.Bool // true when stopped by the parent ctx (aborted)
}

func (o *Options) defaults() error {
	if o.Job == nil {
		return ErrNoJob
	}
	o.Clock = clock.OrReal(o.Clock)
	if o.MaxInflight <= 0 {
		o.MaxInflight = 1000
	}
	if o.MaxLag < 0 {
		return fmt.Errorf("loadgen: max_lag %v must not be negative", o.MaxLag)
	}
	switch o.Model {
	case Open, Closed:
		if o.Plan == nil {
			return errors.New("loadgen: no plan")
		}
	case Iterations:
		if o.VUs <= 0 {
			o.VUs = 1
		}
	default:
		return fmt.Errorf("loadgen: unknown model %d", o.Model)
	}
	return nil
}

// Run runs the load described by o until the plan ends or ctx is cancelled,
// then waits for in-flight iterations (at most Grace) and returns. No
// goroutine it started outlives it.
func Run(ctx context.Context, o Options) (Result, error) {
	e, err := New(o)
	if err != nil {
		return Result{}, err
	}
	return e.Run(ctx), nil
}

// New validates o and returns an engine ready to Run.
func New(o Options) (*Engine, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	e := &Engine{o: o, clock: o.Clock, stopping: make(chan struct{})}
	if o.Model == Open && o.Clock == clock.Real() {
		e.timers = &timerPool{}
	}
	return e, nil
}

// Run runs the engine (once).
func (e *Engine) Run(ctx context.Context) Result {
	e.start = e.clock.Now()
	start := e.start
	e.begun.Store(&start)
	e.iterCtx, e.iterStop = context.WithCancel(context.WithoutCancel(ctx))
	defer e.iterStop()
	if e.timers != nil {
		defer e.timers.close()
	}

	// The open model's schedule ends by itself (Due is false past the end),
	// and every iteration due before the end must run even if its worker
	// wakes a little late; only the closed model needs a timer to stop.
	var planEnd <-chan time.Time
	if d := e.planDuration(); d > 0 && e.o.Model == Closed {
		t := e.clock.NewTimer(d)
		defer t.Stop()
		planEnd = t.C()
	}

	switch e.o.Model {
	case Open:
		e.spawnOpenWorker(e.start)
	case Closed:
		e.wg.Add(1)
		go e.closedController()
	case Iterations:
		for w := 0; w < e.o.VUs; w++ {
			e.wg.Add(1)
			go e.iterationsWorker(w)
		}
	}

	done := make(chan struct{})
	go func() { e.wg.Wait(); close(done) }()

	select {
	case <-done: // the plan ran out by itself (iterations, or an open plan whose Due ended)
	case <-planEnd:
	case <-ctx.Done():
		e.endReason.Store(true)
	}
	stopAt := e.clock.Now()
	inflightAtStop := e.inflight.Load()
	e.stop()

	// In-flight iterations finish or are cancelled after the grace period.
	if e.o.Grace > 0 {
		g := e.clock.NewTimer(e.o.Grace)
		select {
		case <-done:
		case <-g.C():
		}
		g.Stop()
	}
	e.iterStop()
	<-done

	res := Result{
		Start:        e.start,
		End:          e.clock.Now(),
		Started:      e.started.Load(),
		Dropped:      e.dropped.Load(),
		PeakInflight: e.peak.Load(),
		Aborted:      e.endReason.Load(),
	}
	if e.o.Model == Open {
		res.Due = e.dueBy(stopAt.Sub(e.start))
		handled := res.Started + res.Dropped
		// Iterations due but never started count against the generator only
		// if it had a free slot: with every slot busy, the backlog is the
		// target's (and shows in the latencies and drops).
		if res.Due > handled && inflightAtStop < int64(e.o.MaxInflight) {
			res.BehindPct = 100 * float64(res.Due-handled) / float64(res.Due)
		}
	}
	return res
}

func (e *Engine) planDuration() time.Duration {
	if e.o.Model == Iterations || e.o.Plan == nil {
		return 0
	}
	return e.o.Plan.Duration()
}

func (e *Engine) stop() {
	e.stopOnce.Do(func() {
		close(e.stopping)
		if e.timers != nil {
			e.timers.interrupt()
		}
	})
}

func (e *Engine) isStopping() bool {
	select {
	case <-e.stopping:
		return true
	default:
		return false
	}
}

// Elapsed is the time since the run started; 0 before Run has started it.
// It may be called from any goroutine, at any time.
func (e *Engine) Elapsed() time.Duration {
	start := e.begun.Load()
	if start == nil {
		return 0
	}
	return e.clock.Now().Sub(*start)
}

// Started is the number of iterations started so far.
func (e *Engine) Started() uint64 { return e.started.Load() }

// Dropped is the number of iterations dropped so far.
func (e *Engine) Dropped() uint64 { return e.dropped.Load() }

// Inflight is the number of iterations running now.
func (e *Engine) Inflight() int64 { return e.inflight.Load() }

// dueBy counts the plan's iterations due at or before elapsed t: the first k
// whose due time is after t, by exponential then binary search over Due
// (which is monotone).
func (e *Engine) dueBy(t time.Duration) uint64 {
	p := e.o.Plan
	after := func(k uint64) bool {
		d, ok := p.Due(k)
		return !ok || d > t
	}
	if after(0) {
		return 0
	}
	hi := uint64(1)
	for !after(hi) {
		if hi > 1<<62 {
			return hi
		}
		hi *= 2
	}
	lo := hi / 2 // !after(lo)
	n := sort.Search(int(hi-lo), func(i int) bool { return after(lo + uint64(i)) })
	return lo + uint64(n)
}

func (e *Engine) begin() {
	e.started.Add(1)
	n := e.inflight.Add(1)
	for {
		p := e.peak.Load()
		if n <= p || e.peak.CompareAndSwap(p, n) {
			return
		}
	}
}

func (e *Engine) end() { e.inflight.Add(-1) }

// ---------------------------------------------------------------- open model

// spawnOpenWorker starts one more open-model worker if the cap allows; the
// new worker counts as free from freeSince.
func (e *Engine) spawnOpenWorker(freeSince time.Time) bool {
	for {
		n := e.workers.Load()
		if n >= int64(e.o.MaxInflight) {
			return false
		}
		if e.workers.CompareAndSwap(n, n+1) {
			e.wg.Add(1)
			go e.openWorker(int(n), freeSince)
			return true
		}
	}
}

// openWorker claims the next iteration of the shared schedule whenever it is
// free, waits for the iteration's due time and runs it. Workers are spawned
// lazily so that one is always holding the next claim while the cap allows:
// an iteration therefore waits for a slot only when max_inflight iterations
// are running, and then its latency still counts from its due time (the wait
// is what a user of the target would have seen).
func (e *Engine) openWorker(w int, freeSince time.Time) {
	defer e.wg.Done()
	defer e.workers.Add(-1)
	timer := e.clock.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		if e.isStopping() || e.waiting.Load() >= maxSpareWorkers {
			return
		}
		k := e.next.Add(1) - 1
		dueOff, ok := e.o.Plan.Due(k)
		if !ok {
			// Past the plan's end. Other workers may still hold earlier
			// claims, so this one just leaves; the run ends when all have.
			return
		}
		due := e.start.Add(dueOff)
		now := e.clock.Now()
		if wait := due.Sub(now); wait > 0 {
			e.waiting.Add(1)
			ok := e.sleepUntil(due, wait, timer)
			e.waiting.Add(-1)
			if !ok {
				return
			}
			now = e.clock.Now()
		} else {
			// Late. It waited for a slot only if this worker was busy at the
			// due time and no other could have been free (the cap was
			// reached); any other lateness is the generator's own.
			slotWait := freeSince.After(due) && e.workers.Load() >= int64(e.o.MaxInflight)
			if late := now.Sub(due); late > e.o.MaxLag && (slotWait || e.o.MaxLag > 0) {
				// Too late to be worth sending: drop it, and every later
				// iteration that is too late as well, in one step.
				e.dropLate(w, k, now)
				continue
			}
			if slotWait {
				// Not generator lag: the target held every slot.
				e.run(w, k, due, now, false)
				freeSince = e.clock.Now()
				continue
			}
		}
		if e.isStopping() {
			return
		}
		e.run(w, k, due, now, true)
		freeSince = e.clock.Now()
	}
}

// spinBelow: a wait this short is spent yielding to other goroutines
// until the due time: it costs less than the two system calls of a
// precise sleep. (Longer spins cost more CPU than they save: 20 µs made a
// run at 5,000/s use a tenth more CPU.)
const spinBelow = 5 * time.Microsecond

// sleepUntil waits until due, wait from now, on a precise timer when the
// engine has them and otherwise on timer (the worker's clock timer). It
// reports false when the run stops first.
func (e *Engine) sleepUntil(due time.Time, wait time.Duration, timer clock.Timer) bool {
	if e.timers != nil {
		if wait < spinBelow {
			for e.clock.Now().Before(due) {
				if e.isStopping() {
					return false
				}
				runtime.Gosched()
			}
			return true
		}
		if t := e.timers.get(); t != nil {
			var err error
			for err == nil && wait > 0 {
				err = t.sleep(wait)
				wait = due.Sub(e.clock.Now())
			}
			e.timers.put(t)
			if err == nil {
				return true
			}
			if e.isStopping() {
				return false
			}
			// The timer failed: the clock's timer does the rest.
			if wait <= 0 {
				return true
			}
		}
	}
	timer.Reset(wait)
	select {
	case <-timer.C():
		return true
	case <-e.stopping:
		return false
	}
}

// timerPool lends precise timers to the open-model workers that wait for
// a due time. Few wait at once (a worker leaves rather than be one of more
// than maxSpareWorkers holding claims), so a few descriptors serve a whole
// run; a worker that finds none free sleeps on its clock timer.
type timerPool struct {
	mu          sync.Mutex
	all, free   []*preciseTimer
	interrupted bool
}

// maxPreciseTimers bounds the descriptors a run opens.
const maxPreciseTimers = 2 * maxSpareWorkers

func (p *timerPool) get() *preciseTimer {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.interrupted {
		return nil
	}
	if n := len(p.free); n > 0 {
		t := p.free[n-1]
		p.free = p.free[:n-1]
		return t
	}
	if len(p.all) >= maxPreciseTimers {
		return nil
	}
	t := newPreciseTimer()
	if t == nil {
		return nil
	}
	p.all = append(p.all, t)
	return t
}

func (p *timerPool) put(t *preciseTimer) {
	p.mu.Lock()
	p.free = append(p.free, t)
	p.mu.Unlock()
}

// interrupt wakes every sleeper, now and later: the run is stopping.
func (p *timerPool) interrupt() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.interrupted = true
	for _, t := range p.all {
		t.interrupt()
	}
}

// close closes the descriptors once no worker is left.
func (p *timerPool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, t := range p.all {
		t.close()
	}
	p.all, p.free = nil, nil
}

// maxSpareWorkers: a worker about to claim an iteration while this many
// others hold claims leaves instead. A burst of late iterations (the
// target slow for a moment) starts a worker for each; without this they
// would all stay for the rest of the run, each with its stack.
const maxSpareWorkers = 8

// run starts iteration k (due at due, starting now), keeping one worker
// waiting on the next claim while the cap allows.
func (e *Engine) run(w int, k uint64, due, now time.Time, measureLag bool) {
	if measureLag && e.o.Monitor != nil {
		e.o.Monitor.Lag(w, now.Sub(due))
	}
	if e.waiting.Load() == 0 {
		e.spawnOpenWorker(now)
	}
	e.begin()
	e.o.Job.Iterate(e.iterCtx, Iteration{Number: e.o.Plan.Number(k), VU: w, Worker: w, Due: due, Start: now})
	e.end()
}

// dropLate drops iteration k and skips the shared schedule past every
// iteration that is already more than MaxLag late, counting each once.
func (e *Engine) dropLate(w int, k uint64, now time.Time) {
	n := uint64(1)
	cutoff := now.Sub(e.start) - e.o.MaxLag
	first := e.dueBy(cutoff) // first index not yet too late (due after cutoff)
	for {
		cur := e.next.Load()
		if cur >= first {
			break
		}
		if e.next.CompareAndSwap(cur, first) {
			n += first - cur
			break
		}
	}
	e.dropped.Add(n)
	if e.o.Monitor != nil {
		e.o.Monitor.Dropped(w, n)
	}
}

// ---------------------------------------------------------------- closed model

// closedController keeps VU i running exactly while i < VUs(elapsed),
// re-reading the plan every tick (ramps are linear, so 50 ms is plenty).
func (e *Engine) closedController() {
	defer e.wg.Done()
	const tick = 50 * time.Millisecond
	target := &atomic.Int64{}
	running := make(map[int]bool)
	var mu sync.Mutex
	vuDone := func(i int) {
		mu.Lock()
		delete(running, i)
		mu.Unlock()
	}
	t := e.clock.NewTicker(tick)
	defer t.Stop()
	for {
		n := e.o.Plan.VUs(e.Elapsed())
		if n > e.o.MaxInflight && e.o.MaxInflight > 0 {
			n = e.o.MaxInflight
		}
		target.Store(int64(n))
		mu.Lock()
		for i := 0; i < n; i++ {
			if !running[i] {
				running[i] = true
				e.wg.Add(1)
				go e.closedVU(i, target, vuDone)
			}
		}
		mu.Unlock()
		select {
		case <-t.C():
		case <-e.stopping:
			return
		}
	}
}

func (e *Engine) closedVU(vu int, target *atomic.Int64, done func(int)) {
	defer e.wg.Done()
	defer done(vu)
	for !e.isStopping() && int64(vu) < target.Load() {
		k := e.next.Add(1) - 1
		now := e.clock.Now()
		e.begin()
		e.o.Job.Iterate(e.iterCtx, Iteration{Number: e.o.Plan.Number(k), VU: vu, Worker: vu, Due: now, Start: now})
		e.end()
	}
}

// ---------------------------------------------------------------- iterations

func (e *Engine) iterationsWorker(w int) {
	defer e.wg.Done()
	for !e.isStopping() {
		k := e.next.Add(1) - 1
		if k >= e.o.Iterations {
			return
		}
		n := k
		if e.o.Plan != nil {
			n = e.o.Plan.Number(k)
		}
		now := e.clock.Now()
		e.begin()
		e.o.Job.Iterate(e.iterCtx, Iteration{Number: n, VU: w, Worker: w, Due: now, Start: now})
		e.end()
	}
}
