package stats

import "time"

// Point is one point of the report's per-second series.
type Point struct {
	T      float64 `json:"t"`      // seconds since the start
	Rate   float64 `json:"rate"`   // completed iterations per second
	Errors float64 `json:"errors"` // failed (or dropped) iterations per second
	P50    float64 `json:"p50"`    // ms, iteration latency over the point
	P99    float64 `json:"p99"`    // ms
}

// series is the per-second series, kept as counts over spans so that
// merging points when it is downsampled keeps rates exact.
type series struct {
	start   time.Time
	cap     int
	pts     []seriesPoint
	res     int     // flushes per point
	pending *sparse // the point being accumulated
	n       int     // flushes in pending
	at      time.Time
}

type seriesPoint struct {
	t, span      float64 // seconds since the start; seconds covered
	done, failed int64   // completed iterations; failed and dropped ones
	p50, p99     float64 // ms
}

func newSeries(start time.Time, capacity, steps int) series {
	return series{start: start, cap: capacity, res: 1, pending: newSparse(steps), at: start}
}

func (s *series) add(acc *sparse, now time.Time) {
	s.pending.add(acc)
	s.n++
	if s.n < s.res {
		return
	}
	p := s.pending
	pt := seriesPoint{
		t: s.at.Sub(s.start).Seconds(), span: now.Sub(s.at).Seconds(),
		done: p.its.Success + p.its.Failure, failed: p.its.Failure + p.its.Dropped,
	}
	if p.iter.TotalCount() > 0 {
		pt.p50 = Millis(p.iter.ValueAtPercentile(50))
		pt.p99 = Millis(p.iter.ValueAtPercentile(99))
	}
	s.pts = append(s.pts, pt)
	p.reset()
	s.n = 0
	s.at = now
	if len(s.pts) >= s.cap {
		s.downsample()
	}
}

// downsample merges adjacent points and doubles the resolution of later
// ones, so the series stays under its cap whatever the run length. Counts
// and spans add, so rates stay exact; the histograms behind the
// percentiles are not kept, so a merged point's p50 is the mean of its
// halves' weighted by iterations and its p99 the worse of the two.
func (s *series) downsample() {
	half := s.pts[:0]
	for i := 0; i < len(s.pts); i += 2 {
		a := s.pts[i]
		if i+1 < len(s.pts) {
			b := s.pts[i+1]
			if n := a.done + b.done; n > 0 {
				a.p50 = (a.p50*float64(a.done) + b.p50*float64(b.done)) / float64(n)
			}
			a.p99 = max(a.p99, b.p99)
			a.span += b.span
			a.done += b.done
			a.failed += b.failed
		}
		half = append(half, a)
	}
	clear(s.pts[len(half):])
	s.pts = half
	s.res *= 2
}

func (s *series) points() []Point {
	out := make([]Point, len(s.pts))
	for i, p := range s.pts {
		out[i] = Point{T: round(p.t, 3), P50: round(p.p50, 3), P99: round(p.p99, 3)}
		if p.span > 0 {
			out[i].Rate = round(float64(p.done)/p.span, 3)
			out[i].Errors = round(float64(p.failed)/p.span, 3)
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
