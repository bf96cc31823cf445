package report

import (
	"fmt"
	"html/template"
	"math"
	"strconv"
	"strings"
)

// xKind is what a chart's x axis shows.
type xKind int

const (
	xTime       xKind = iota // seconds since the start of the run
	xPercentile              // log10(1/(1−p)), see percentileX
)

// chart is one line chart: lines over a shared x grid, and thresholds
// (SLOs) drawn across it. It renders as an inline SVG that reads without
// JavaScript; report.js adds a readout under the pointer.
type chart struct {
	id, title string
	x         xKind
	xMax      float64   // the x axis's end (time: the run's length; percentile: decades)
	xs        []float64 // the grid, ascending
	yTitle    string    // "latency", "throughput"
	yUnit     string    // "ms", "/s", "%": latencies over 2 s are shown in s
	lines     []line
	marks     []threshold
	empty     string // shown instead of the plot when no line has a value
}

// line is one series of a chart; ys[i] is its value at xs[i], NaN where it
// has none (the line breaks there).
type line struct {
	name, color string
	dashed      bool
	ys          []float64
	// worst: when points are merged for drawing, keep the highest (a p99)
	// rather than the mean (a rate).
	worst bool
}

// threshold is an objective drawn across a chart at y; at a percentile
// (x not NaN) it is also marked where the curve must stay under it.
type threshold struct {
	label string
	y, x  float64
	pass  bool
}

// The chart's geometry, in SVG user units (the SVG scales to the page).
const (
	chartW      = 760.0
	chartLeft   = 64.0
	chartRight  = 20.0
	chartBottom = 44.0
	plotH       = 190.0
	charW       = 5.5 // an 11px character, for laying out labels
	// maxDrawn bounds the points of a line drawn: beyond it, neighbours
	// are merged, so a long run's page stays light.
	maxDrawn = 1000
)

var palette = []string{"#2563eb", "#9333ea", "#16a34a", "#ea580c", "#0891b2", "#be123c", "#4d7c0f", "#a16207", "#4338ca", "#0f766e", "#c026d3", "#525252"}

const sloColor = "#dc2626"

