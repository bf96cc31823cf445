package web

import (
	"fmt"
	"html/template"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Charts are drawn on the server as SVG, with their axes, ticks, units and
// legend, so that the page needs no script and reads the same with
// JavaScript off: a y axis from 0 with round ticks (1, 2, 2.5, 5 × 10ⁿ) in
// the series' unit, a time axis in UTC with ticks on round minutes, hours or
// days, and a line per series that breaks where the check recorded nothing
// (a scheduled check between its runs) instead of drawing across the gap.

// line is one series of a chart.
type line struct {
	Name  string
	Color string
	Dash  bool
	T     []time.Time
	V     []float64
}

// rule is a horizontal line at a value: an SLO threshold.
type rule struct {
	Label string
	V     float64
}

// chart is one chart's content.
type chart struct {
	// Title names the chart in its aria-label; Unit is the y axis' unit
	// ("ms", "%", "/s"), printed on every tick label.
	Title, Unit string
	From, To    time.Time // the time axis
	Lines       []line
	Rules       []rule
	// Compact draws a small chart for a table row: two y ticks and the
	// time span instead of clock times.
	Compact bool
}

// The chart's geometry in SVG user units (the SVG scales to its box).
const (
	chartW, chartH         = 1080.0, 210.0
	padL, padR, padT, padB = 62.0, 24.0, 26.0, 34.0
	miniW, miniH           = 220.0, 56.0
	miniPadL, miniPadB     = 50.0, 14.0
)

// maxChartPoints bounds the points a line carries: the page stays small
// whatever the series holds.
const maxChartPoints = 400

// svg renders the chart.
func (c chart) svg() template.HTML {
	w, h, pl, pr, pt, pb := chartW, chartH, padL, padR, padT, padB
	if c.Compact {
		w, h, pl, pr, pt, pb = miniW, miniH, miniPadL, 4, 4, miniPadB
	}
	pw, ph := w-pl-pr, h-pt-pb
	if !c.To.After(c.From) {
		c.From = c.To.Add(-time.Minute)
	}
	top := 0.0
	points := 0
	for _, l := range c.Lines {
		for _, v := range l.V {
			if !math.IsNaN(v) && !math.IsInf(v, 0) {
				top = math.Max(top, v)
				points++
			}
		}
	}
	// A threshold far above the data would flatten it against the axis:
	// the scale reaches a threshold up to three times the data's top, and
	// the legend names the others.
	var drawn, above []rule
	for _, r := range c.Rules {
		if points == 0 || r.V <= 3*top {
			drawn = append(drawn, r)
			top = math.Max(top, r.V)
		} else {
			above = append(above, r)
		}
	}
	nTicks := 5
	if c.Compact {
		nTicks = 2
	}
	ticks := yTicks(top, nTicks)
	ymax := ticks[len(ticks)-1]
	x := func(t time.Time) float64 {
		return pl + pw*float64(t.Sub(c.From))/float64(c.To.Sub(c.From))
	}
	y := func(v float64) float64 { return pt + ph - ph*v/ymax }

	var b strings.Builder
	label := fmt.Sprintf("%s in %s, %s to %s UTC, %d points", c.Title, c.Unit,
		c.From.UTC().Format("2006-01-02 15:04"), c.To.UTC().Format("2006-01-02 15:04"), points)
	cls := "chart"
	if c.Compact {
		cls = "chart mini"
	}
	fmt.Fprintf(&b, `<svg class="%s" viewBox="0 0 %g %g" width="%g" height="%g" role="img" aria-label="%s" data-points="%d">`,
		cls, w, h, w, h, template.HTMLEscapeString(label), points)
	// The y axis: gridlines and labelled ticks.
	for _, tv := range ticks {
		yy := y(tv)
		fmt.Fprintf(&b, `<line class="grid" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`, pl, yy, pl+pw, yy)
		if !c.Compact || tv == 0 || tv == ymax {
			fmt.Fprintf(&b, `<text class="tick y" x="%.1f" y="%.1f" text-anchor="end">%s</text>`,
				pl-6, yy+4, template.HTMLEscapeString(tickLabel(tv, ticks, c.Unit)))
		}
	}
	// The time axis.
	fmt.Fprintf(&b, `<line class="axis" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`, pl, pt+ph, pl+pw, pt+ph)
	fmt.Fprintf(&b, `<line class="axis" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`, pl, pt, pl, pt+ph)
	if c.Compact {
		fmt.Fprintf(&b, `<text class="tick x" x="%.1f" y="%.1f">−%s</text>`, pl, h-2, template.HTMLEscapeString(span(c.To.Sub(c.From))))
		fmt.Fprintf(&b, `<text class="tick x" x="%.1f" y="%.1f" text-anchor="end">now</text>`, pl+pw, h-2)
	} else {
		step, format := timeStep(c.To.Sub(c.From))
		for t := c.From.UTC().Truncate(step); !t.After(c.To); t = t.Add(step) {
			if t.Before(c.From) {
				continue
			}
			xx := x(t)
			anchor := "middle"
			if xx > pl+pw-24 {
				anchor = "end" // the last tick's label stays inside the chart
			}
			fmt.Fprintf(&b, `<line class="axis" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`, xx, pt+ph, xx, pt+ph+4)
			fmt.Fprintf(&b, `<text class="tick x" x="%.1f" y="%.1f" text-anchor="%s">%s</text>`, xx, pt+ph+16, anchor, t.Format(format))
		}
		fmt.Fprintf(&b, `<text class="title" x="%.1f" y="%.1f" text-anchor="end">time (UTC)</text>`, pl+pw, h-2)
		fmt.Fprintf(&b, `<text class="title" x="%.1f" y="%.1f">%s</text>`, 4.0, 12.0, template.HTMLEscapeString(c.Unit))
	}
	for _, r := range drawn {
		yy := y(r.V)
		fmt.Fprintf(&b, `<line class="rule" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`, pl, yy, pl+pw, yy)
		if !c.Compact {
			fmt.Fprintf(&b, `<text class="rule-label" x="%.1f" y="%.1f" text-anchor="end">%s</text>`, pl+pw-2, yy-3, template.HTMLEscapeString(r.Label))
		}
	}
	// The lines, broken at gaps.
	for _, l := range c.Lines {
		dash := ""
		if l.Dash {
			dash = ` stroke-dasharray="4 3"`
		}
		for _, run := range runs(l, maxChartPoints) {
			if len(run) == 1 {
				p := run[0]
				fmt.Fprintf(&b, `<circle class="pt" cx="%.1f" cy="%.1f" r="2" fill="%s"/>`, x(l.T[p]), y(l.V[p]), l.Color)
				continue
			}
			b.WriteString(`<polyline class="series" fill="none" stroke="` + l.Color + `" stroke-width="1.6"` + dash + ` points="`)
			for i, p := range run {
				if i > 0 {
					b.WriteByte(' ')
				}
				fmt.Fprintf(&b, "%.1f,%.1f", x(l.T[p]), y(l.V[p]))
			}
			b.WriteString(`"/>`)
		}
	}
	// The legend.
	if !c.Compact {
		lx := pl + 8
		for _, l := range c.Lines {
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2"/>`, lx, 13.0, lx+14, 13.0, l.Color)
			fmt.Fprintf(&b, `<text class="legend" x="%.1f" y="%.1f">%s</text>`, lx+18, 17.0, template.HTMLEscapeString(l.Name))
			lx += 26 + 6.5*float64(len(l.Name))
		}
		for _, r := range above {
			text := r.Label + " (above the scale)"
			fmt.Fprintf(&b, `<line class="rule" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`, lx, 13.0, lx+14, 13.0)
			fmt.Fprintf(&b, `<text class="legend" x="%.1f" y="%.1f">%s</text>`, lx+18, 17.0, template.HTMLEscapeString(text))
			lx += 26 + 6.5*float64(len(text))
		}
	}
	if points == 0 {
		fmt.Fprintf(&b, `<text class="empty" x="%.1f" y="%.1f" text-anchor="middle">no data yet</text>`, pl+pw/2, pt+ph/2)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// runs splits a line into runs of consecutive points without a gap (a
// step more than three times the usual one), keeping at most limit points
// over all runs by taking every k-th. Values that are not numbers end a run.
func runs(l line, limit int) [][]int {
	n := min(len(l.T), len(l.V))
	if n == 0 {
		return nil
	}
	stride := 1
	if n > limit {
		stride = (n + limit - 1) / limit
	}
	var idx []int
	for i := 0; i < n; i += stride {
		idx = append(idx, i)
	}
	if idx[len(idx)-1] != n-1 {
		idx = append(idx, n-1)
	}
	gaps := make([]float64, 0, len(idx))
	for i := 1; i < len(idx); i++ {
		gaps = append(gaps, l.T[idx[i]].Sub(l.T[idx[i-1]]).Seconds())
	}
	usual := 0.0
	if len(gaps) > 0 {
		s := append([]float64(nil), gaps...)
		sort.Float64s(s)
		usual = s[len(s)/2]
	}
	var out [][]int
	var cur []int
	for k, i := range idx {
		v := l.V[i]
		if math.IsNaN(v) || math.IsInf(v, 0) {
			if len(cur) > 0 {
				out = append(out, cur)
			}
			cur = nil
			continue
		}
		if k > 0 && len(cur) > 0 && usual > 0 && gaps[k-1] > 3*usual {
			out = append(out, cur)
			cur = nil
		}
		cur = append(cur, i)
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// yTicks are round ticks from 0 to at least top: about n intervals of 1, 2,
// 2.5 or 5 × 10ⁿ.
func yTicks(top float64, n int) []float64 {
	if top <= 0 || math.IsNaN(top) || math.IsInf(top, 0) {
		top = 1
	}
	raw := top / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag * 10
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	k := math.Ceil(top/step - 1e-9)
	out := make([]float64, 0, int(k)+1)
	for i := 0.0; i <= k; i++ {
		out = append(out, i*step)
	}
	return out
}

// tickLabel prints a tick with as many decimals as the ticks' step needs.
func tickLabel(v float64, ticks []float64, unit string) string {
	step := 1.0
	if len(ticks) > 1 {
		step = ticks[1] - ticks[0]
	}
	dec := 0
	for s := step; s < 1 && dec < 6; s *= 10 {
		dec++
	}
	if step*math.Pow(10, float64(dec)) != math.Trunc(step*math.Pow(10, float64(dec))) {
		dec++ // 2.5, 0.25
	}
	text := strconv.FormatFloat(v, 'f', dec, 64)
	if unit == "/s" || unit == "%" {
		return text + unit
	}
	return text + " " + unit
}

// timeStep picks the time axis' tick interval and label format for a span:
// at most about six ticks, on round times.
func timeStep(d time.Duration) (time.Duration, string) {
	for _, s := range []struct {
		step   time.Duration
		format string
	}{
		{5 * time.Second, "15:04:05"}, {10 * time.Second, "15:04:05"}, {15 * time.Second, "15:04:05"}, {30 * time.Second, "15:04:05"},
		{time.Minute, "15:04"}, {2 * time.Minute, "15:04"}, {5 * time.Minute, "15:04"}, {10 * time.Minute, "15:04"},
		{15 * time.Minute, "15:04"}, {30 * time.Minute, "15:04"}, {time.Hour, "15:04"}, {2 * time.Hour, "15:04"},
		{3 * time.Hour, "15:04"}, {6 * time.Hour, "Jan 2 15:04"}, {12 * time.Hour, "Jan 2 15:04"},
		{24 * time.Hour, "Jan 2"}, {2 * 24 * time.Hour, "Jan 2"}, {7 * 24 * time.Hour, "Jan 2"},
	} {
		if d/s.step <= 6 {
			return s.step, s.format
		}
	}
	return 14 * 24 * time.Hour, "Jan 2"
}
