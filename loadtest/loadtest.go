// Package loadtest runs one load test — a scenario under a profile — to its
// end and judges it: the report (SPEC §7) and the verdict (pass, fail,
// inconclusive). `canary run` and the daemon's on-demand runs both use it.
package loadtest

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"sync"
	"time"

	"github.com/canaryproj/canary/loadgen"
	"github.com/canaryproj/canary/profiles"
	"github.com/canaryproj/canary/scenario"
	"github.com/canaryproj/canary/slo"
	"github.com/canaryproj/canary/stats"
	"github.com/canaryproj/canary/transport"
)

// DefaultGrace is how long in-flight iterations may finish after the end.
const DefaultGrace = 10 * time.Second

// Options describe one load test.
type Options struct {
	Scenario *scenario.Scenario
	Profile  *profiles.Profile
	SLOs     []slo.Objective
	// Client sends the requests; nil builds one from the scenario's transport
	// options, sized to the profile, with Allow as its host allow-list.
	Client scenario.Doer
	Allow  func(host string) error
	Grace  time.Duration
	// Observer also receives every measurement (Prometheus metrics).
	Observer loadgen.Observer
	// Progress, when set, is called about once a second.
	Progress func(Progress)
	// HdrLog, when set, receives the HdrHistogram interval log.
	HdrLog io.Writer
}

// Progress is the live state of a run.
type Progress struct {
	Elapsed, Total time.Duration // Total 0: unknown (iterations)
	Model          profiles.Model
	TargetRate     float64 // open model: iterations/s asked for now
	AchievedRate   float64 // iterations/s completed over the last second
	VUs            int     // closed model: VUs now
	Inflight       int64
	Started        uint64
	Dropped        uint64
	Iterations     int64   // completed so far
	P50, P99       float64 // ms, iteration latency over the last second
	ErrorPct       float64 // failed iterations over the last second
}

// Outcome is a finished load test.
type Outcome struct {
	Report    *stats.Report
	Judgement slo.Judgement
	Result    loadgen.Result
	Snapshot  *stats.Snapshot
}

// Run runs the load test until its profile ends or ctx is cancelled (then it
// is aborted, and inconclusive).
func Run(ctx context.Context, o Options) (*Outcome, error) {
	sc, p := o.Scenario, o.Profile
	if sc == nil || p == nil {
		return nil, fmt.Errorf("loadtest: scenario and profile are required")
	}
	if o.Grace <= 0 {
		o.Grace = DefaultGrace
	}
	client := o.Client
	if client == nil {
		topts := sc.TransportOptions()
		topts.MaxConnsPerHost = p.Concurrency()
		topts.Allow = o.Allow
		c, err := transport.New(topts)
		if err != nil {
			return nil, fmt.Errorf("scenario %q: %w", sc.Name, err)
		}
		defer c.Close()
		client = c
	}

	start := time.Now()
	var hdrLog *stats.HdrLog
	sopts := stats.Options{Rate: expectedRate(p)}
	if o.HdrLog != nil {
		var err error
		if hdrLog, err = stats.NewHdrLog(o.HdrLog, start); err != nil {
			return nil, err
		}
		var logErr error
		sopts.OnInterval = func(iv stats.Interval) {
			if logErr == nil {
				logErr = hdrLog.Write(iv)
			}
		}
	}
	col := stats.NewCollector(sc.StepNames(), start, sopts)
	job := &loadgen.ScenarioJob{Runner: scenario.NewRunner(sc, client), Stats: col, Observer: o.Observer, VU: p.VUNumber}
	eopts := loadgen.Options{
		Plan: p, MaxInflight: p.MaxInflight, MaxLag: p.MaxLag, Grace: o.Grace, Job: job, Monitor: job,
		Now: func() time.Time { return time.Now() },
	}
	switch p.Model {
	case profiles.Open:
		eopts.Model = loadgen.Open
	case profiles.Closed:
		eopts.Model = loadgen.Closed
		eopts.MaxInflight = 100000
	case profiles.Iterations:
		eopts.Model, eopts.Iterations, eopts.VUs = loadgen.Iterations, p.Iterations, p.VUs(0)
	}
	eng, err := loadgen.New(eopts)
	if err != nil {
		return nil, err
	}

	// The flusher owns the once-a-second work: stats intervals and progress.
	flushDone := make(chan struct{})
	stopFlush := make(chan struct{})
	var lastStarted uint64
	var mu sync.Mutex
	go func() {
		defer close(flushDone)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-stopFlush:
				return
			case now := <-t.C:
				col.Flush(now)
				if o.Progress != nil {
					mu.Lock()
					o.Progress(progress(eng, col, p, &lastStarted))
					mu.Unlock()
				}
			}
		}
	}()
	res := eng.Run(ctx)
	close(stopFlush)
	<-flushDone
	col.Flush(time.Now())

	snap := col.Totals()
	dur := res.End.Sub(res.Start)
	lagP99 := 0.0
	if snap.Lag != nil && snap.Lag.TotalCount() > 0 {
		lagP99 = float64(snap.Lag.ValueAtQuantile(99)) / 1000
	}
	gen := slo.GeneratorOf(snap)
	gen.BehindPct, gen.Due = res.BehindPct, int64(res.Due)
	saturated, _ := gen.Saturated()
	j := slo.Judge(o.SLOs, slo.Input{
		Snapshot: snap, Duration: dur, Window: "the run", Generator: gen, Aborted: res.Aborted,
	})
	// Rates are measured over the profile's active span, not the drain of
	// in-flight iterations after it (nor beyond an abort).
	span := dur
	if pd := p.Duration(); pd > 0 && (pd < span || !res.Aborted) {
		// A schedule covers its whole duration, even when its last
		// iteration was due (and done) a little before the end.
		span = pd
	}
	target := 0.0
	if p.Model == profiles.Open && span > 0 {
		target = p.Count(span) / span.Seconds()
	}
	rep, err := stats.NewReport(snap, col.Series(), stats.ReportMeta{
		Scenario: sc.Name, Profile: p.Describe(), TargetRate: target, RateSpan: span,
		LagP99Ms: lagP99, BehindPct: res.BehindPct, Saturated: saturated, End: res.End,
		CPUs: runtime.GOMAXPROCS(0),
	})
	if err != nil {
		return nil, err
	}
	for _, r := range j.Results {
		rep.SLOs = append(rep.SLOs, stats.SLOResult{
			Expr: r.Objective.String(), Observed: reportValue(r), Pass: r.Pass && r.Evaluated,
		})
	}
	rep.Verdict = string(j.Verdict)
	rep.Reasons = j.Reasons
	return &Outcome{Report: rep, Judgement: j, Result: res, Snapshot: snap}, nil
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

// expectedRate is the open model's peak arrival rate, for sizing the
// collector up front (0 for the closed model and iterations: their workers,
// one per VU, use all the collector's shards from the start).
func expectedRate(p *profiles.Profile) float64 {
	if p.Model == profiles.Open {
		return p.PeakTarget()
	}
	return 0
}

func progress(e *loadgen.Engine, c *stats.Collector, p *profiles.Profile, lastStarted *uint64) Progress {
	el := e.Elapsed()
	pr := Progress{
		Elapsed: el, Total: p.Duration(), Model: p.Model, Inflight: e.Inflight(),
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
	tot := c.Totals()
	pr.Iterations = tot.Iterations.Success + tot.Iterations.Failure
	*lastStarted = pr.Started
	return pr
}
