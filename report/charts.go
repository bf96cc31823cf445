package report

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/canaryproj/canary/slo"
	"github.com/canaryproj/canary/stats"
)

// charts are the plots of a report, in the order the page shows them.
type charts struct {
	spectra  []chart // the iteration's, then each step's
	overTime []chart // throughput, errors, the iteration's latency, each step's
	notes    []string
}

// buildCharts plots a report: what it holds decides what is drawn, so a
// report of an older version (no per-step or per-class series, no
// iteration histogram) still renders with the charts it can fill.
func buildCharts(r *stats.Report) charts {
	var out charts
	objs := objectives(r, &out.notes)
	steps := r.Steps[:min(len(r.Steps), stats.MaxSeriesSteps)]
	if len(r.Steps) > len(steps) {
		out.notes = append(out.notes, fmt.Sprintf("Only the first %d of %d steps are plotted; the tables have them all.", len(steps), len(r.Steps)))
	}

	if r.HDR != "" {
		c, err := spectrum("spectrum-iteration", "Iteration latency by percentile", []histLine{{"iteration", palette[0], false, r.HDR}})
		if err != nil {
			out.notes = append(out.notes, "The iteration's histogram does not decode: "+err.Error())
		} else {
			c.marks = latencyMarks(objs, "", true)
			out.spectra = append(out.spectra, c)
		}
	}
	for i, s := range steps {
		c, err := spectrum(fmt.Sprintf("spectrum-step-%d", i), fmt.Sprintf("%s: latency by percentile, corrected and service", s.Name), []histLine{
			{"corrected (from the due time)", palette[0], false, s.HDR.Latency},
			{"service (from the send)", palette[2], true, s.HDR.Service},
		})
		if err != nil {
			out.notes = append(out.notes, fmt.Sprintf("Step %q: %v", s.Name, err))
			continue
		}
		c.marks = latencyMarks(objs, s.Name, true)
		out.spectra = append(out.spectra, c)
	}

	series := cleanSeries(r.Series)
	xs, xMax := seriesGrid(series, r.DurationS)
	pick := func(f func(stats.Point) float64) []float64 {
		ys := make([]float64, len(series))
		for i, p := range series {
			ys[i] = f(p)
		}
		return ys
	}
	timeChart := func(id, title, yTitle, unit, empty string) chart {
		return chart{id: id, title: title, x: xTime, xMax: xMax, xs: xs, yTitle: yTitle, yUnit: unit, empty: empty}
	}

	tp := timeChart("throughput", "Throughput", "throughput", "/s", "no iterations")
	tp.lines = append(tp.lines, line{name: "iterations/s", color: palette[0], ys: pick(func(p stats.Point) float64 { return p.Rate })})
	for i, s := range steps {
		ys := pick(func(p stats.Point) float64 {
			if i < len(p.Steps) {
				return p.Steps[i].Rate
			}
			return math.NaN()
		})
		if slices.ContainsFunc(ys, valid) {
			tp.lines = append(tp.lines, line{name: s.Name + " requests/s", color: palette[(i+1)%len(palette)], dashed: true, ys: ys})
		}
	}
	for _, o := range objs {
		if o.Kind == slo.KindRPS {
			tp.marks = append(tp.marks, o.mark(o.Target))
		}
	}
	out.overTime = append(out.overTime, tp)
	out.overTime = append(out.overTime, errorsChart(series, r.DurationS, timeChart("errors", "Failed iterations by error class", "failed iterations", "%", "no iterations"), objs))

	il := timeChart("latency-iteration", "Iteration latency over time (corrected)", "latency", "ms", "no iterations")
	il.lines = []line{
		{name: "p50", color: palette[2], ys: pick(func(p stats.Point) float64 { return latencyAt(p.P50, p.Rate) })},
		{name: "p99", color: palette[1], worst: true, ys: pick(func(p stats.Point) float64 { return latencyAt(p.P99, p.Rate) })},
	}
	il.marks = latencyMarks(objs, "", false)
	out.overTime = append(out.overTime, il)
	for i, s := range steps {
		at := func(f func(stats.StepPoint) float64) []float64 {
			return pick(func(p stats.Point) float64 {
				if i < len(p.Steps) {
					return latencyAt(f(p.Steps[i]), p.Steps[i].Rate)
				}
				return math.NaN()
			})
		}
		c := timeChart(fmt.Sprintf("latency-step-%d", i), fmt.Sprintf("%s: latency over time (corrected)", s.Name), "latency", "ms",
			"no requests in the series (a report of an older canary has no per-step series)")
		c.lines = []line{
			{name: "p50", color: palette[2], ys: at(func(p stats.StepPoint) float64 { return p.P50 })},
			{name: "p99", color: palette[1], worst: true, ys: at(func(p stats.StepPoint) float64 { return p.P99 })},
		}
		c.marks = latencyMarks(objs, s.Name, false)
		out.overTime = append(out.overTime, c)
	}
	return out
}

