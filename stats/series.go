package stats

import "time"

// Point is one point of the per-second series of a report. Beyond the
// iteration rate and latency, it splits failures by class and carries
// each step's request rate and latency, so a report can plot them over
// time.
type Point struct {
	T      float64 `json:"t"`      // seconds since the start
	Rate   float64 `json:"rate"`   // completed iterations per second
	Errors float64 `json:"errors"` // failed (or dropped) iterations per second
	P50    float64 `json:"p50"`    // ms, iteration latency over the point
	P99    float64 `json:"p99"`    // ms
	// ErrorsByClass splits Errors by error class ("http_status",
	// "dropped"…); classes without failures are left out. Reports of
	// older versions have none.
	ErrorsByClass map[string]float64 `json:"errors_by_class,omitempty"`
	// Steps holds the first MaxSeriesSteps steps of the report, in its
	// order. Reports of older versions have none.
	Steps []StepPoint `json:"steps,omitempty"`
}

// StepPoint is one step's part of a series point.
type StepPoint struct {
	Rate float64 `json:"rate"` // requests per second
	P50  float64 `json:"p50"`  // ms, corrected latency; 0 without requests
	P99  float64 `json:"p99"`  // ms
}

// MaxSeriesSteps bounds the steps a series point carries, so that the
// series of a scenario with many steps stays a few megabytes at most.
// Steps past it are still in the report's totals and histograms.
const MaxSeriesSteps = 20

// series is the per-second series, kept as counts over spans so that
// merging points when it is downsampled keeps rates exact.
type series struct {
	start   time.Time
	cap     int
	span    time.Duration // how far back points are kept (0: since start)
	pts     []seriesPoint
	res     int     // flushes per point
	pending *sparse // the point being accumulated
	n       int     // flushes in pending
	at      time.Time
	steps   int // steps kept per point: at most MaxSeriesSteps
}

type seriesPoint struct {
	t, span      float64                // seconds since the start; seconds covered
	done, failed int64                  // completed iterations; failed and dropped ones
	p50, p99     float64                // ms
	classes      [NumErrorClasses]int64 // failed and dropped iterations by class
	steps        []stepSeriesPoint
}

type stepSeriesPoint struct {
	requests int64
	p50, p99 float64 // ms, corrected
}

func newSeries(start time.Time, capacity int, span time.Duration, steps int) series {
	return series{start: start, cap: capacity, span: span, res: 1, pending: newSparse(steps), at: start, steps: min(steps, MaxSeriesSteps)}
}

func (s *series) add(acc *sparse, now time.Time) {
	s.pending.addForSeries(acc)
	s.n++
	if s.n < s.res {
		return
	}
	p := s.pending
	pt := seriesPoint{
		t: s.at.Sub(s.start).Seconds(), span: now.Sub(s.at).Seconds(),
		done: p.its.Success + p.its.Failure, failed: p.its.Failure + p.its.Dropped,
		classes: p.iterErr,
	}
	if p.iter.TotalCount() > 0 {
		pt.p50 = Millis(p.iter.ValueAtPercentile(50))
		pt.p99 = Millis(p.iter.ValueAtPercentile(99))
	}
	if s.steps > 0 {
		pt.steps = make([]stepSeriesPoint, s.steps)
		for i := range pt.steps {
			h := p.steps[i].latency
			if n := h.TotalCount(); n > 0 {
				pt.steps[i] = stepSeriesPoint{requests: n, p50: Millis(h.ValueAtPercentile(50)), p99: Millis(h.ValueAtPercentile(99))}
			}
		}
	}
	s.pts = append(s.pts, pt)
	p.reset()
	s.n = 0
	s.at = now
	if s.span > 0 {
		s.forget(now.Add(-s.span).Sub(s.start).Seconds())
	}
	if len(s.pts) >= s.cap {
		s.downsample()
	}
}

// forget lets go of the points that ended at or before t (seconds since the
// start), moving the others to the front of the same array.
func (s *series) forget(t float64) {
	i := 0
	for i < len(s.pts) && s.pts[i].t+s.pts[i].span <= t {
		i++
	}
	if i == 0 {
		return
	}
	n := copy(s.pts, s.pts[i:])
	clear(s.pts[n:])
	s.pts = s.pts[:n]
}

// downsample merges adjacent points and doubles the resolution of later
// ones, so the series stays under its cap whatever the run length. Counts
// and spans add, so rates stay exact; the histograms behind the
// percentiles are not kept, so a merged point's p50 is the mean of its
// halves' weighted by iterations (requests, for a step) and its p99 the
// worse of the two.
func (s *series) downsample() {
	half := s.pts[:0]
	for i := 0; i < len(s.pts); i += 2 {
		a := s.pts[i]
		if i+1 < len(s.pts) {
			b := s.pts[i+1]
			a.p50 = weighted(a.p50, a.done, b.p50, b.done)
			a.p99 = max(a.p99, b.p99)
			a.span += b.span
			a.done += b.done
			a.failed += b.failed
			for c := range a.classes {
				a.classes[c] += b.classes[c]
			}
			for j := range a.steps {
				x, y := &a.steps[j], b.steps[j]
				x.p50 = weighted(x.p50, x.requests, y.p50, y.requests)
				x.p99 = max(x.p99, y.p99)
				x.requests += y.requests
			}
		}
		half = append(half, a)
	}
	clear(s.pts[len(half):])
	s.pts = half
	s.res *= 2
}

// weighted is the mean of a and b weighted by na and nb (0 when both are
// empty).
func weighted(a float64, na int64, b float64, nb int64) float64 {
	if n := na + nb; n > 0 {
		return (a*float64(na) + b*float64(nb)) / float64(n)
	}
	return 0
}

func (s *series) points() []Point {
	out := make([]Point, len(s.pts))
	for i, p := range s.pts {
		out[i] = Point{T: round(p.t, 3), P50: round(p.p50, 3), P99: round(p.p99, 3)}
		if p.span <= 0 {
			continue
		}
		out[i].Rate = round(float64(p.done)/p.span, 3)
		out[i].Errors = round(float64(p.failed)/p.span, 3)
		for c, n := range p.classes {
			if n > 0 && ErrorClass(c) != ClassNone {
				if out[i].ErrorsByClass == nil {
					out[i].ErrorsByClass = map[string]float64{}
				}
				out[i].ErrorsByClass[ErrorClass(c).String()] = round(float64(n)/p.span, 3)
			}
		}
		if len(p.steps) > 0 {
			out[i].Steps = make([]StepPoint, len(p.steps))
			for j, st := range p.steps {
				out[i].Steps[j] = StepPoint{Rate: round(float64(st.requests)/p.span, 3), P50: round(st.p50, 3), P99: round(st.p99, 3)}
			}
		}
	}
	return out
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
