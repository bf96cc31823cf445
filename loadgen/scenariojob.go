package loadgen

import (
	"context"
	"sync"
	"time"

	"github.com/canaryproj/canary/scenario"
	"github.com/canaryproj/canary/stats"
)

// Observer receives every measurement besides the stats collector — the
// Prometheus exporter's per-check metrics implement it.
type Observer interface {
	ObserveStep(step, status int, class stats.ErrorClass, assertion stats.Assertion, corrected, service time.Duration)
	ObserveIteration(success bool, d time.Duration)
	ObserveLag(d time.Duration)
	ObserveDropped(n uint64)
}

// ScenarioJob is the Job and Monitor that run a scenario: each iteration
// goes through Runner, and every step, iteration, lag and drop is recorded in
// Stats (sharded by worker) and, when set, Observer.
type ScenarioJob struct {
	Runner   *scenario.Runner
	Stats    *stats.Collector
	Observer Observer // optional
	// VU maps the engine's local VU index to the number scenarios see
	// ({{ vu }}), disjoint across segments; nil = identity.
	VU func(local int) int

	sinks sync.Pool // *stepSink
}

var (
	_ Job     = (*ScenarioJob)(nil)
	_ Monitor = (*ScenarioJob)(nil)
)

// stepSink is the scenario.Observer of one iteration in flight.
type stepSink struct {
	shard *stats.Shard
	obs   Observer
}

func (s *stepSink) ObserveStep(r *scenario.StepResult) {
	corrected := r.Done.Sub(r.Due)
	service := r.Done.Sub(r.Sent)
	s.shard.RecordStep(r.Step, r.Status, r.Class, r.Assertion, corrected, service)
	if s.obs != nil {
		s.obs.ObserveStep(r.Step, r.Status, r.Class, r.Assertion, corrected, service)
	}
}

// Iterate runs one iteration of the scenario.
func (j *ScenarioJob) Iterate(ctx context.Context, it Iteration) {
	sink, _ := j.sinks.Get().(*stepSink)
	if sink == nil {
		sink = &stepSink{}
	}
	sink.shard = j.Stats.Shard(it.Worker)
	sink.obs = j.Observer
	vu := it.VU
	if j.VU != nil {
		vu = j.VU(vu)
	}
	res := j.Runner.Run(ctx, scenario.Iteration{Number: it.Number, VU: vu, Due: it.Due, Start: it.Start}, sink)
	// The whole iteration counts from its due time, like its first step.
	d := res.End.Sub(it.Due)
	outcome := stats.Success
	if !res.OK {
		outcome = stats.Failure
	}
	sink.shard.RecordIteration(outcome, res.Class, d)
	if j.Observer != nil {
		j.Observer.ObserveIteration(res.OK, d)
	}
	sink.shard, sink.obs = nil, nil
	j.sinks.Put(sink)
}

// Lag records generator lag.
func (j *ScenarioJob) Lag(worker int, d time.Duration) {
	j.Stats.Shard(worker).RecordLag(d)
	if j.Observer != nil {
		j.Observer.ObserveLag(d)
	}
}

// Dropped records iterations dropped for being too late.
func (j *ScenarioJob) Dropped(worker int, n uint64) {
	j.Stats.Shard(worker).RecordDropped(n)
	if j.Observer != nil {
		j.Observer.ObserveDropped(n)
	}
}