// latencyAt is a point's latency, or none when nothing completed in it
// (the series then says 0, which is not a latency).
func latencyAt(ms, rate float64) float64 {
	if rate > 0 {
		return ms
	}
	return math.NaN()
}

// cleanSeries returns the points of a series in time order, without those
// at no time (a hand-edited report): the time charts' grid must ascend.
func cleanSeries(pts []stats.Point) []stats.Point {
	out := make([]stats.Point, 0, len(pts))
	for _, p := range pts {
		if valid(p.T) {
			out = append(out, p)
		}
	}
	slices.SortStableFunc(out, func(a, b stats.Point) int { return cmp.Compare(a.T, b.T) })
	return out
}

// seriesGrid is the x grid of the time charts and the axis's end: the
// run's length, or the series' own when that is longer.
func seriesGrid(series []stats.Point, duration float64) ([]float64, float64) {
	xs := make([]float64, len(series))
	xMax := 0.0
	if valid(duration) {
		xMax = duration
	}
	for i, p := range series {
		xs[i] = p.T
		xMax = max(xMax, p.T)
	}
	if !(xMax > 0) {
		xMax = 1
	}
	return xs, xMax
}

// errorsChart plots the share of iterations that failed, in all and by
// class, per point: a ratio, so an error objective is a line across it.
func errorsChart(series []stats.Point, duration float64, c chart, objs []objective) chart {
	total := make([]float64, len(series))
	byClass := map[stats.ErrorClass][]float64{}
	for i, p := range series {
		// Every iteration is completed (Rate) or dropped; dropped ones are
		// a class of failure. A report without classes counts none dropped.
		all := p.Rate + p.ErrorsByClass[stats.ClassDropped.String()]
		if !(all > 0) {
			total[i] = math.NaN()
			continue
		}
		total[i] = min(100, 100*p.Errors/all)
		for name, v := range p.ErrorsByClass {
			cl, ok := stats.ParseErrorClass(name)
			if !ok || cl == stats.ClassNone {
				continue
			}
			if byClass[cl] == nil {
				byClass[cl] = make([]float64, len(series))
			}
			byClass[cl][i] = min(100, 100*v/all)
		}
	}
	// A class is 0 % where the point has iterations and none of that class.
	for _, ys := range byClass {
		for i := range ys {
			if !valid(total[i]) {
				ys[i] = math.NaN()
			}
		}
	}
	c.lines = append(c.lines, line{name: "all failures", color: "#111827", worst: true, ys: total},
		line{name: "all failures since the start", color: "#c2410c", ys: sinceStart(series, duration)})
	for _, cl := range stats.ErrorClasses() {
		if ys := byClass[cl]; ys != nil {
			c.lines = append(c.lines, line{name: cl.String(), color: palette[(int(cl)+2)%len(palette)], dashed: true, worst: true, ys: ys})
		}
	}
	for _, o := range objs {
		switch o.Kind {
		case slo.KindErrors:
			c.marks = append(c.marks, o.mark(100*o.Target))
		case slo.KindSuccess:
			c.marks = append(c.marks, o.mark(100*(1-o.Target)))
		}
	}
	return c
}

// sinceStart is, at each point, the share of iterations that failed from
// the start to the end of the point: what an error objective over the run
// judges, as it stood then. Rates are turned back into counts with the
// points' spans (the next point's start, or the run's end, minus theirs).
func sinceStart(series []stats.Point, duration float64) []float64 {
	ys := make([]float64, len(series))
	var failed, all float64
	for i, p := range series {
		end := duration
		if i+1 < len(series) {
			end = series[i+1].T
		}
		if span := end - p.T; span > 0 && finite(span) && valid(p.Rate) && valid(p.Errors) {
			failed += p.Errors * span
			all += (p.Rate + p.ErrorsByClass[stats.ClassDropped.String()]) * span
		}
		ys[i] = math.NaN()
		if all > 0 {
			ys[i] = min(100, 100*failed/all)
		}
	}
	return ys
}

