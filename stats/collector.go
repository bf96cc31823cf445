package stats

import (
	"runtime"
	"sync"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Options configure a Collector.
type Options struct {
	// Shards is the number of independently locked recording shards;
	// default 2 × GOMAXPROCS. Each holds dense histograms (~190 KB each),
	// so more shards cost memory for little gain.
	Shards int
	// SeriesCap bounds the per-second series; past it adjacent points merge
	// and the resolution doubles. Default 3600.
	SeriesCap int
	// WindowSlot is the granularity of sliding windows (default 10 s);
	// WindowRetention how far back they reach (0: no windows). The ring has
	// at most MaxSlots slots: a longer retention widens the slot.
	WindowSlot      time.Duration
	WindowRetention time.Duration
	// OnInterval, when set, is called by Flush with each step's histograms
	// of the interval just closed (for the HdrHistogram interval log). The
	// histograms are only valid during the call.
	OnInterval func(Interval)
}

// MaxSlots bounds the window ring.
const MaxSlots = 720

// Interval is one step's measurements between two flushes.
type Interval struct {
	Step             string
	Start, End       time.Time
	Latency, Service *hdrhistogram.Histogram
}

// Collector accumulates one run's (or one daemon check's) measurements.
// Workers record into Shards; one owner calls Flush about once a second;
// readers (Totals, Window, Series) see the state as of the last Flush.
type Collector struct {
	steps  []string
	start  time.Time
	o      Options
	shards []Shard

	// Every accumulator is sparse: merging a dense histogram walks its
	// ~23 000 buckets once, merging sparse ones only their populated buckets.
	mu        sync.Mutex // flush and reads
	acc       *sparse    // scratch: the interval being flushed
	totals    *sparse    // cumulative since start
	lastFlush time.Time

	// series
	points    []Point
	res       int     // flushes per point
	pending   *sparse // the point being accumulated
	pendingN  int
	pendingAt time.Time // start of the pending point

	// windows
	slot     time.Duration
	ring     []sparse
	open     *sparse // the slot being filled
	openIdx  int64
	openUsed bool
}

// NewCollector returns a collector for a scenario's steps, starting at start.
func NewCollector(steps []string, start time.Time, o Options) *Collector {
	if o.Shards <= 0 {
		o.Shards = 2 * runtime.GOMAXPROCS(0)
	}
	if o.SeriesCap <= 1 {
		o.SeriesCap = 3600
	}
	if o.WindowSlot <= 0 {
		o.WindowSlot = 10 * time.Second
	}
	c := &Collector{
		steps: append([]string(nil), steps...), start: start, o: o,
		shards: make([]Shard, o.Shards), acc: newSparse(len(steps)), totals: newSparse(len(steps)),
		lastFlush: start, res: 1, pending: newSparse(len(steps)), pendingAt: start,
	}
	for i := range c.shards {
		c.shards[i] = Shard{cur: newInterval(len(steps)), spare: newInterval(len(steps))}
	}
	if o.WindowRetention > 0 {
		c.slot = o.WindowSlot
		n := int64((o.WindowRetention + c.slot - 1) / c.slot)
		if n > MaxSlots {
			c.slot = ((o.WindowRetention/MaxSlots + time.Second - 1) / time.Second) * time.Second
			n = int64((o.WindowRetention + c.slot - 1) / c.slot)
		}
		// One slot more than the retention needs: the open one.
		c.ring = make([]sparse, n+1)
		for i := range c.ring {
			c.ring[i] = *newSparse(len(steps))
		}
		c.open = newSparse(len(steps))
	}
	return c
}

// Steps returns the step names, by index.
func (c *Collector) Steps() []string { return c.steps }

// Start is when the collector started.
func (c *Collector) Start() time.Time { return c.start }

// Retention is how far back windows reach (0: no windows).
func (c *Collector) Retention() time.Duration {
	if c.ring == nil {
		return 0
	}
	return time.Duration(len(c.ring)-1) * c.slot
}

// Shard returns the shard for a worker; workers spread over the shards.
func (c *Collector) Shard(worker int) *Shard {
	if worker < 0 {
		worker = -worker
	}
	return &c.shards[worker%len(c.shards)]
}

// Shard receives the measurements of the workers hashed onto it.
type Shard struct {
	mu    sync.Mutex
	cur   *interval
	spare *interval // swapped in by Flush; owned by Flush while swapped out
	_     [40]byte  // keep shards on separate cache lines
}

// RecordStep records one executed step: its status (0 when no response
// came), error class (ClassNone when it passed), failed assertion kind, and
// its corrected and service latencies.
func (s *Shard) RecordStep(step, status int, class ErrorClass, assertion Assertion, corrected, service time.Duration) {
	s.mu.Lock()
	iv := s.cur
	if step >= 0 && step < len(iv.steps) {
		st := &iv.steps[step]
		iv.used = true
		v, cl := micros(corrected)
		st.latency.RecordValue(v)
		w, cl2 := micros(service)
		st.service.RecordValue(w)
		iv.clamped += b2i(cl) + b2i(cl2)
		if status < 100 || status >= MaxStatus {
			status = 0
		}
		st.status[status]++
		if class >= NumErrorClasses {
			class = ClassOther
		}
		st.errors[class]++
		if assertion != AssertNone && assertion < NumAssertions {
			st.asserts[assertion]++
		}
	}
	s.mu.Unlock()
}

// RecordIteration records a finished iteration: its outcome, the class of
// its failure (ClassNone on success) and its latency from its due time.
// Use RecordDropped for dropped iterations.
func (s *Shard) RecordIteration(o Outcome, class ErrorClass, d time.Duration) {
	s.mu.Lock()
	iv := s.cur
	iv.used = true
	switch o {
	case Success:
		iv.its.Success++
	case Failure:
		iv.its.Failure++
		if class >= NumErrorClasses || class == ClassNone {
			class = ClassOther
		}
		iv.iterErr[class]++
	default:
		iv.its.Dropped++
		iv.iterErr[ClassDropped]++
		s.mu.Unlock()
		return
	}
	v, cl := micros(d)
	iv.iter.RecordValue(v)
	if cl {
		iv.clamped++
	}
	s.mu.Unlock()
}

// RecordDropped records n iterations dropped for being more than max_lag
// late (they count as failed iterations of class dropped).
func (s *Shard) RecordDropped(n uint64) {
	s.mu.Lock()
	s.cur.used = true
	s.cur.its.Dropped += int64(n)
	s.cur.iterErr[ClassDropped] += int64(n)
	s.mu.Unlock()
}

// RecordLag records generator lag: due → start while a slot was free.
func (s *Shard) RecordLag(d time.Duration) {
	s.mu.Lock()
	s.cur.used = true
	v, cl := micros(d)
	s.cur.lag.RecordValue(v)
	if cl {
		s.cur.clamped++
	}
	s.mu.Unlock()
}

// Flush closes the interval since the last Flush: it goes into the
// cumulative totals, the series, the current window slot and OnInterval.
// Call it from one goroutine, about once a second.
func (c *Collector) Flush(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now.Before(c.lastFlush) {
		now = c.lastFlush
	}
	acc := c.acc
	acc.reset()
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		full := sh.cur
		sh.cur, sh.spare = sh.spare, nil
		sh.mu.Unlock()
		// Merge outside the shard's lock: workers keep recording.
		acc.addDense(full)
		full.reset()
		sh.mu.Lock()
		sh.spare = full
		sh.mu.Unlock()
	}
	c.totals.add(acc)
	if c.o.OnInterval != nil {
		for i, name := range c.steps {
			lat, svc := NewHistogram(), NewHistogram()
			acc.steps[i].latency.MergeInto(lat)
			acc.steps[i].service.MergeInto(svc)
			c.o.OnInterval(Interval{Step: name, Start: c.lastFlush, End: now, Latency: lat, Service: svc})
		}
	}
	c.addToSeries(acc, now)
	if c.ring != nil {
		c.addToWindow(acc, now)
	}
	c.lastFlush = now
}

