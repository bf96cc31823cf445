package stats

import (
	"fmt"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram bounds (docs/metrics.md): 1 µs .. 1 h at 3 significant digits; values
// are recorded in microseconds.
const (
	MinValue  = 1
	MaxValue  = int64(time.Hour / time.Microsecond)
	SigDigits = 3
)

// NewHistogram returns an empty histogram with canary's bounds.
func NewHistogram() *hdrhistogram.Histogram { return hdrhistogram.New(MinValue, MaxValue, SigDigits) }

func newPacked() *hdrhistogram.PackedHistogram {
	return hdrhistogram.NewPacked(MinValue, MaxValue, SigDigits)
}

// micros converts d to a histogram value, truncated to whole microseconds
// and clamped into 1 µs .. 1 h; clamped reports whether it had to be
// (below 1 µs, which includes negative durations, or above 1 h).
func micros(d time.Duration) (v int64, clamped bool) {
	v = int64(d / time.Microsecond)
	switch {
	case v < MinValue:
		return MinValue, true
	case v > MaxValue:
		return MaxValue, true
	}
	return v, false
}

// Millis converts a histogram value (µs) to milliseconds.
func Millis(us int64) float64 { return float64(us) / 1000 }

// Outcome is how an iteration ended.
type Outcome uint8

// The outcomes (the result label of canary_iterations_total).
const (
	Success Outcome = iota
	Failure
	Dropped
)

// IterationCounts count iterations by outcome.
type IterationCounts struct {
	Success, Failure, Dropped int64
}

// Total is every iteration, dropped ones included.
func (c IterationCounts) Total() int64 { return c.Success + c.Failure + c.Dropped }

func (c *IterationCounts) add(o IterationCounts) {
	c.Success += o.Success
	c.Failure += o.Failure
	c.Dropped += o.Dropped
}

// MaxStatus bounds the status-code counters: 100–599 are counted as
// themselves, anything else (no response, nonsense) as 0.
const MaxStatus = 600

// StepSnapshot is one step's measurements.
type StepSnapshot struct {
	Name       string
	Latency    *hdrhistogram.Histogram // corrected: from when the request was due (µs)
	Service    *hdrhistogram.Histogram // from when it was sent (µs)
	Status     map[int]int64           // status code → count (0: no response)
	Errors     [NumErrorClasses]int64  // by class; ClassNone counts successful requests
	Assertions [NumAssertions]int64    // failed assertions by kind
}

// Count is the number of requests the step made.
func (s *StepSnapshot) Count() int64 {
	var n int64
	for _, c := range s.Errors {
		n += c
	}
	return n
}

// Snapshot is a view of measurements over a span: cumulative, a window, or
// merged from several machines. The caller owns it.
type Snapshot struct {
	// Start and End are the span the measurements cover: for a window,
	// from its oldest slot counted (or since) to the last flush.
	Start, End      time.Time
	Iterations      IterationCounts
	IterationErrors [NumErrorClasses]int64 // failed iterations by the class of their failure
	Iteration       *hdrhistogram.Histogram
	Lag             *hdrhistogram.Histogram
	Clamped         int64 // values clamped into the histograms' range (below 1 µs or above 1 h)
	Steps           []StepSnapshot
}

// NewSnapshot returns an empty snapshot for the given steps.
func NewSnapshot(steps []string) *Snapshot {
	s := &Snapshot{Iteration: NewHistogram(), Lag: NewHistogram(), Steps: make([]StepSnapshot, len(steps))}
	for i, n := range steps {
		s.Steps[i] = StepSnapshot{Name: n, Latency: NewHistogram(), Service: NewHistogram(), Status: map[int]int64{}}
	}
	return s
}

// reuse empties s for the given steps, keeping the histograms it has (and
// their memory: about 190 KB each) when they have canary's bounds.
func (s *Snapshot) reuse(steps []string) {
	all := s.Steps[:cap(s.Steps)]
	*s = Snapshot{Iteration: emptied(s.Iteration), Lag: emptied(s.Lag)}
	if len(all) < len(steps) {
		all = append(all, make([]StepSnapshot, len(steps)-len(all))...)
	}
	s.Steps = all[:len(steps)]
	for i, name := range steps {
		st := &s.Steps[i]
		status := st.Status
		if status == nil {
			status = map[int]int64{}
		}
		clear(status)
		*st = StepSnapshot{Name: name, Latency: emptied(st.Latency), Service: emptied(st.Service), Status: status}
	}
}

// emptied is h reset, or a new histogram when there is none or it has
// other bounds.
func emptied(h *hdrhistogram.Histogram) *hdrhistogram.Histogram {
	if h == nil || h.LowestTrackableValue() != MinValue || h.HighestTrackableValue() != MaxValue || h.SignificantFigures() != SigDigits {
		return NewHistogram()
	}
	if h.TotalCount() > 0 {
		h.Reset()
	}
	return h
}

// Step returns the named step, or nil.
func (s *Snapshot) Step(name string) *StepSnapshot {
	for i := range s.Steps {
		if s.Steps[i].Name == name {
			return &s.Steps[i]
		}
	}
	return nil
}

// StepNames lists the steps in order.
func (s *Snapshot) StepNames() []string {
	out := make([]string, len(s.Steps))
	for i, st := range s.Steps {
		out[i] = st.Name
	}
	return out
}

// Merge adds o into s exactly. Both must have the same steps.
func (s *Snapshot) Merge(o *Snapshot) error {
	if len(s.Steps) != len(o.Steps) {
		return fmt.Errorf("merge: %d steps and %d steps", len(s.Steps), len(o.Steps))
	}
	for i := range s.Steps {
		if s.Steps[i].Name != o.Steps[i].Name {
			return fmt.Errorf("merge: step %d is %q here and %q there", i, s.Steps[i].Name, o.Steps[i].Name)
		}
	}
	if s.Start.IsZero() || (!o.Start.IsZero() && o.Start.Before(s.Start)) {
		s.Start = o.Start
	}
	if o.End.After(s.End) {
		s.End = o.End
	}
	s.Iterations.add(o.Iterations)
	for c := range s.IterationErrors {
		s.IterationErrors[c] += o.IterationErrors[c]
	}
	s.Iteration.Merge(o.Iteration)
	s.Lag.Merge(o.Lag)
	s.Clamped += o.Clamped
	for i := range s.Steps {
		a, b := &s.Steps[i], &o.Steps[i]
		a.Latency.Merge(b.Latency)
		a.Service.Merge(b.Service)
		for code, n := range b.Status {
			a.Status[code] += n
		}
		for c := range a.Errors {
			a.Errors[c] += b.Errors[c]
		}
		for k := range a.Assertions {
			a.Assertions[k] += b.Assertions[k]
		}
	}
	return nil
}

// Clone returns an independent copy.
func (s *Snapshot) Clone() *Snapshot {
	c := *s
	c.Iteration = s.Iteration.Clone()
	c.Lag = s.Lag.Clone()
	c.Steps = make([]StepSnapshot, len(s.Steps))
	for i, st := range s.Steps {
		cs := st
		cs.Latency = st.Latency.Clone()
		cs.Service = st.Service.Clone()
		cs.Status = make(map[int]int64, len(st.Status))
		for k, v := range st.Status {
			cs.Status[k] = v
		}
		c.Steps[i] = cs
	}
	return &c
}