// histLine is a line of a percentile spectrum: an encoded histogram (µs).
type histLine struct {
	name, color string
	dashed      bool
	hdr         string
}

// spectrum plots histograms as HdrHistogram's percentile distribution:
// the latency at each percentile, on a grid of 50 points per nine, up to
// the highest percentile the count resolves, 1 − 1/n, where the line ends
// at the maximum.
func spectrum(id, title string, hls []histLine) (chart, error) {
	hs := make([]*hdrhistogram.Histogram, len(hls))
	ends := make([]float64, len(hls)) // log10(n): where each line ends
	xEnd := 0.0
	for i, hl := range hls {
		h, err := stats.DecodeHistogram(hl.hdr)
		if err != nil {
			return chart{}, fmt.Errorf("%s histogram: %w", hl.name, err)
		}
		hs[i] = h
		if n := h.TotalCount(); n > 0 {
			ends[i] = math.Log10(float64(n))
			xEnd = max(xEnd, ends[i])
		}
	}
	const perNine = 50
	var xs []float64
	for k := 0; float64(k)/perNine < xEnd; k++ {
		xs = append(xs, float64(k)/perNine)
	}
	xs = append(xs, ends...)
	slices.Sort(xs)
	xs = slices.Compact(xs)

	// The axis ends a little past the last line (at 99 % at least).
	c := chart{id: id, title: title, x: xPercentile, xMax: max(2, xEnd+0.05), xs: xs,
		yTitle: "latency", yUnit: "ms", empty: "no requests"}
	for i, hl := range hls {
		ys := make([]float64, len(xs))
		h := hs[i]
		if h.TotalCount() == 0 {
			for j := range ys {
				ys[j] = math.NaN()
			}
			c.lines = append(c.lines, line{name: hl.name, color: hl.color, dashed: hl.dashed, ys: ys})
			continue
		}
		ps := make([]float64, len(xs))
		for j, x := range xs {
			ps[j] = 100 * (1 - math.Pow(10, -x))
		}
		vs := h.ValueAtPercentilesSlice(ps)
		for j, x := range xs {
			switch {
			case x > ends[i]+1e-9:
				ys[j] = math.NaN()
			case x >= ends[i]-1e-9:
				ys[j] = stats.Millis(h.Max())
			default:
				ys[j] = stats.Millis(vs[j])
			}
		}
		c.lines = append(c.lines, line{name: hl.name, color: hl.color, dashed: hl.dashed, ys: ys})
	}
	return c, nil
}

// objective is an SLO of the report as a chart draws it.
type objective struct {
	slo.Objective
	label string
	pass  bool
}

func (o objective) mark(y float64) threshold {
	return threshold{label: o.label, y: y, x: math.NaN(), pass: o.pass}
}

// objectives reads the report's SLOs back into objectives. One whose
// expression canary cannot read (a report of another version) is named in
// a note instead of drawn.
func objectives(r *stats.Report, notes *[]string) []objective {
	var out []objective
	steps := make([]slo.StepInfo, len(r.Steps))
	for i, st := range r.Steps {
		steps[i] = slo.StepInfo{Name: st.Name, Method: st.Method, Tags: st.Tags}
	}
	for _, s := range r.SLOs {
		o, err := slo.ParseExpr(s.Expr)
		if err == nil {
			err = o.Bind(steps)
		}
		if err != nil {
			*notes = append(*notes, fmt.Sprintf("The SLO %q is not drawn: %v", s.Expr, err))
			continue
		}
		verdict := "fail"
		if s.Pass {
			verdict = "pass"
		}
		out = append(out, objective{Objective: o, label: strings.TrimSpace(s.Expr) + ": " + verdict, pass: s.Pass})
	}
	return out
}

// latencyMarks are the latency objectives on step's latency ("" is the
// whole iteration), in ms: a step's charts carry the objectives over the
// requests it is among (all of them for an unqualified p99). On a
// spectrum, a percentile objective is also marked at its percentile.
func latencyMarks(objs []objective, step string, spectrum bool) []threshold {
	var out []threshold
	for _, o := range objs {
		if o.Kind != slo.KindLatency || o.OnRequests() != (step != "") || step != "" && !slices.Contains(o.Steps, step) {
			continue
		}
		m := o.mark(o.Target * 1000)
		if spectrum && o.Stat == slo.Percentile {
			m.x = percentileX(o.Percentile)
		}
		out = append(out, m)
	}
	return out
}
