package stats

import (
	"runtime"
	"slices"
	"sync"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Options configure a Collector.
type Options struct {
	// Shards is the number of independently locked recording shards;
	// default 4 × GOMAXPROCS. A shard's histograms become dense (~190 KB
	// each) only once it records more than a few dozen values between two
	// flushes, and give that memory back after about shedFlushes flushes
	// without, so shards little used cost little.
	Shards int
	// Rate is the expected arrival rate (iterations per second; 0 when
	// unknown). Shards allocate their dense histograms (~190 KB each) when
	// they first record more values between two flushes than their buffer
	// holds; at a rate that fills every shard's buffer each second they all
	// will, so they are allocated up front (shards+1 intervals × (2 per
	// step + 2) histograms). Memory is then flat from the first second
	// rather than climbing to the same bound over minutes as an open
	// model's workers spread over more shards.
	Rate float64
	// SeriesCap bounds the per-second series; past it adjacent points merge
	// and the resolution doubles. Default 3600.
	SeriesCap int
	// SeriesSpan, when set, is how far back the series reaches: points
	// that ended longer ago are let go, so that the series of a process
	// that runs for months keeps the resolution SeriesCap points give this
	// span instead of coarsening (and SeriesCap can be small).
	SeriesSpan time.Duration
	// WindowRetention is how far back sliding windows reach (0: no
	// windows); see window.go for how exact they are at each age.
	WindowRetention time.Duration
	// NoTotals leaves the cumulative totals out: Totals and Counts stay
	// empty. A daemon reads its checks through windows and the series;
	// exact totals of months of traffic cost hundreds of KB a check.
	NoTotals bool
	// OnInterval, when set, is called by Flush with each step's histograms
	// of the interval just closed (for the HdrHistogram interval log). The
	// histograms are reused: they are only valid during the call.
	OnInterval func(Interval)
}

// recentFlushes is how many flushes the collector's recent totals gather
// before they go into its totals.
const recentFlushes = 64

// shedFlushes is how many flushes a dense histogram may go unneeded before
// the collector lets it go (~190 KB each, up to (shards+1) × (2 per step +
// 2) of them): about two minutes at a flush a second. A collector whose
// Options.Rate allocated them up front keeps them.
const shedFlushes = 128

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

	mu sync.Mutex // guards everything below: Flush and the readers
	// spare is the one interval not in a shard: Flush swaps it into the
	// first shard it empties, that shard's interval into the next, and so
	// on, so recording never waits for a merge and the collector holds
	// shards+1 intervals, not two per shard.
	spare *interval
	// Every accumulator is sparse: merging sparse histograms touches only
	// their populated buckets.
	acc *sparse // scratch: the interval being flushed
	// The cumulative totals since the start are totals plus recent:
	// merging a flush into a packed histogram costs a pass over all its
	// buckets, so flushes go into the small recent, which goes into totals
	// only every recentFlushes.
	totals, recent *sparse
	recentN        int
	eager          bool // the dense histograms were allocated up front
	shedN          int  // flushes since the last shed
	conv           *hdrhistogram.PackedHistogram
	lastFlush      time.Time
	ivLat          *hdrhistogram.Histogram // OnInterval's scratch
	ivSvc          *hdrhistogram.Histogram

	series series
	win    *window // nil without windows
}

// NewCollector returns a collector for a scenario's steps, starting at start.
func NewCollector(steps []string, start time.Time, o Options) *Collector {
	if o.Shards <= 0 {
		o.Shards = 4 * runtime.GOMAXPROCS(0)
	}
	if o.SeriesCap <= 1 {
		o.SeriesCap = 3600
	}
	n := len(steps)
	c := &Collector{
		steps: append([]string(nil), steps...), start: start, o: o,
		shards: make([]Shard, o.Shards), spare: newInterval(n),
		acc: newSparse(n), totals: newSparse(n), recent: newSparse(n), conv: newPacked(), lastFlush: start,
		series: newSeries(start, o.SeriesCap, o.SeriesSpan, n),
	}
	for i := range c.shards {
		c.shards[i].cur = newInterval(n)
	}
	if o.Rate >= float64(recorderBuf*o.Shards) {
		c.eager = true
		c.spare.allocateDense()
		for i := range c.shards {
			c.shards[i].cur.allocateDense()
		}
	}
	if o.WindowRetention > 0 {
		c.win = newWindow(start, o.WindowRetention, n)
	}
	if o.OnInterval != nil {
		c.ivLat, c.ivSvc = NewHistogram(), NewHistogram()
	}
	return c
}

