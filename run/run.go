// Package run assembles and judges one run of a scenario under a profile:
// it turns the profile into a load engine, builds the scenario's client,
// owns the once-a-second flush of the measurements, and judges them
// against the SLOs. `canary run`, the daemon's on-demand runs (Run) and its
// continuous and scheduled checks (Engine, Client, Flush, Judge) assemble
// their runs here and nowhere else.
package run

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/canaryproj/canary/internal/clock"
	"github.com/canaryproj/canary/loadgen"
	"github.com/canaryproj/canary/profiles"
	"github.com/canaryproj/canary/scenario"
	"github.com/canaryproj/canary/slo"
	"github.com/canaryproj/canary/stats"
	"github.com/canaryproj/canary/transport"
)

// DefaultGrace is how long in-flight iterations may finish after the end.
const DefaultGrace = 10 * time.Second

// StartTolerance is how late a run with a start time may still start. A
// process that reaches its start later than this has missed it: it does
// not run, rather than run beside its fellow segments shifted in time.
const StartTolerance = 100 * time.Millisecond

// closedMaxInflight bounds the closed model's iterations in flight. Each
// virtual user runs one iteration at a time, so the VUs themselves are the
// bound; this only keeps the engine's open-model limit out of their way.
const closedMaxInflight = 100000

// Options describe one run.
type Options struct {
	Scenario *scenario.Scenario
	Profile  *profiles.Profile
	SLOs     []slo.Objective
	// Client sends the requests; nil builds one with Client (sized to the
	// profile, with Allow as its host allow-list).
	Client scenario.Doer
	Allow  func(host string) error
	Grace  time.Duration
	// Also receives every measurement too (the Prometheus metrics).
	Also stats.Recorder
	// Progress, when set, is called after each once-a-second flush.
	Progress func(stats.Progress)
	// HdrLog, when set, receives the HdrHistogram interval log.
	HdrLog io.Writer
	// Clock tells the time and paces the flush; nil is the wall clock.
	Clock clock.Clock
	// StartAt, when set, is when the run starts: Run waits for it on Clock
	// (so that the segments of a distributed run start together), and
	// returns a *StartError instead of running when it is more than
	// StartTolerance past, or when ctx ends during the wait.
	StartAt time.Time
}

// StartError is a run that did not start: it missed its start time, or was
// interrupted while waiting for it. Nothing was sent.
type StartError struct {
	At   time.Time
	Late time.Duration // how late the run reached its start (missed it)
	Err  error         // why the wait ended early (interrupted)
}

func (e *StartError) Error() string {
	at := e.At.UTC().Format(time.RFC3339Nano)
	if e.Err != nil {
		return fmt.Sprintf("interrupted while waiting for the start at %s: nothing was sent", at)
	}
	return fmt.Sprintf("missed the start at %s by %v (more than %v late): nothing was sent", at, e.Late.Round(time.Millisecond), StartTolerance)
}

func (e *StartError) Unwrap() error { return e.Err }

// waitStart waits on clk until at, unless ctx ends first or at is already
// more than StartTolerance past.
func waitStart(ctx context.Context, clk clock.Clock, at time.Time) error {
	if late := clk.Now().Sub(at); late > StartTolerance {
		return &StartError{At: at, Late: late}
	}
	if err := clock.Sleep(ctx, clk, at.Sub(clk.Now())); err != nil {
		return &StartError{At: at, Err: err}
	}
	return nil
}

// Outcome is a finished run.
type Outcome struct {
	Report    *stats.Report
	Judgement Judgement
	Result    loadgen.Result
	Snapshot  *stats.Snapshot
	// Abort says why an objective with abort_on_fail stopped the run, when
	// one did.
	Abort *stats.AbortReport
}

