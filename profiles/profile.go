// Package profiles owns load shapes: how many iterations per second (open
// model) or how many virtual users (closed model) at each moment of a run.
// Profiles are pure functions of the elapsed time — no clocks, no goroutines —
// so the load engine can ask when the k-th iteration is due, and tests can
// check the answer without sleeping.
package profiles

import (
	"fmt"
	"math"
	"sort"
	"time"
)

// Model is how load is generated.
type Model int

// The load models.
const (
	Open       Model = iota // an arrival rate of iterations (targets are iterations/s)
	Closed                  // virtual users each looping iterations (targets are VUs)
	Iterations              // a fixed number of iterations over a fixed number of VUs
)

func (m Model) String() string {
	switch m {
	case Open:
		return "open"
	case Closed:
		return "closed"
	case Iterations:
		return "iterations"
	}
	return "unknown"
}

// Defaults of the open model (docs/profile.md).
const (
	DefaultMaxInflight = 1000
	DefaultMaxLag      = 10 * time.Second
)

// Bounds on what a profile may ask for.
const (
	MaxStages   = 10000
	MaxTarget   = 1e7
	MaxDuration = 365 * 24 * time.Hour
)

// Stage ramps the target linearly from the previous stage's target (the
// profile's Start for the first) to Target over Duration.
type Stage struct {
	Duration time.Duration
	Target   float64
}

// Profile is a validated load shape. Immutable; safe for concurrent use.
type Profile struct {
	Name        string
	Model       Model
	Stages      []Stage
	Start       float64
	MaxInflight int
	MaxLag      time.Duration
	Loop        bool
	// Iterations model: run Iterations iterations over Workers VUs.
	Iterations uint64
	Workers    int

	// Shape is a label for reports: "stages", "rate", "constant", "spike",
	// "sine", "steps", "iterations".
	Shape string

	sine *sineShape // set for a sine profile: exact formulas instead of stages

	// Precomputed for the open model.
	stageStart []time.Duration // elapsed time at which each stage starts
	stageFrom  []float64       // target at each stage's start
	cum        []float64       // iterations due by each stage's start
	total      time.Duration   // one pass of the stages
	perPass    float64         // iterations in one pass

	// Segment of a distributed run: this profile is slice seg of nseg
	// (0-based); nseg 0 or 1 means the whole.
	seg, nseg int
	// limit, when set, ends the profile there (WithDuration).
	limit time.Duration
	// Iterations model segment: the first global iteration number.
	iterOffset uint64
	vuCount    int // Iterations model: VUs of this segment
}

// sineShape is min + (max−min)·(1 − cos 2πt/P)/2: starting at min, peaking
// at max half-way through each period — a diurnal curve.
type sineShape struct {
	min, max float64
	period   time.Duration
	duration time.Duration
}

func (s *sineShape) rate(t float64) float64 {
	p := s.period.Seconds()
	return s.min + (s.max-s.min)*(1-math.Cos(2*math.Pi*t/p))/2
}

// count is ∫0..t rate.
func (s *sineShape) count(t float64) float64 {
	p := s.period.Seconds()
	return s.min*t + (s.max-s.min)/2*(t-p/(2*math.Pi)*math.Sin(2*math.Pi*t/p))
}

// prepare computes the cumulative tables. Called once by every constructor.
func (p *Profile) prepare() {
	if p.nseg == 0 {
		p.nseg = 1
	}
	if p.sine != nil {
		p.total = p.sine.duration
		p.perPass = p.sine.count(p.total.Seconds())
		return
	}
	n := len(p.Stages)
	p.stageStart = make([]time.Duration, n+1)
	p.stageFrom = make([]float64, n)
	p.cum = make([]float64, n+1)
	from := p.Start
	var t time.Duration
	var c float64
	for i, s := range p.Stages {
		p.stageStart[i] = t
		p.stageFrom[i] = from
		p.cum[i] = c
		c += (from + s.Target) / 2 * s.Duration.Seconds()
		t += s.Duration
		from = s.Target
	}
	p.stageStart[n] = t
	p.cum[n] = c
	p.total = t
	p.perPass = c
}