// Steps returns the step names, by index.
func (c *Collector) Steps() []string { return c.steps }

// Start is when the collector started.
func (c *Collector) Start() time.Time { return c.start }

// Retention is how far back windows reach (0: no windows).
func (c *Collector) Retention() time.Duration {
	if c.win == nil {
		return 0
	}
	// The tiers grow as the windows age, under Flush.
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.win.retention()
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
	mu  sync.Mutex
	cur *interval
	_   [48]byte // mutex and pointer: 16 bytes; keep shards on separate cache lines
}

// RecordStep records one executed step: its status (0 when no response
// came; anything outside 100–599 counts as 0), error class (ClassNone when
// it passed), failed assertion kind (AssertNone if none), and its corrected
// and service latencies. It does not allocate once the shard has seen as
// many values of the step.
func (s *Shard) RecordStep(step, status int, class ErrorClass, assertion Assertion, corrected, service time.Duration) {
	if status < 100 || status >= MaxStatus {
		status = 0
	}
	if class >= NumErrorClasses {
		class = ClassOther
	}
	v, cl := micros(corrected)
	w, cl2 := micros(service)
	s.mu.Lock()
	iv := s.cur
	if uint(step) < uint(len(iv.steps)) {
		st := &iv.steps[step]
		if st.status == nil {
			st.status = new([MaxStatus]int64) // once per interval and step
		}
		iv.used = true
		st.latency.record(v)
		st.service.record(w)
		iv.clamped += b2i(cl) + b2i(cl2)
		st.status[status]++
		st.errors[class]++
		// An assertion kind canary does not know has nothing to count under.
		if assertion != AssertNone && assertion < NumAssertions {
			st.asserts[assertion]++
		}
	}
	s.mu.Unlock()
}

// RecordIteration records a finished iteration: its outcome, the class of
// its failure (ClassNone on success) and its latency from its due time.
// A Dropped outcome counts one dropped iteration and no latency (see
// RecordDropped).
func (s *Shard) RecordIteration(o Outcome, class ErrorClass, d time.Duration) {
	if o != Success && o != Failure {
		s.RecordDropped(1)
		return
	}
	if o == Failure && (class >= NumErrorClasses || class == ClassNone) {
		class = ClassOther
	}
	v, cl := micros(d)
	s.mu.Lock()
	iv := s.cur
	iv.used = true
	if o == Success {
		iv.its.Success++
	} else {
		iv.its.Failure++
		iv.iterErr[class]++
	}
	iv.iter.record(v)
	iv.clamped += b2i(cl)
	s.mu.Unlock()
}

// RecordDropped records n iterations dropped for being more than max_lag
// late: failed iterations of class dropped, with no latency.
func (s *Shard) RecordDropped(n uint64) {
	s.mu.Lock()
	s.cur.used = true
	s.cur.its.Dropped += int64(n)
	s.cur.iterErr[ClassDropped] += int64(n)
	s.mu.Unlock()
}

// RecordLag records generator lag: due → start while a slot was free.
func (s *Shard) RecordLag(d time.Duration) {
	v, cl := micros(d)
	s.mu.Lock()
	iv := s.cur
	iv.used = true
	iv.lag.record(v)
	iv.clamped += b2i(cl)
	s.mu.Unlock()
}

// Flush closes the interval since the last Flush: it goes into the
// cumulative totals, the series, the current window slot and OnInterval.
// Call it from one goroutine, about once a second. A now before the last
// Flush is taken as the last Flush.
func (c *Collector) Flush(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now.Before(c.lastFlush) {
		now = c.lastFlush
	}
	acc := c.acc
	acc.reset()
	spare := c.spare
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		if !sh.cur.used {
			sh.mu.Unlock()
			continue
		}
		full := sh.cur
		sh.cur = spare
		sh.mu.Unlock()
		// Merge outside the shard's lock: its workers keep recording.
		acc.addInterval(full, c.conv)
		full.reset()
		spare = full
	}
	c.spare = spare
	if c.shedN++; c.shedN >= shedFlushes && !c.eager {
		c.shedN = 0
		c.shed()
	}
	if !c.o.NoTotals {
		c.recent.add(acc)
		if c.recentN++; c.recentN >= recentFlushes {
			c.totals.add(c.recent)
			c.recent.reset()
			c.recentN = 0
		}
	}
	if c.o.OnInterval != nil {
		for i, name := range c.steps {
			c.ivLat.Reset()
			c.ivSvc.Reset()
			acc.steps[i].latency.MergeInto(c.ivLat)
			acc.steps[i].service.MergeInto(c.ivSvc)
			c.o.OnInterval(Interval{Step: name, Start: c.lastFlush, End: now, Latency: c.ivLat, Service: c.ivSvc})
		}
	}
	c.series.add(acc, now)
	if c.win != nil {
		c.win.add(acc, c.lastFlush, now)
	}
	c.lastFlush = now
}