// Run runs the scenario until its profile ends or ctx is cancelled (then it
// is aborted, and inconclusive), and judges it.
func Run(ctx context.Context, o Options) (*Outcome, error) {
	sc, p := o.Scenario, o.Profile
	if sc == nil || p == nil {
		return nil, errors.New("run: scenario and profile are required")
	}
	clk := clock.OrReal(o.Clock)
	client := o.Client
	if client == nil {
		c, err := Client(sc, p, o.Allow)
		if err != nil {
			return nil, err
		}
		defer c.Close()
		client = c
	}

	// Everything that takes time to prepare is ready: only the collector
	// and the engine, which take the start time, come after the wait.
	if !o.StartAt.IsZero() {
		if err := waitStart(ctx, clk, o.StartAt); err != nil {
			return nil, err
		}
	}
	start := clk.Now()
	var hdrLog *stats.HdrLog
	var logErr error
	sopts := stats.Options{Rate: ExpectedRate(p)}
	if o.HdrLog != nil {
		var err error
		if hdrLog, err = stats.NewHdrLog(o.HdrLog, start); err != nil {
			return nil, err
		}
		sopts.OnInterval = func(iv stats.Interval) {
			if logErr == nil {
				logErr = hdrLog.Write(iv)
			}
		}
	}
	col := stats.NewCollector(sc.StepNames(), start, sopts)
	failures := stats.NewFailures(sc.StepNames(), stats.FailureOptions{})
	runner := scenario.NewRunner(sc, client, scenario.WithFailures(failures))
	job := &loadgen.ScenarioJob{Runner: runner, Stats: col, Also: o.Also, VU: p.VUNumber}
	eng, err := Engine(p, job, o.Grace, clk)
	if err != nil {
		return nil, err
	}

	// An objective with abort_on_fail stops the run through runCtx.
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	watch := newAbortWatch(o.SLOs, Planned(p))
	res := drive(runCtx, clk, eng, []*stats.Collector{col}, func(now time.Time) {
		if o.Progress == nil && watch == nil {
			return
		}
		tot := col.Totals()
		if watch != nil && watch.check(tot, now.Sub(start)) {
			stopRun()
		}
		if o.Progress != nil {
			o.Progress(progress(eng, col, p, tot))
		}
	})

	snap := col.Totals()
	in := slo.Input{Snapshot: snap, Duration: res.End.Sub(res.Start), Window: "the run", Aborted: res.Aborted}
	var abort *stats.AbortReport
	if watch != nil && watch.fired != nil {
		// Stopped on purpose: a lost objective fails the run; it was not
		// interrupted.
		abort = watch.fired
		in.Aborted = ctx.Err() != nil
		in.Lost = []string{fmt.Sprintf("aborted after %s by %s: %s", fmtSeconds(abort.AtS), abort.Objective, abort.Reason)}
	}
	j := Judge(o.SLOs, in, res.BehindPct, int64(res.Due))
	rep, err := newReport(sc.Name, p, col, snap, res, j.LagP99Ms, j.Saturated)
	if err != nil {
		return nil, err
	}
	for i, st := range sc.Steps {
		rep.Steps[i].Method, rep.Steps[i].Tags = st.Method, st.Tags
	}
	j.apply(rep)
	rep.Aborted = in.Aborted
	rep.AbortedBy = abort
	if fr := failures.Report(); len(fr.Groups) > 0 || fr.Overflow > 0 {
		rep.Failures = fr
	}
	out := &Outcome{Report: rep, Judgement: j, Result: res, Snapshot: snap, Abort: abort}
	if logErr != nil {
		// The run itself is complete and judged: the caller still gets it.
		return out, logErr
	}
	return out, nil
}

// drive runs eng until its profile ends or ctx ends, with cols flushed
// once a second on clk (then after is called with the flush's time) and a
// last time at the end.
func drive(ctx context.Context, clk clock.Clock, eng *loadgen.Engine, cols []*stats.Collector, after func(now time.Time)) loadgen.Result {
	// The flush outlives an abort: the iterations in flight still finish
	// within the grace period and are recorded.
	flushCtx, stopFlush := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		Flush(flushCtx, clk, cols[0], func(now time.Time) {
			for _, c := range cols[1:] {
				c.Flush(now)
			}
			after(now)
		})
	}()
	res := eng.Run(ctx)
	stopFlush()
	wg.Wait() // its last flush has recorded everything of cols[0]
	for _, c := range cols[1:] {
		c.Flush(clk.Now())
	}
	return res
}

// newReport is the run report of what col measured (snap, its totals)
// under p, without SLOs and verdict.
func newReport(name string, p *profiles.Profile, col *stats.Collector, snap *stats.Snapshot, res loadgen.Result, lagP99Ms float64, saturated bool) (*stats.Report, error) {
	// Rates are measured over the profile's active span, not the drain of
	// in-flight iterations after it (nor beyond an abort).
	span := res.End.Sub(res.Start)
	if pd := p.Duration(); pd > 0 && (pd < span || !res.Aborted) {
		// A schedule covers its whole duration, even when its last
		// iteration was due (and done) a little before the end.
		span = pd
	}
	target := 0.0
	if p.Model == profiles.Open && span > 0 {
		target = p.Count(span) / span.Seconds()
	}
	if peak := p.PeakTarget(); p.Model == profiles.Open && peak > 0 {
		// n iterations take at least n/peak of schedule: a profile shorter
		// than that (--duration 1ns at 10/s still runs the iteration due
		// at 0) is measured over what its iterations needed, not a span no
		// iteration fits in (which read 1,000,000,000/s).
		span = max(span, time.Duration(float64(res.Started)/peak*float64(time.Second)))
	}
	return stats.NewReport(snap, col.Series(), stats.ReportMeta{
		Scenario: name, Profile: p.Describe(), TargetRate: target, RateSpan: span,
		LagP99Ms: lagP99Ms, BehindPct: res.BehindPct, Saturated: saturated, End: res.End,
		CPUs: runtime.GOMAXPROCS(0), Due: int64(res.Due),
	})
}