// Duration is the profile's length: one pass of its stages, or the time the
// Iterations model has no notion of (0). A looping profile runs forever: 0.
func (p *Profile) Duration() time.Duration {
	if p.limit > 0 {
		return p.limit
	}
	if p.Loop || p.Model == Iterations {
		return 0
	}
	return p.total
}

// WithDuration returns a copy of p that ends after d: a looping profile run
// for a while (an on-demand run of a daemon check), or a longer profile cut
// short. The Iterations model has no duration and is returned as it is.
func (p *Profile) WithDuration(d time.Duration) *Profile {
	if p.Model == Iterations || d <= 0 {
		return p
	}
	q := *p
	q.limit = d
	return &q
}

// PassDuration is the length of one pass of the stages, looping or not.
func (p *Profile) PassDuration() time.Duration { return p.total }

// wholeTarget is the whole (unsegmented) profile's target at elapsed t.
func (p *Profile) wholeTarget(t time.Duration) float64 {
	if t < 0 || p.total <= 0 || (p.limit > 0 && t >= p.limit) {
		return 0
	}
	if t >= p.total {
		if !p.Loop {
			return 0
		}
		t %= p.total
	}
	if p.sine != nil {
		return p.sine.rate(t.Seconds())
	}
	i := sort.Search(len(p.Stages), func(i int) bool { return p.stageStart[i+1] > t })
	if i >= len(p.Stages) {
		return 0
	}
	s := p.Stages[i]
	if s.Duration <= 0 {
		return s.Target
	}
	f := float64(t-p.stageStart[i]) / float64(s.Duration)
	return p.stageFrom[i] + (s.Target-p.stageFrom[i])*f
}

// Target is the rate (open model, iterations/s) or VU count (closed model)
// this profile — this segment — asks for at elapsed t.
func (p *Profile) Target(t time.Duration) float64 {
	if p.Model == Iterations {
		return float64(p.vus())
	}
	w := p.wholeTarget(t)
	if p.Model == Closed {
		return float64(p.VUs(t))
	}
	return w / float64(p.nseg)
}

// VUs is the closed model's VU count at t (rounded; for a segment its exact
// share, so that the segments' counts sum to the whole's), or the Iterations
// model's VUs.
func (p *Profile) VUs(t time.Duration) int {
	if p.Model == Iterations {
		return p.vus()
	}
	v := int(math.Round(p.wholeTarget(t)))
	return share(v, p.seg, p.nseg)
}

func (p *Profile) vus() int {
	if p.vuCount > 0 {
		return p.vuCount
	}
	return max(p.Workers, 1)
}

// share is the i-th of n integer shares of v that sum exactly to v.
func share(v, i, n int) int {
	if n <= 1 {
		return v
	}
	return v*(i+1)/n - v*i/n
}

// wholeCount is ∫0..t of the whole profile's rate (open model).
func (p *Profile) wholeCount(t time.Duration) float64 {
	if t <= 0 || p.total <= 0 {
		return 0
	}
	passes := 0.0
	if t >= p.total {
		if !p.Loop {
			return p.perPass
		}
		passes = math.Floor(float64(t) / float64(p.total))
		t -= time.Duration(passes) * p.total
	}
	if p.sine != nil {
		return passes*p.perPass + p.sine.count(t.Seconds())
	}
	i := sort.Search(len(p.Stages), func(i int) bool { return p.stageStart[i+1] > t })
	if i >= len(p.Stages) {
		return passes*p.perPass + p.perPass
	}
	s := p.Stages[i]
	tau := (t - p.stageStart[i]).Seconds()
	r0 := p.stageFrom[i]
	slope := 0.0
	if s.Duration > 0 {
		slope = (s.Target - r0) / s.Duration.Seconds()
	}
	return passes*p.perPass + p.cum[i] + r0*tau + slope*tau*tau/2
}

