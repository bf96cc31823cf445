package web

import (
	"math"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestYTicks(t *testing.T) {
	for _, tc := range []struct {
		name string
		top  float64
		n    int
		want []float64
	}{
		{"round", 20, 4, []float64{0, 5, 10, 15, 20}},
		{"odd top rounds up", 18.75, 4, []float64{0, 5, 10, 15, 20}},
		{"small", 0.9, 4, []float64{0, 0.25, 0.5, 0.75, 1}},
		{"large", 912, 5, []float64{0, 200, 400, 600, 800, 1000}},
		{"empty chart", 0, 4, []float64{0, 0.25, 0.5, 0.75, 1}},
		{"not a number", math.NaN(), 4, []float64{0, 0.25, 0.5, 0.75, 1}},
		{"compact", 412, 2, []float64{0, 250, 500}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := yTicks(tc.top, tc.n)
			require.Len(t, got, len(tc.want))
			for i := range got {
				assert.InDelta(t, tc.want[i], got[i], 1e-9, "yTicks(%v, %d)[%d]", tc.top, tc.n, i)
			}
		})
	}
}

func TestTickLabels(t *testing.T) {
	assert.Equal(t, "0.25 ms", tickLabel(0.25, []float64{0, 0.25, 0.5}, "ms"))
	assert.Equal(t, "2.5%", tickLabel(2.5, []float64{0, 2.5, 5}, "%"))
	assert.Equal(t, "400 ms", tickLabel(400, []float64{0, 200, 400}, "ms"))
	assert.Equal(t, "10/s", tickLabel(10, []float64{0, 5, 10}, "/s"))
}

func TestTimeSteps(t *testing.T) {
	for _, tc := range []struct {
		span time.Duration
		step time.Duration
	}{
		{30 * time.Second, 5 * time.Second},
		{time.Minute, 10 * time.Second},
		{time.Hour, 10 * time.Minute},
		{24 * time.Hour, 6 * time.Hour},
		{30 * 24 * time.Hour, 7 * 24 * time.Hour},
	} {
		step, _ := timeStep(tc.span)
		assert.Equal(t, tc.step, step, "timeStep(%v)", tc.span)
		assert.LessOrEqual(t, int(tc.span/step), 6, "at most six ticks over %v", tc.span)
	}
}

func TestRunsBreakAtGaps(t *testing.T) {
	t0 := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	var l line
	for _, s := range []int{0, 1, 2, 3, 60, 61, 62, 63, 64} { // a scheduled check's two runs
		l.T = append(l.T, t0.Add(time.Duration(s)*time.Second))
		l.V = append(l.V, float64(s))
	}
	l.V[6] = math.NaN()
	assert.Equal(t, [][]int{{0, 1, 2, 3}, {4, 5}, {7, 8}}, runs(l, 100))

	// Past the limit, every k-th point (and the last) is kept.
	var long line
	for i := 0; i < 1000; i++ {
		long.T = append(long.T, t0.Add(time.Duration(i)*time.Second))
		long.V = append(long.V, 1)
	}
	rs := runs(long, 100)
	require.Len(t, rs, 1)
	assert.LessOrEqual(t, len(rs[0]), 101)
	assert.Equal(t, 999, rs[0][len(rs[0])-1])
}

func TestChartHasAxesUnitsAndPoints(t *testing.T) {
	t0 := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	var ts []time.Time
	var vs []float64
	for i := 0; i < 60; i++ {
		ts, vs = append(ts, t0.Add(time.Duration(i)*time.Minute)), append(vs, 100+float64(i))
	}
	svg := string(chart{Title: "latency", Unit: "ms", From: t0, To: t0.Add(time.Hour),
		Lines: []line{{Name: "p99", Color: "#000", T: ts, V: vs}},
		Rules: []rule{{Label: "p99 < 300 ms", V: 300}}}.svg())

	assert.Contains(t, svg, `data-points="60"`)
	points := regexp.MustCompile(` points="([^"]*)"`).FindStringSubmatch(svg)
	require.NotNil(t, points)
	assert.Len(t, strings.Fields(points[1]), 60)
	for _, want := range []string{">0 ms<", ">100 ms<", ">300 ms<", ">12:00<", ">12:30<", ">13:00<", ">time (UTC)<", ">p99<", ">p99 &lt; 300 ms<", `class="rule"`} {
		assert.Contains(t, svg, want)
	}
	// The threshold line sits at 300 on the axis: the top tick is 300, so y is the plot's top.
	assert.Contains(t, svg, `<line class="rule" x1="62.0" y1="26.0"`)

	empty := string(chart{Title: "latency", Unit: "ms", From: t0, To: t0.Add(time.Minute)}.svg())
	assert.Contains(t, empty, "no data yet")
	assert.Contains(t, empty, `data-points="0"`)
}