// render writes the chart's figure: the SVG, with its title, axes, tick
// labels, units, legend, thresholds and lines.
func (c *chart) render() template.HTML {
	c.thin()
	if !(c.xMax > 0) || !finite(c.xMax) {
		c.xMax = 1
	}
	if c.x == xPercentile { // room for an objective's percentile
		for _, m := range c.marks {
			if finite(m.x) {
				c.xMax = max(c.xMax, m.x+0.05)
			}
		}
	}
	var b strings.Builder
	esc := template.HTMLEscapeString
	fmt.Fprintf(&b, `<figure class="chart" id="%s">`, esc(c.id))

	dataMax, hasData := 0.0, false
	for _, l := range c.lines {
		for _, y := range l.ys {
			if valid(y) {
				dataMax = max(dataMax, y)
				hasData = true
			}
		}
	}

	// A threshold far above the data would flatten it: such a one is
	// named at the top of the chart instead of drawn.
	yMax := dataMax
	for _, m := range c.marks {
		if m.y <= 4*dataMax || dataMax == 0 {
			yMax = max(yMax, m.y)
		}
	}
	unit, scale := c.yUnit, 1.0
	if unit == "ms" && yMax >= 2000 {
		unit, scale = "s", 1e-3
	}
	yTicks, yTop := linearTicks(yMax*scale*1.04, 5)

	legend := c.legendRows()
	top := 30 + 16*float64(len(legend))
	h := top + plotH + chartBottom
	plotW := chartW - chartLeft - chartRight
	sx := func(x float64) float64 { return chartLeft + x/c.xMax*plotW }
	sy := func(y float64) float64 { return top + plotH - y*scale/yTop*plotH }

	xs := make([]string, len(c.xs))
	for i, x := range c.xs {
		xs[i] = strconv.FormatFloat(math.Round(x*1e4)/1e4, 'f', -1, 64) // enough for the readout
	}
	kind := "time"
	if c.x == xPercentile {
		kind = "pct"
	}
	fmt.Fprintf(&b, `<svg class="plot" viewBox="0 0 %.0f %.0f" role="img" aria-label="%s" data-xkind="%s" data-unit="%s" data-scale="%g" data-plot="%.1f %.1f %.1f %.1f %g" data-x="%s">`,
		chartW, h, esc(c.title), kind, esc(unit), scale, chartLeft, top, plotW, plotH, c.xMax, strings.Join(xs, " "))
	fmt.Fprintf(&b, `<title>%s</title>`, esc(c.title))
	fmt.Fprintf(&b, `<text class="chart-title" x="%.1f" y="18">%s</text>`, chartLeft, esc(c.title))

	// Axes: grid and tick labels, then each axis's title with its unit.
	b.WriteString(`<g class="axis axis-y">`)
	for _, t := range yTicks {
		y := top + plotH - t.v/yTop*plotH
		fmt.Fprintf(&b, `<line class="grid" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`, chartLeft, y, chartLeft+plotW, y)
		fmt.Fprintf(&b, `<text class="tick" x="%.1f" y="%.1f" text-anchor="end">%s</text>`, chartLeft-6, y+4, esc(t.label))
	}
	fmt.Fprintf(&b, `<text class="axis-title" transform="translate(16 %.1f) rotate(-90)" text-anchor="middle">%s (%s)</text>`, top+plotH/2, esc(c.yTitle), esc(unit))
	b.WriteString(`</g><g class="axis axis-x">`)
	var xTicks []tick
	xTitle := "time since the start"
	if c.x == xPercentile {
		xTicks = percentileTicks(int(math.Floor(c.xMax)))
		xTitle = "percentile (log scale of 1/(1−p))"
	} else {
		xTicks = timeTicks(c.xMax, 8)
	}
	for _, t := range xTicks {
		x := sx(t.v)
		anchor := "middle" // under its tick, or ending there at the right edge
		if x+charW*float64(len([]rune(t.label)))/2 > chartW-2 {
			anchor = "end"
		}
		fmt.Fprintf(&b, `<line class="grid" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`, x, top, x, top+plotH)
		fmt.Fprintf(&b, `<text class="tick" x="%.1f" y="%.1f" text-anchor="%s">%s</text>`, x, top+plotH+16, anchor, esc(t.label))
	}
	fmt.Fprintf(&b, `<text class="axis-title" x="%.1f" y="%.1f" text-anchor="middle">%s</text>`, chartLeft+plotW/2, h-8, esc(xTitle))
	fmt.Fprintf(&b, `<line class="frame" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/><line class="frame" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`,
		chartLeft, top, chartLeft, top+plotH, chartLeft, top+plotH, chartLeft+plotW, top+plotH)
	b.WriteString(`</g>`)

	if !hasData {
		fmt.Fprintf(&b, `<text class="empty" x="%.1f" y="%.1f" text-anchor="middle">%s</text>`, chartLeft+plotW/2, top+plotH/2, esc(c.empty))
	}
	fmt.Fprintf(&b, `<clipPath id="%s-clip"><rect x="%.1f" y="%.1f" width="%.1f" height="%.1f"/></clipPath>`, esc(c.id), chartLeft, top-4, plotW+4, plotH+8)
	fmt.Fprintf(&b, `<g class="lines" clip-path="url(#%s-clip)">`, esc(c.id))
	for _, l := range c.lines {
		c.renderLine(&b, l, sx, sy)
	}
	b.WriteString(`</g>`)
	// Over the lines, so that their labels stay legible.
	c.renderMarks(&b, sx, sy, top, yTop/scale)

	for row, items := range legend {
		y := 34 + 16*float64(row)
		x := chartLeft
		for _, i := range items {
			l := c.lines[i]
			dash := ""
			if l.dashed {
				dash = ` stroke-dasharray="5 3"`
			}
			fmt.Fprintf(&b, `<g class="legend-item"><line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2.5"%s/><text class="legend" x="%.1f" y="%.1f">%s</text></g>`,
				x, y-4, x+18, y-4, l.color, dash, x+23, y, esc(l.name))
			x += legendWidth(l.name)
		}
	}
	b.WriteString(`</svg></figure>`)
	return template.HTML(b.String())
}

// legendRows lays the legend out in rows that fit the chart's width.
func (c *chart) legendRows() [][]int {
	var rows [][]int
	x := chartW
	for i, l := range c.lines {
		w := legendWidth(l.name)
		if len(rows) == 0 || x+w > chartW-chartRight {
			rows = append(rows, nil)
			x = chartLeft
		}
		rows[len(rows)-1] = append(rows[len(rows)-1], i)
		x += w
	}
	return rows
}

func legendWidth(name string) float64 {
	return 23 + charW*float64(len([]rune(name))) + 12
}

