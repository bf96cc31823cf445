package loadgen

import (
	"context"
	"sync"
	"time"

	"github.com/canaryproj/canary/scenario"
	"github.com/canaryproj/canary/stats"
)

// ScenarioJob is the Job and Monitor that run a scenario: each iteration
// goes through Runner, and every step, iteration, lag and drop is recorded in
// Stats (sharded by worker) and, when set, in Also.
type ScenarioJob struct {
	Runner *scenario.Runner
	Stats  *stats.Collector
	// Also receives every measurement too (the Prometheus metrics); optional.
	Also stats.Recorder
	// VU maps the engine's local VU index to the number scenarios see
	// ({{ vu }}), disjoint across segments; nil = identity.
	VU func(local int) int

	tees sync.Pool // *tee
}

var (
	_ Job            = (*ScenarioJob)(nil)
	_ Monitor        = (*ScenarioJob)(nil)
	_ stats.Recorder = (*tee)(nil)
)

// tee records one iteration in flight into its worker's shard and Also.
type tee struct {
	shard *stats.Shard
	also  stats.Recorder
}

func (t *tee) RecordStep(step, status int, class stats.ErrorClass, assertion stats.Assertion, corrected, service time.Duration) {
	t.shard.RecordStep(step, status, class, assertion, corrected, service)
	if t.also != nil {
		t.also.RecordStep(step, status, class, assertion, corrected, service)
	}
}

func (t *tee) RecordIteration(o stats.Outcome, class stats.ErrorClass, d time.Duration) {
	t.shard.RecordIteration(o, class, d)
	if t.also != nil {
		t.also.RecordIteration(o, class, d)
	}
}

func (t *tee) RecordLag(d time.Duration) {
	t.shard.RecordLag(d)
	if t.also != nil {
		t.also.RecordLag(d)
	}
}

func (t *tee) RecordDropped(n uint64) {
	t.shard.RecordDropped(n)
	if t.also != nil {
		t.also.RecordDropped(n)
	}
}

// recorder is a worker's tee from the pool, for an iteration (the runner
// holds it as an interface, so a local one would be allocated each time);
// done puts it back.
func (j *ScenarioJob) recorder(worker int) *tee {
	t, _ := j.tees.Get().(*tee)
	if t == nil {
		t = &tee{}
	}
	t.shard, t.also = j.Stats.Shard(worker), j.Also
	return t
}

func (j *ScenarioJob) done(t *tee) {
	t.shard, t.also = nil, nil
	j.tees.Put(t)
}

// Iterate runs one iteration of the scenario.
func (j *ScenarioJob) Iterate(ctx context.Context, it Iteration) {
	rec := j.recorder(it.Worker)
	defer j.done(rec)
	vu := it.VU
	if j.VU != nil {
		vu = j.VU(vu)
	}
	res := j.Runner.Run(ctx, scenario.Iteration{Number: it.Number, VU: vu, Due: it.Due, Start: it.Start}, rec)
	// The whole iteration counts from its due time, like its first step,
	// without the think time between its steps: the target's part of it.
	outcome := stats.Success
	if !res.OK {
		outcome = stats.Failure
	}
	rec.RecordIteration(outcome, res.Class, res.End.Sub(it.Due)-res.Think)
}

// Lag records generator lag.
func (j *ScenarioJob) Lag(worker int, d time.Duration) {
	rec := tee{shard: j.Stats.Shard(worker), also: j.Also}
	rec.RecordLag(d)
}

// Dropped records iterations dropped for being too late.
func (j *ScenarioJob) Dropped(worker int, n uint64) {
	rec := tee{shard: j.Stats.Shard(worker), also: j.Also}
	rec.RecordDropped(n)
}
