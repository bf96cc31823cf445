package stats

import "time"

// Recorder receives the flow of a run's results: every executed step, every
// finished iteration, the generator's lag and its dropped iterations. The
// collector's shards record them for verdicts and reports; the Prometheus
// metrics of package metrics record the same calls. Calls come from many
// goroutines at once, on the hot path: implementations must be cheap and
// safe for concurrent use.
type Recorder interface {
	// RecordStep records one executed step: its status (0 when no response
	// came), error class (ClassNone when it passed), failed assertion kind
	// (AssertNone if none), and its latencies from its due time (corrected)
	// and from when it was sent (service).
	RecordStep(step, status int, class ErrorClass, assertion Assertion, corrected, service time.Duration)
	// RecordIteration records a finished iteration: its outcome, the class
	// of its failure (ClassNone on success) and its latency from its due
	// time. A Dropped outcome counts one dropped iteration.
	RecordIteration(o Outcome, class ErrorClass, d time.Duration)
	// RecordLag records generator lag: due → start of an iteration whose
	// slot was free at its due time.
	RecordLag(d time.Duration)
	// RecordDropped records n iterations dropped for being more than
	// max_lag late.
	RecordDropped(n uint64)
}

var _ Recorder = (*Shard)(nil)