// ---------------------------------------------------------------- series

// Point is one point of the per-second series (SPEC §7 "series").
type Point struct {
	T      float64 `json:"t"`      // seconds since the start
	Rate   float64 `json:"rate"`   // completed iterations per second
	Errors float64 `json:"errors"` // failed (or dropped) iterations per second
	P50    float64 `json:"p50"`    // ms, iteration latency over the point
	P99    float64 `json:"p99"`    // ms
}

func (c *Collector) addToSeries(acc *sparse, now time.Time) {
	c.pending.add(acc)
	c.pendingN++
	if c.pendingN < c.res {
		return
	}
	p := c.pending
	secs := now.Sub(c.pendingAt).Seconds()
	pt := Point{T: round(c.pendingAt.Sub(c.start).Seconds(), 3)}
	if secs > 0 {
		pt.Rate = round(float64(p.its.Success+p.its.Failure)/secs, 3)
		pt.Errors = round(float64(p.its.Failure+p.its.Dropped)/secs, 3)
	}
	if p.iter.TotalCount() > 0 {
		pt.P50 = Millis(p.iter.ValueAtPercentile(50))
		pt.P99 = Millis(p.iter.ValueAtPercentile(99))
	}
	c.points = append(c.points, pt)
	p.reset()
	c.pendingN = 0
	c.pendingAt = now
	if len(c.points) >= c.o.SeriesCap {
		c.downsample()
	}
}