// renderMarks draws the thresholds: a dashed line with the objective's
// text over it, or — when it is above the top — its text at the top.
func (c *chart) renderMarks(b *strings.Builder, sx, sy func(float64) float64, top, yTop float64) {
	if len(c.marks) == 0 {
		return
	}
	esc := template.HTMLEscapeString
	b.WriteString(`<g class="slos">`)
	right := chartW - chartRight
	above := 0
	var placed []float64 // label baselines so far, to keep labels apart
	for _, m := range c.marks {
		state := "fail"
		if m.pass {
			state = "pass"
		}
		if m.y > yTop {
			fmt.Fprintf(b, `<text class="slo-label slo-%s slo-above" x="%.1f" y="%.1f" text-anchor="end" fill="%s">↑ %s — above the chart</text>`,
				state, right-4, top+12+13*float64(above), sloColor, esc(m.label))
			above++
			continue
		}
		y := sy(m.y)
		fmt.Fprintf(b, `<line class="slo-line slo-%s" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-dasharray="6 4" stroke-width="1.5"/>`,
			state, chartLeft, y, right, y, sloColor)
		ly := y - 4
		for moved := true; moved; {
			moved = false
			for _, p := range placed {
				if math.Abs(p-ly) < 12 {
					ly, moved = p-12, true
				}
			}
		}
		ly = max(ly, top+10)
		placed = append(placed, ly)
		fmt.Fprintf(b, `<text class="slo-label slo-%s" x="%.1f" y="%.1f" text-anchor="end" fill="%s">%s</text>`, state, right-4, ly, sloColor, esc(m.label))
		if finite(m.x) && m.x <= c.xMax {
			fmt.Fprintf(b, `<circle class="slo-mark" cx="%.1f" cy="%.1f" r="4" fill="none" stroke="%s" stroke-width="1.5"/>`, sx(m.x), y, sloColor)
		}
	}
	b.WriteString(`</g>`)
}

// renderLine draws a line as one path (broken where it has no value),
// with its values for the readout.
func (c *chart) renderLine(b *strings.Builder, l line, sx, sy func(float64) float64) {
	var d, vals strings.Builder
	var lone []int // points with no neighbour: drawn as dots
	run := 0
	for i, y := range l.ys {
		if i > 0 {
			vals.WriteByte(' ')
		}
		if !valid(y) {
			if run == 1 {
				lone = append(lone, i-1)
			}
			run = 0
			vals.WriteByte('-')
			continue
		}
		vals.WriteString(strconv.FormatFloat(y, 'f', -1, 64))
		cmd := 'L'
		if run == 0 {
			cmd = 'M'
		}
		fmt.Fprintf(&d, "%c%.1f %.1f", cmd, sx(c.xs[i]), sy(y))
		run++
	}
	if run == 1 {
		lone = append(lone, len(l.ys)-1)
	}
	dash := ""
	if l.dashed {
		dash = ` stroke-dasharray="5 3"`
	}
	esc := template.HTMLEscapeString
	if d.Len() > 0 {
		fmt.Fprintf(b, `<path class="line" d="%s" fill="none" stroke="%s" stroke-width="1.8"%s data-name="%s" data-v="%s"/>`,
			d.String(), l.color, dash, esc(l.name), vals.String())
	}
	for _, i := range lone {
		fmt.Fprintf(b, `<circle class="dot" cx="%.1f" cy="%.1f" r="2" fill="%s"/>`, sx(c.xs[i]), sy(l.ys[i]), l.color)
	}
}

// thin merges neighbouring points until at most maxDrawn remain: the mean
// of a rate, the highest of a "worst" line; a merged point sits at its
// first x.
func (c *chart) thin() {
	if len(c.xs) <= maxDrawn {
		return
	}
	k := (len(c.xs) + maxDrawn - 1) / maxDrawn
	n := (len(c.xs) + k - 1) / k
	xs := make([]float64, n)
	for i := range xs {
		xs[i] = c.xs[i*k]
	}
	for li := range c.lines {
		l := &c.lines[li]
		ys := make([]float64, n)
		for i := range ys {
			sum, cnt, hi := 0.0, 0, math.NaN()
			for _, y := range l.ys[i*k : min((i+1)*k, len(l.ys))] {
				if valid(y) {
					sum += y
					cnt++
					if !(y <= hi) {
						hi = y
					}
				}
			}
			switch {
			case cnt == 0:
				ys[i] = math.NaN()
			case l.worst:
				ys[i] = hi
			default:
				ys[i] = sum / float64(cnt)
			}
		}
		l.ys = ys
	}
	c.xs = xs
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// valid is a value a chart can draw: counts, rates and latencies are
// never negative, so a negative one (from a hand-edited report) is none.
func valid(v float64) bool { return finite(v) && v >= 0 }