// Count is the number of iterations (of this segment) due by elapsed t.
func (p *Profile) Count(t time.Duration) float64 {
	return p.wholeCount(t) / float64(p.nseg)
}

// Due reports when this profile's k-th iteration (0-based) is due: the
// first moment the whole profile's integral exceeds its global number, so a
// constant 200/s is due at k/200 s and a stretch at rate 0 is skipped. False
// past the end. Monotone in k.
func (p *Profile) Due(k uint64) (time.Duration, bool) {
	if p.Model != Open {
		return 0, false
	}
	g := float64(p.Number(k))
	if p.perPass <= 0 {
		return 0, false
	}
	var base time.Duration
	if g >= p.perPass {
		if !p.Loop {
			return 0, false
		}
		passes := math.Floor(g / p.perPass)
		if passes*float64(p.total) > float64(math.MaxInt64)/2 {
			return 0, false
		}
		base = time.Duration(passes) * p.total
		g -= passes * p.perPass
	}
	var off float64
	if p.sine != nil {
		off = p.sineInverse(g)
	} else {
		off = p.stageInverse(g)
	}
	d := base + time.Duration(math.Round(off*1e9))
	if p.limit > 0 && d >= p.limit {
		return 0, false
	}
	return d, true
}

// stageInverse is the first elapsed time (s) in one pass at which the
// integral exceeds g (0 ≤ g < perPass).
func (p *Profile) stageInverse(g float64) float64 {
	// The stage where cum[i] ≤ g < cum[i+1] (stages without iterations are
	// never chosen, so a stretch at rate 0 is skipped).
	i := sort.Search(len(p.Stages), func(i int) bool { return p.cum[i+1] > g })
	if i >= len(p.Stages) {
		i = len(p.Stages) - 1
	}
	s := p.Stages[i]
	c := g - p.cum[i]
	r0 := p.stageFrom[i]
	a := 0.0
	if s.Duration > 0 {
		a = (s.Target - r0) / s.Duration.Seconds() / 2
	}
	// Solve a·τ² + r0·τ = c in the numerically stable form
	// τ = 2c / (r0 + √(r0² + 4ac)).
	tau := 0.0
	if c > 0 {
		disc := r0*r0 + 4*a*c
		if disc < 0 {
			disc = 0
		}
		den := r0 + math.Sqrt(disc)
		if den > 0 {
			tau = 2 * c / den
		}
	}
	if d := s.Duration.Seconds(); tau > d {
		tau = d
	}
	return p.stageStart[i].Seconds() + tau
}

// sineInverse solves count(t) = g by Newton's method from the mean-rate
// guess, falling back to bisection; count is monotone (rate ≥ 0).
func (p *Profile) sineInverse(g float64) float64 {
	s := p.sine
	hi := s.duration.Seconds()
	lo := 0.0
	mean := p.perPass / hi
	t := g / mean
	for range 50 {
		f := s.count(t) - g
		if math.Abs(f) < 1e-9 {
			break
		}
		if f > 0 {
			hi = t
		} else {
			lo = t
		}
		r := s.rate(t)
		next := t - f/r
		if r <= 0 || next <= lo || next >= hi {
			next = (lo + hi) / 2
		}
		t = next
	}
	return t
}

// Number maps this profile's k-th iteration to its global iteration number:
// segment i of n takes every n-th iteration of the whole schedule (open and
// closed models) or a contiguous range (Iterations model), so numbers are
// disjoint across segments and together cover the whole.
func (p *Profile) Number(k uint64) uint64 {
	if p.Model == Iterations {
		return p.iterOffset + k
	}
	n := uint64(max(p.nseg, 1))
	return k*n + uint64(p.seg)
}