// downsample merges adjacent points and doubles the resolution of later
// ones, so the series never grows past its cap. Rates average exactly; the
// percentiles of a merged point are the mean p50 and the worst p99 (the
// histograms behind them are not kept).
func (c *Collector) downsample() {
	half := make([]Point, 0, (len(c.points)+1)/2)
	for i := 0; i < len(c.points); i += 2 {
		a := c.points[i]
		if i+1 < len(c.points) {
			b := c.points[i+1]
			a.Rate = round((a.Rate+b.Rate)/2, 3)
			a.Errors = round((a.Errors+b.Errors)/2, 3)
			a.P50 = round((a.P50+b.P50)/2, 3)
			a.P99 = max(a.P99, b.P99)
		}
		half = append(half, a)
	}
	c.points = half
	c.res *= 2
}

// Series returns the series so far (a copy).
func (c *Collector) Series() []Point {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Point(nil), c.points...)
}

// ---------------------------------------------------------------- totals

// Totals returns every measurement since the start, as of the last Flush.
func (c *Collector) Totals() *Snapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := NewSnapshot(c.steps)
	c.totals.mergeInto(s)
	s.Start, s.End = c.start, c.lastFlush
	return s
}

// Counts returns the iteration counts since the start (cheap: no
// histograms are copied).
func (c *Collector) Counts() IterationCounts {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.totals.its
}

// ---------------------------------------------------------------- windows

func (c *Collector) slotIndex(t time.Time) int64 {
	d := t.Sub(c.start)
	if d < 0 {
		return 0
	}
	return int64(d / c.slot)
}

func (c *Collector) addToWindow(acc *sparse, now time.Time) {
	idx := c.slotIndex(now)
	if c.openUsed && idx != c.openIdx {
		c.closeOpenSlot()
	}
	if !c.openUsed {
		c.open.reset()
		c.openIdx, c.openUsed = idx, true
	}
	c.open.add(acc)
}

// closeOpenSlot moves the open slot into the ring, over the oldest slot.
func (c *Collector) closeOpenSlot() {
	ps := &c.ring[c.openIdx%int64(len(c.ring))]
	ps.reset()
	ps.add(c.open)
	ps.idx = c.openIdx
	ps.compact()
	c.openUsed = false
}

// Window returns the measurements of the last d (at slot granularity) as of
// the last Flush. Without windows (WindowRetention 0) it is empty.
func (c *Collector) Window(now time.Time, d time.Duration) *Snapshot {
	return c.WindowSince(now, now.Add(-d))
}

// WindowSince returns the measurements since since (at slot granularity)
// as of the last Flush: every slot that ends after since.
func (c *Collector) WindowSince(now, since time.Time) *Snapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := NewSnapshot(c.steps)
	s.End = c.lastFlush
	if c.ring == nil {
		s.Start = c.lastFlush
		return s
	}
	lo := int64(-1)
	if since.After(c.start) {
		lo = int64(since.Sub(c.start) / c.slot)
	}
	// Slots older than the ring holds are gone.
	newest := c.slotIndex(c.lastFlush)
	if oldest := newest - int64(len(c.ring)) + 1; lo < oldest {
		lo = oldest
	}
	if lo < 0 {
		lo = 0
	}
	s.Start = c.start.Add(time.Duration(lo) * c.slot)
	for i := range c.ring {
		ps := &c.ring[i]
		if ps.idx >= lo && ps.idx >= 0 && (!c.openUsed || ps.idx != c.openIdx) {
			ps.mergeInto(s)
		}
	}
	if c.openUsed && c.openIdx >= lo {
		c.open.mergeInto(s)
	}
	return s
}

// ---------------------------------------------------------------- intervals

// interval is dense: what a shard records between flushes, and the
// accumulators built from them.
type interval struct {
	used    bool // anything recorded or merged since the last reset
	its     IterationCounts
	iterErr [NumErrorClasses]int64
	iter    *hdrhistogram.Histogram
	lag     *hdrhistogram.Histogram
	clamped int64
	steps   []stepInterval
}

type stepInterval struct {
	latency, service *hdrhistogram.Histogram
	status           [MaxStatus]int64
	errors           [NumErrorClasses]int64
	asserts          [NumAssertions]int64
}

func newInterval(steps int) *interval {
	iv := &interval{iter: NewHistogram(), lag: NewHistogram(), steps: make([]stepInterval, steps)}
	for i := range iv.steps {
		iv.steps[i].latency = NewHistogram()
		iv.steps[i].service = NewHistogram()
	}
	return iv
}