// shed lets go of the dense histograms no interval needed since the last
// shed (under c.mu: the spare is Flush's).
func (c *Collector) shed() {
	c.spare.shed()
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		sh.cur.shed()
		sh.mu.Unlock()
	}
}

// Series returns the per-second series so far (a copy), downsampled to
// fewer than SeriesCap points.
func (c *Collector) Series() []Point {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.series.points()
}

// Totals returns every measurement since the start, as of the last Flush
// (nothing with Options.NoTotals).
func (c *Collector) Totals() *Snapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := NewSnapshot(c.steps)
	c.totals.mergeInto(s)
	c.recent.mergeInto(s)
	s.Start, s.End = c.start, c.lastFlush
	return s
}

// Counts returns the iteration counts since the start, as of the last
// Flush (cheap: no histograms are copied; none with Options.NoTotals).
func (c *Collector) Counts() IterationCounts {
	c.mu.Lock()
	defer c.mu.Unlock()
	its := c.totals.its
	its.add(c.recent.its)
	return its
}

// Window returns the measurements of the last d as of the last Flush:
// the samples that completed within d of now, to within max(1 s, 2 % of
// d) (see window.go), and no further back than the retention.
// Snapshot.Start says where the counted span really begins, End is the last
// Flush. Without windows (WindowRetention 0) it is empty.
func (c *Collector) Window(now time.Time, d time.Duration) *Snapshot {
	return c.window(nil, now.Add(-d), false)
}

// WindowInto is Window written into s, whose memory it reuses (its
// histograms are about 190 KB each; judging a daemon's checks over their
// windows allocated little else), and returns it; s nil is a new snapshot.
func (c *Collector) WindowInto(s *Snapshot, now time.Time, d time.Duration) *Snapshot {
	return c.window(s, now.Add(-d), false)
}

// Windows writes Window(now, d) for each of ds into s in turn, from the
// shortest, and calls visit with each; it returns s (a new snapshot when s
// is nil). Windows ending at the same flush nest, so the slots are read
// once for all of them, where a Window each reads the newest slots again
// for every window: the burn rates of a policy's windows of 5 minutes to
// 30 days cost about what the longest does alone.
//
// visit runs under the collector's lock: it must neither call the
// collector nor modify the snapshot, which it may read only during the
// call.
func (c *Collector) Windows(s *Snapshot, now time.Time, ds []time.Duration, visit func(d time.Duration, s *Snapshot)) *Snapshot {
	if s == nil {
		s = NewSnapshot(c.steps)
	} else {
		s.reuse(c.steps)
	}
	sorted := slices.Clone(ds)
	slices.Sort(sorted)
	bs := make([]time.Time, len(sorted))
	for i, d := range sorted {
		bs[i] = now.Add(-d)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.win == nil {
		s.Start, s.End = c.lastFlush, c.lastFlush
		for _, d := range sorted {
			visit(d, s)
		}
		return s
	}
	c.win.queryNested(bs, c.lastFlush, s, func(j int, s *Snapshot) { visit(sorted[j], s) })
	return s
}

// WindowSince returns the measurements since since, as of the last Flush:
// never a sample that started before since, and every one that started
// after it except those in the slot where it falls (and, after a sample
// slower than the slots are wide, in the slots up to its completion).
// Snapshot.Start is where the counted span begins: since, or later.
func (c *Collector) WindowSince(now, since time.Time) *Snapshot {
	return c.window(nil, since, true)
}

// WindowCounts returns the iteration counts of Window(now, d), and where
// they begin, without copying a histogram: what an uptime over days needs,
// at a small part of a whole window's cost.
func (c *Collector) WindowCounts(now time.Time, d time.Duration) (its IterationCounts, from time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.win == nil {
		return its, c.lastFlush
	}
	return c.win.counts(now.Add(-d), c.lastFlush, false)
}

func (c *Collector) window(s *Snapshot, since time.Time, exact bool) *Snapshot {
	if s == nil {
		s = NewSnapshot(c.steps)
	} else {
		s.reuse(c.steps)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s.Start, s.End = c.lastFlush, c.lastFlush
	if c.win != nil {
		c.win.query(since, c.lastFlush, exact, s)
	}
	return s
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