// VUNumber maps a local VU index to a number disjoint across segments.
func (p *Profile) VUNumber(local int) int { return local*max(p.nseg, 1) + p.seg }

// Concurrency is the most iterations this profile runs at once, which is
// how many connections per host it needs: the open model's max_inflight,
// the closed model's peak VUs, the iteration workers.
func (p *Profile) Concurrency() int {
	switch p.Model {
	case Open:
		return p.MaxInflight
	case Closed:
		return max(int(p.PeakTarget()), 1)
	}
	return max(p.VUs(0), 1)
}

// PeakTarget is the highest rate (open) or VU count (closed) this profile
// reaches, for the safety caps.
func (p *Profile) PeakTarget() float64 {
	if p.Model == Iterations {
		return float64(p.vus())
	}
	peak := p.Start
	if p.sine != nil {
		peak = math.Max(p.sine.min, p.sine.max)
	}
	for _, s := range p.Stages {
		peak = math.Max(peak, s.Target)
	}
	if p.Model == Closed {
		return float64(share(int(math.Round(peak)), p.seg, p.nseg))
	}
	return peak / float64(p.nseg)
}

// Looping returns a copy of p that repeats its stages forever.
func (p *Profile) Looping() *Profile {
	q := *p
	q.Loop = true
	q.prepare()
	return &q
}

// Segment returns the i-th (0-based) of n equal slices of p, for a
// distributed run (docs/run.md): in the open model every n-th iteration of
// the whole schedule, so the rates divide exactly and iteration numbers are
// disjoint; in the closed model an integer share of the VUs at every
// moment, the shares summing to the whole; in the Iterations model a
// contiguous share of the iterations and VUs.
func (p *Profile) Segment(i, n int) (*Profile, error) {
	if n < 1 || i < 0 || i >= n {
		return nil, fmt.Errorf("segment %d of %d: want 0 ≤ i < n", i, n)
	}
	if p.nseg > 1 {
		return nil, fmt.Errorf("profile is already a segment")
	}
	q := *p
	q.seg, q.nseg = i, n
	if p.Model == Iterations {
		lo := p.Iterations * uint64(i) / uint64(n)
		hi := p.Iterations * uint64(i+1) / uint64(n)
		q.Iterations = hi - lo
		q.iterOffset = lo
		q.vuCount = max(share(max(p.Workers, 1), i, n), 1)
	}
	return &q, nil
}

// SegmentOf reports the segment (0-based) and the number of segments.
func (p *Profile) SegmentOf() (i, n int) { return p.seg, max(p.nseg, 1) }

// Describe is a JSON-friendly summary for the run report's "profile".
func (p *Profile) Describe() map[string]any {
	d := map[string]any{"model": p.Model.String(), "shape": p.Shape}
	if p.Name != "" {
		d["name"] = p.Name
	}
	switch p.Model {
	case Iterations:
		d["iterations"] = p.Iterations
		d["vus"] = p.vus()
	default:
		if p.sine != nil {
			d["sine"] = map[string]any{"min": p.sine.min, "max": p.sine.max, "period": p.sine.period.String(), "duration": p.sine.duration.String()}
		} else {
			stages := make([]map[string]any, len(p.Stages))
			for i, s := range p.Stages {
				stages[i] = map[string]any{"duration": s.Duration.String(), "target": s.Target}
			}
			d["stages"] = stages
			d["start"] = p.Start
		}
		d["duration"] = p.Duration().String()
		if p.limit > 0 {
			d["loop"] = false
		}
		if p.limit == 0 {
			d["loop"] = p.Loop
		}
		if p.Model == Open {
			d["max_inflight"] = p.MaxInflight
			d["max_lag"] = p.MaxLag.String()
		}
	}
	if p.nseg > 1 {
		d["segment"] = fmt.Sprintf("%d/%d", p.seg+1, p.nseg)
	}
	return d
}