func (iv *interval) reset() {
	if !iv.used {
		return
	}
	iv.used = false
	iv.its = IterationCounts{}
	iv.iterErr = [NumErrorClasses]int64{}
	iv.clamped = 0
	resetIfUsed(iv.iter)
	resetIfUsed(iv.lag)
	for i := range iv.steps {
		st := &iv.steps[i]
		resetIfUsed(st.latency)
		resetIfUsed(st.service)
		st.status = [MaxStatus]int64{}
		st.errors = [NumErrorClasses]int64{}
		st.asserts = [NumAssertions]int64{}
	}
}

// resetIfUsed skips clearing ~190 KB of counts that are already zero.
func resetIfUsed(h *hdrhistogram.Histogram) {
	if h.TotalCount() > 0 {
		h.Reset()
	}
}

// sparse holds measurements in packed histograms and sparse status
// counts: the accumulators of a collector and the slots of its window ring.
type sparse struct {
	idx     int64 // ring slot number; -1 = empty
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
	status           map[int]int64
	errors           [NumErrorClasses]int64
	asserts          [NumAssertions]int64
}

func newSparse(steps int) *sparse {
	ps := &sparse{idx: -1, iter: newPacked(), lag: newPacked(), steps: make([]sparseStep, steps)}
	for i := range ps.steps {
		ps.steps[i] = sparseStep{latency: newPacked(), service: newPacked(), status: map[int]int64{}}
	}
	return ps
}

func (ps *sparse) reset() {
	ps.idx = -1
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

// compact shrinks a ring slot's storage to its contents.
func (ps *sparse) compact() {
	ps.iter.Compact()
	ps.lag.Compact()
	for i := range ps.steps {
		ps.steps[i].latency.Compact()
		ps.steps[i].service.Compact()
	}
}

// addDense adds a shard's dense interval.
func (ps *sparse) addDense(iv *interval) {
	if !iv.used {
		return
	}
	ps.used = true
	ps.its.add(iv.its)
	for c := range iv.iterErr {
		ps.iterErr[c] += iv.iterErr[c]
	}
	ps.clamped += iv.clamped
	mergeFromIfUsed(ps.iter, iv.iter)
	mergeFromIfUsed(ps.lag, iv.lag)
	for i := range iv.steps {
		a, b := &ps.steps[i], &iv.steps[i]
		mergeFromIfUsed(a.latency, b.latency)
		mergeFromIfUsed(a.service, b.service)
		if b.errors == ([NumErrorClasses]int64{}) {
			continue // no request: nothing else to add
		}
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

func mergeFromIfUsed(dst *hdrhistogram.PackedHistogram, src *hdrhistogram.Histogram) {
	if src.TotalCount() > 0 {
		dst.MergeFrom(src)
	}
}

// add adds another sparse interval.
func (ps *sparse) add(o *sparse) {
	if !o.used {
		return
	}
	ps.used = true
	ps.its.add(o.its)
	for c := range o.iterErr {
		ps.iterErr[c] += o.iterErr[c]
	}
	ps.clamped += o.clamped
	ps.iter.Merge(o.iter)
	ps.lag.Merge(o.lag)
	for i := range o.steps {
		a, b := &ps.steps[i], &o.steps[i]
		a.latency.Merge(b.latency)
		a.service.Merge(b.service)
		for code, n := range b.status {
			a.status[code] += n
		}
		for k, n := range b.errors {
			a.errors[k] += n
		}
		for k, n := range b.asserts {
			a.asserts[k] += n
		}
	}
}

// mergeInto adds ps into a snapshot's dense histograms.
func (ps *sparse) mergeInto(s *Snapshot) {
	if !ps.used {
		return
	}
	s.Iterations.add(ps.its)
	for c := range ps.iterErr {
		s.IterationErrors[c] += ps.iterErr[c]
	}
	s.Clamped += ps.clamped
	ps.iter.MergeInto(s.Iteration)
	ps.lag.MergeInto(s.Lag)
	for i := range ps.steps {
		a, b := &s.Steps[i], &ps.steps[i]
		b.latency.MergeInto(a.Latency)
		b.service.MergeInto(a.Service)
		for code, n := range b.status {
			a.Status[code] += n
		}
		for k, n := range b.errors {
			a.Errors[k] += n
		}
		for k, n := range b.asserts {
			a.Assertions[k] += n
		}
	}
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func round(v float64, digits int) float64 {
	p := 1.0
	for range digits {
		p *= 10
	}
	if v < 0 {
		return -float64(int64(-v*p+0.5)) / p
	}
	return float64(int64(v*p+0.5)) / p
}
