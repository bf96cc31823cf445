package stats

import (
	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// interval is what a shard records between flushes.
type interval struct {
	used    bool // anything recorded since the last reset
	its     IterationCounts
	iterErr [NumErrorClasses]int64
	iter    recorder
	lag     recorder
	clamped int64
	steps   []stepInterval
}

type stepInterval struct {
	latency, service recorder
	status           *[MaxStatus]int64 // nil until the step is used
	errors           [NumErrorClasses]int64
	asserts          [NumAssertions]int64
}

func newInterval(steps int) *interval {
	return &interval{steps: make([]stepInterval, steps)}
}

// allocateDense gives every recorder its dense histogram now.
func (iv *interval) allocateDense() {
	iv.iter.dense, iv.lag.dense = NewHistogram(), NewHistogram()
	for i := range iv.steps {
		iv.steps[i].latency.dense, iv.steps[i].service.dense = NewHistogram(), NewHistogram()
	}
}

// shed lets go of the dense histograms not needed since the last shed.
func (iv *interval) shed() {
	iv.iter.shed()
	iv.lag.shed()
	for i := range iv.steps {
		iv.steps[i].latency.shed()
		iv.steps[i].service.shed()
	}
}

func (iv *interval) reset() {
	if !iv.used {
		return
	}
	iv.used = false
	iv.its = IterationCounts{}
	iv.iterErr = [NumErrorClasses]int64{}
	iv.clamped = 0
	iv.iter.reset()
	iv.lag.reset()
	for i := range iv.steps {
		st := &iv.steps[i]
		if st.errors == ([NumErrorClasses]int64{}) {
			continue // not used: every request counts under some class
		}
		st.latency.reset()
		st.service.reset()
		*st.status = [MaxStatus]int64{}
		st.errors = [NumErrorClasses]int64{}
		st.asserts = [NumAssertions]int64{}
	}
}

// recorderBuf is how many values a recorder keeps before it needs its
// dense histogram.
const recorderBuf = 64

// recorder is where a shard records one histogram's values. Recording into
// a dense histogram is a few nanoseconds where a sparse one pays a search
// and, for every new bucket, an insert; but a dense histogram is ~190 KB
// that a flush must walk and clear. So the first values of an interval
// only go into a small buffer, and the dense histogram is allocated and
// used only when an interval holds more: a light synthetic check never
// allocates one, and flushing it costs its few values. A check that is busy
// only now and then (a scheduled spike, a backlog after a pause) gives its
// dense histograms back once they go unneeded for a while (Collector.Flush).
type recorder struct {
	n     int
	buf   [recorderBuf]uint32 // µs; MaxValue fits
	dense *hdrhistogram.Histogram
	// needed says the dense histogram was recorded into since the last
	// shed.
	needed bool
}

func (r *recorder) record(v int64) {
	if r.n < recorderBuf {
		r.buf[r.n] = uint32(v)
		r.n++
		return
	}
	if r.dense == nil {
		r.dense = NewHistogram() // cheap next to the values that made it necessary
	}
	r.needed = true
	_ = r.dense.RecordValue(v) // in range: micros clamps
}

// shed lets the dense histogram go when nothing was recorded into it since
// the last shed and it holds nothing now.
func (r *recorder) shed() {
	if r.dense != nil && !r.needed && r.dense.TotalCount() == 0 {
		r.dense = nil
	}
	r.needed = false
}

func (r *recorder) reset() {
	r.n = 0
	if r.dense != nil && r.dense.TotalCount() > 0 {
		r.dense.Reset()
	}
}

// addTo adds the recorder's values to dst; conv is scratch.
func (r *recorder) addTo(dst, conv *hdrhistogram.PackedHistogram) {
	if r.dense != nil && r.dense.TotalCount() > 0 {
		mergeDense(dst, r.dense, conv)
	}
	for _, v := range r.buf[:r.n] {
		_ = dst.RecordValue(int64(v)) // in range: micros clamped it
	}
}

// mergeDense adds src into dst. Into an empty dst the dense counts append
// in order; otherwise they go through conv, because inserting buckets into
// a populated packed histogram shifts its tail each time (quadratic), while
// merging two packed ones is a single linear pass.
func mergeDense(dst *hdrhistogram.PackedHistogram, src *hdrhistogram.Histogram, conv *hdrhistogram.PackedHistogram) {
	if dst.TotalCount() == 0 {
		dst.MergeFrom(src)
		return
	}
	conv.Reset()
	conv.MergeFrom(src)
	dst.Merge(conv)
}

// sparse holds measurements in packed histograms (storage proportional to
// the populated buckets) and sparse status counts: the accumulators of a
// collector.
type sparse struct {
	used    bool
	its     IterationCounts
	iterErr [NumErrorClasses]int64
	clamped int64
	iter    *hdrhistogram.PackedHistogram
	lag     *hdrhistogram.PackedHistogram
	steps   []sparseStep
}

type sparseStep struct {
	latency, service *hdrhistogram.PackedHistogram
	status           map[int]int64 // at most the 501 codes RecordStep keeps
	errors           [NumErrorClasses]int64
	asserts          [NumAssertions]int64
}

func newSparse(steps int) *sparse {
	ps := &sparse{iter: newPacked(), lag: newPacked(), steps: make([]sparseStep, steps)}
	for i := range ps.steps {
		ps.steps[i] = sparseStep{latency: newPacked(), service: newPacked(), status: map[int]int64{}}
	}
	return ps
}

func (ps *sparse) reset() {
	if !ps.used {
		return
	}
	ps.used = false
	ps.its, ps.iterErr, ps.clamped = IterationCounts{}, [NumErrorClasses]int64{}, 0
	ps.iter.Reset()
	ps.lag.Reset()
	for i := range ps.steps {
		st := &ps.steps[i]
		st.latency.Reset()
		st.service.Reset()
		clear(st.status)
		st.errors, st.asserts = [NumErrorClasses]int64{}, [NumAssertions]int64{}
	}
}

// addInterval adds a shard's interval; conv is scratch.
func (ps *sparse) addInterval(iv *interval, conv *hdrhistogram.PackedHistogram) {
	if !iv.used {
		return
	}
	ps.used = true
	ps.its.add(iv.its)
	for c := range iv.iterErr {
		ps.iterErr[c] += iv.iterErr[c]
	}
	ps.clamped += iv.clamped
	iv.iter.addTo(ps.iter, conv)
	iv.lag.addTo(ps.lag, conv)
	for i := range iv.steps {
		a, b := &ps.steps[i], &iv.steps[i]
		if b.errors == ([NumErrorClasses]int64{}) {
			continue // no request
		}
		b.latency.addTo(a.latency, conv)
		b.service.addTo(a.service, conv)
		for code, n := range b.status {
			if n > 0 {
				a.status[code] += n
			}
		}
		for k, n := range b.errors {
			a.errors[k] += n
		}
		for k, n := range b.asserts {
			a.asserts[k] += n
		}
	}
}

// add adds another sparse accumulator.
func (ps *sparse) add(o *sparse) { ps.merge(o, true) }

// addForSeries adds what a series point reads of another accumulator: the
// counts and the iterations' and steps' latencies, not the service times or
// the lag (which would hold as much again, over a point of hours).
func (ps *sparse) addForSeries(o *sparse) { ps.merge(o, false) }

func (ps *sparse) merge(o *sparse, all bool) {
	if !o.used {
		return
	}
	ps.used = true
	o.addCountsTo(&ps.its, &ps.iterErr, &ps.clamped)
	ps.iter.Merge(o.iter)
	if all {
		ps.lag.Merge(o.lag)
	}
	for i := range o.steps {
		a, b := &ps.steps[i], &o.steps[i]
		a.latency.Merge(b.latency)
		if all {
			a.service.Merge(b.service)
		}
		b.addCountsTo(a.status, &a.errors, &a.asserts)
	}
}

// mergeInto adds ps into a snapshot's dense histograms.
func (ps *sparse) mergeInto(s *Snapshot) {
	if !ps.used {
		return
	}
	ps.addCountsTo(&s.Iterations, &s.IterationErrors, &s.Clamped)
	ps.iter.MergeInto(s.Iteration)
	ps.lag.MergeInto(s.Lag)
	for i := range ps.steps {
		a, b := &s.Steps[i], &ps.steps[i]
		b.latency.MergeInto(a.Latency)
		b.service.MergeInto(a.Service)
		b.addCountsTo(a.Status, &a.Errors, &a.Assertions)
	}
}

// addCountsTo adds the iteration counters of ps: by outcome, failures by
// class, and clamped values.
func (ps *sparse) addCountsTo(its *IterationCounts, iterErr *[NumErrorClasses]int64, clamped *int64) {
	its.add(ps.its)
	for c, n := range ps.iterErr {
		iterErr[c] += n
	}
	*clamped += ps.clamped
}

// addCountsTo adds the counters of a step: requests by status code and by
// error class, failed assertions by kind.
func (st *sparseStep) addCountsTo(status map[int]int64, errs *[NumErrorClasses]int64, asserts *[NumAssertions]int64) {
	for code, n := range st.status {
		status[code] += n
	}
	for k, n := range st.errors {
		errs[k] += n
	}
	for k, n := range st.asserts {
		asserts[k] += n
	}
}