// Client builds the client a scenario sends through under p: the
// scenario's transport options, with as many connections per host as the
// profile can have iterations in flight, and allow as the host allow-list.
func Client(sc *scenario.Scenario, p *profiles.Profile, allow func(host string) error) (*transport.Client, error) {
	topts := sc.TransportOptions()
	topts.MaxConnsPerHost = p.Concurrency()
	topts.Allow = allow
	c, err := transport.New(topts)
	if err != nil {
		return nil, fmt.Errorf("scenario %q: %w", sc.Name, err)
	}
	return c, nil
}

// Job is what an engine drives: the iterations, and the generator's own
// measurements (loadgen.ScenarioJob for a run, PairJob for a comparison).
type Job interface {
	loadgen.Job
	loadgen.Monitor
}

// Engine turns a profile into the load engine that drives job: the model,
// its bounds, and grace for the iterations in flight at the end (default
// DefaultGrace).
func Engine(p *profiles.Profile, job Job, grace time.Duration, clk clock.Clock) (*loadgen.Engine, error) {
	if grace <= 0 {
		grace = DefaultGrace
	}
	o := loadgen.Options{
		Plan: p, MaxInflight: p.MaxInflight, MaxLag: p.MaxLag, Grace: grace, Job: job, Monitor: job,
		Clock: clock.OrReal(clk),
	}
	switch p.Model {
	case profiles.Open:
		o.Model = loadgen.Open
	case profiles.Closed:
		o.Model, o.MaxInflight = loadgen.Closed, closedMaxInflight
	case profiles.Iterations:
		o.Model, o.Iterations, o.VUs = loadgen.Iterations, p.Iterations, p.VUs(0)
	default:
		return nil, fmt.Errorf("profile %s: unknown model %v", p.Shape, p.Model)
	}
	return loadgen.New(o)
}

// ExpectedRate is the open model's peak arrival rate (0 for the closed
// model and iterations): what a run may ask of the daemon's max_rate, and
// what sizes a collector up front (the closed model's workers, one per VU,
// use all the collector's shards from the start anyway).
func ExpectedRate(p *profiles.Profile) float64 {
	if p.Model == profiles.Open {
		return p.PeakTarget()
	}
	return 0
}

// Flush closes col's interval once a second on clk and then calls after
// with the flush's time, until ctx ends; a last flush then records what
// came since. It is the collector's one flusher while it runs.
func Flush(ctx context.Context, clk clock.Clock, col *stats.Collector, after func(now time.Time)) {
	NewFlusher(clk, col).Run(ctx, after)
}

// Flusher is Flush in two steps, for a caller that starts it in a
// goroutine but wants the flushes to fall on whole seconds from now (a
// test on a fake clock counts on it): NewFlusher arms the ticker at once.
type Flusher struct {
	clk clock.Clock
	col *stats.Collector
	t   clock.Ticker
}

// NewFlusher arms a flusher of col on clk (nil: the wall clock); Run must
// follow.
func NewFlusher(clk clock.Clock, col *stats.Collector) *Flusher {
	clk = clock.OrReal(clk)
	return &Flusher{clk: clk, col: col, t: clk.NewTicker(time.Second)}
}

// Run flushes as Flush does, until ctx ends.
func (f *Flusher) Run(ctx context.Context, after func(now time.Time)) {
	defer f.t.Stop()
	for {
		select {
		case <-ctx.Done():
			f.col.Flush(f.clk.Now())
			return
		case now := <-f.t.C():
			f.col.Flush(now)
			if after != nil {
				after(now)
			}
		}
	}
}

// Judgement is a verdict with the generator's facts it took into account.
type Judgement struct {
	slo.Judgement
	LagP99Ms  float64
	Saturated bool
}

// Judge judges measurements against objs with slo.Judge, once. The
// generator's facts for the saturation rule come from the snapshot's lag
// histogram, plus behindPct over due: how far the generator fell behind its
// schedule, over how many due iterations (0 where unknown, as in a window of
// a continuous check). A run's verdict and a daemon check's window verdict
// are both made here.
func Judge(objs []slo.Objective, in slo.Input, behindPct float64, due int64) Judgement {
	gen := slo.GeneratorOf(in.Snapshot)
	gen.BehindPct, gen.Due = behindPct, due
	return judge(objs, in, gen)
}

// judge is Judge with the generator's facts given.
func judge(objs []slo.Objective, in slo.Input, gen slo.Generator) Judgement {
	in.Generator = gen
	saturated, _ := gen.Saturated()
	return Judgement{
		Judgement: slo.Judge(objs, in),
		LagP99Ms:  float64(gen.LagP99) / float64(time.Millisecond),
		Saturated: saturated,
	}
}

// apply writes the judgement into a report: its SLOs' results, verdict,
// reasons and whether the generator saturated.
func (j Judgement) apply(rep *stats.Report) {
	rep.SLOs = []stats.SLOResult{}
	for _, r := range j.Results {
		rep.SLOs = append(rep.SLOs, stats.SLOResult{
			Expr: r.Objective.String(), Observed: reportValue(r), Pass: r.Pass && r.Evaluated,
		})
	}
	rep.Verdict = string(j.Verdict)
	rep.Reasons = j.Reasons
	rep.Generator.Saturated = j.Saturated
}

// reportValue is an SLO's observed value as the report shows it: latencies
// in milliseconds (like the rest of the report), ratios in percent.
func reportValue(r slo.Result) float64 {
	if !r.Evaluated {
		return 0
	}
	switch r.Objective.Kind {
	case slo.KindLatency:
		return r.Observed * 1000
	case slo.KindSuccess, slo.KindErrors:
		return r.Observed * 100
	}
	return r.Observed
}

// progress is the run's live state after a flush; tot is the collector's
// totals then.
func progress(e *loadgen.Engine, c *stats.Collector, p *profiles.Profile, tot *stats.Snapshot) stats.Progress {
	el := e.Elapsed()
	pr := stats.Progress{
		Elapsed: el, Total: p.Duration(), Inflight: e.Inflight(),
		Started: e.Started(), Dropped: e.Dropped(),
	}
	switch p.Model {
	case profiles.Open:
		pr.TargetRate = p.Target(el)
	case profiles.Closed:
		pr.VUs = p.VUs(el)
	}
	if s := c.Series(); len(s) > 0 {
		last := s[len(s)-1]
		pr.AchievedRate, pr.P50, pr.P99 = last.Rate, last.P50, last.P99
		if last.Rate > 0 {
			pr.ErrorPct = 100 * last.Errors / last.Rate
		}
	}
	pr.Iterations = tot.Iterations.Success + tot.Iterations.Failure
	return pr
}

// Planned is how many iterations a profile plans: the open model's
// schedule until its end (rounded up; a looping profile has one when run
// for a duration, as the daemon's on-demand runs are) or the Iterations
// model's count. 0 for the closed model and endless profiles.
func Planned(p *profiles.Profile) int64 {
	switch {
	case p.Model == profiles.Iterations:
		return int64(p.Iterations)
	case p.Model == profiles.Open && p.Duration() > 0:
		return int64(math.Ceil(p.Count(p.Duration()) - 1e-9))
	}
	return 0
}

// abortWatch applies the abort rules of a run's objectives after each
// flush. Only the flush goroutine uses it while the run lasts.
type abortWatch struct {
	objs    []slo.Objective
	states  []slo.AbortState
	planned int64
	fired   *stats.AbortReport
}

// newAbortWatch watches the objectives with abort_on_fail; nil when none has.
func newAbortWatch(objs []slo.Objective, planned int64) *abortWatch {
	w := &abortWatch{planned: planned}
	for _, o := range objs {
		if o.Abort != nil {
			w.objs = append(w.objs, o)
		}
	}
	if len(w.objs) == 0 {
		return nil
	}
	w.states = make([]slo.AbortState, len(w.objs))
	return w
}

// check applies the rules to the run's totals at elapsed and reports
// whether the run must stop. The first objective lost is the reason.
func (w *abortWatch) check(tot *stats.Snapshot, elapsed time.Duration) bool {
	if w.fired != nil {
		return true
	}
	in := slo.Input{Snapshot: tot, Duration: elapsed, Generator: slo.GeneratorOf(tot)}
	for i, o := range w.objs {
		if stop, why := slo.CheckAbort(o, &w.states[i], in, w.planned, elapsed); stop {
			w.fired = &stats.AbortReport{AtS: math.Round(elapsed.Seconds()*1000) / 1000, Objective: o.Spec(), Reason: why}
			return true
		}
	}
	return false
}

// fmtSeconds prints seconds for a reason: "2s", "2.5s".
func fmtSeconds(s float64) string {
	return strconv.FormatFloat(math.Round(s*10)/10, 'f', -1, 64) + "s"
}
