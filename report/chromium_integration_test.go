//go:build integration

package report

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canaryproj/canary/internal/chromium"
	"github.com/canaryproj/canary/internal/golden"
)

// chartFacts is what the browser reports of one rendered chart.
type chartFacts struct {
	ID, Title, Label string
	XTicks, YTicks   []box
	Legend           []box
	AxisTitles       []string
	Lines            []struct {
		Name   string
		Points int
		Length float64
	}
	SLOs     []string
	SLOLines int
	Marks    int
	ViewBox  struct{ W, H float64 }
	Readout  string
	Width    float64
}

type box struct {
	Text       string
	X, Y, W, H float64
}

// factsJS measures every chart as laid out: tick labels, legend entries
// and their boxes, axis titles, lines and their points, SLO lines.
const factsJS = `Array.from(document.querySelectorAll("figure.chart")).map(f => {
  const svg = f.querySelector("svg.plot");
  const boxes = sel => Array.from(svg.querySelectorAll(sel)).map(e => {
    const b = e.getBBox();
    return {Text: e.textContent, X: b.x, Y: b.y, W: b.width, H: b.height};
  });
  return {
    ID: f.id,
    Title: (svg.querySelector("text.chart-title") || {}).textContent || "",
    Label: svg.getAttribute("aria-label") || "",
    XTicks: boxes(".axis-x text.tick"),
    YTicks: boxes(".axis-y text.tick"),
    Legend: boxes(".legend-item"),
    AxisTitles: Array.from(svg.querySelectorAll("text.axis-title")).map(e => e.textContent),
    Lines: Array.from(svg.querySelectorAll("path.line")).map(p => ({
      Name: p.dataset.name, Points: (p.getAttribute("d").match(/[ML]/g) || []).length, Length: p.getTotalLength()})),
    SLOs: Array.from(svg.querySelectorAll(".slo-label")).map(e => e.textContent),
    SLOLines: svg.querySelectorAll("line.slo-line").length,
    Marks: svg.querySelectorAll("circle.slo-mark").length,
    ViewBox: {W: svg.viewBox.baseVal.width, H: svg.viewBox.baseVal.height},
    Readout: svg.dataset.readout || "",
    Width: svg.getBoundingClientRect().width,
  };
})`

// TestReportInChromium opens the degrading run's report as a file, as a
// user would, with JavaScript on and off, and checks every chart as the
// browser laid it out. With -update it also writes the screenshots that
// docs/run.md shows.
func TestReportInChromium(t *testing.T) {
	path := filepath.Join(t.TempDir(), "report.html")
	f, err := os.Create(path)
	require.NoError(t, err)
	require.NoError(t, WriteHTML(f, degradingRun(t)))
	require.NoError(t, f.Close())
	url := "file://" + path

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b := chromium.Launch(t)

	for _, tc := range []struct {
		name     string
		noScript bool
	}{{"scripts on", false}, {"scripts off", true}} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := b.Open(ctx, url, chromium.Options{Width: 1100, Height: 900, NoScript: tc.noScript})
			require.NoError(t, err)
			defer func() { require.NoError(t, p.Close(ctx)) }()
			assert.Empty(t, p.Console(), "no console messages, errors or failed loads")

			var charts []chartFacts
			require.NoError(t, p.Eval(ctx, factsJS, &charts))
			require.Len(t, charts, len(wantCharts))
			for _, c := range charts {
				checkChart(t, c, wantCharts[c.ID])
				if tc.noScript {
					assert.Empty(t, c.Readout, "%s: the script did not run", c.ID)
				} else {
					assert.Equal(t, "on", c.Readout, "%s: the readout is attached", c.ID)
				}
			}

			dom, err := p.DOM(ctx)
			require.NoError(t, err)
			assert.Equal(t, len(wantCharts), strings.Count(dom, `<svg class="plot"`), "the charts are in the page itself")
			if tc.noScript {
				assert.NotContains(t, dom, `class="readout"`)
				return
			}

			// The readout: the pointer over the login chart at 1m30s.
			var readout string
			require.NoError(t, p.Eval(ctx, `(() => {
  const svg = document.querySelector("#latency-step-0 svg");
  const g = svg.dataset.plot.split(" ").map(Number);
  const m = svg.getScreenCTM();
  const pt = new DOMPoint(g[0] + g[2] * 90 / g[4], g[1] + g[3] / 2).matrixTransform(m);
  svg.dispatchEvent(new PointerEvent("pointermove", {clientX: pt.x, clientY: pt.y, bubbles: true}));
  const box = document.querySelector("#latency-step-0 .readout");
  return getComputedStyle(box).display + " " + box.textContent;
})()`, &readout))
			assert.Regexp(t, `^block 1m30sp50: [0-9.]+ msp99: [0-9.]+ ms$`, readout)

			shots := map[string]string{
				"report-spectrum.png":   "#spectrum-step-0",
				"report-errors.png":     "#errors",
				"report-latency.png":    "#latency-step-0",
				"report-throughput.png": "#throughput",
			}
			for name, sel := range shots {
				shot, err := p.Screenshot(ctx, sel)
				require.NoError(t, err, name)
				img, err := png.Decode(bytes.NewReader(shot))
				require.NoError(t, err, name)
				assert.GreaterOrEqual(t, img.Bounds().Dx(), 900, "%s: the chart at the page's width", name)
				assert.Greater(t, colours(img), 8, "%s: a drawn chart, not a blank box", name)
				if golden.Updating() {
					require.NoError(t, os.WriteFile(filepath.Join("..", "docs", "screenshots", name), shot, 0o644))
				}
			}
		})
	}
}

// checkChart checks one chart: a title, data, ticks on both axes that do
// not overlap, one title per axis with its unit, a legend that fits, and
// the SLOs it must draw.
func checkChart(t *testing.T, c chartFacts, slos []string) {
	t.Helper()
	assert.NotEmpty(t, c.Title, "%s: a title", c.ID)
	assert.Equal(t, c.Title, c.Label, "%s: the title is also the SVG's accessible name", c.ID)
	assert.Greater(t, c.Width, 900.0, "%s: drawn at the page's width", c.ID)
	require.NotEmpty(t, c.Lines, "%s: lines", c.ID)
	for _, l := range c.Lines {
		assert.GreaterOrEqual(t, l.Points, 100, "%s %s: data points", c.ID, l.Name)
		assert.Greater(t, l.Length, 100.0, "%s %s: a drawn line", c.ID, l.Name)
	}
	for axis, ticks := range map[string][]box{"x": c.XTicks, "y": c.YTicks} {
		assert.GreaterOrEqual(t, len(ticks), 3, "%s: %s tick labels", c.ID, axis)
		for i, tk := range ticks {
			assert.NotEmpty(t, tk.Text)
			assert.True(t, tk.X >= 0 && tk.X+tk.W <= c.ViewBox.W && tk.Y >= 0 && tk.Y+tk.H <= c.ViewBox.H, "%s: tick %q inside the chart", c.ID, tk.Text)
			if i > 0 && axis == "x" {
				prev := ticks[i-1]
				assert.Less(t, prev.X+prev.W+2, tk.X, "%s: x ticks %q and %q overlap", c.ID, prev.Text, tk.Text)
			}
			if i > 0 && axis == "y" {
				prev := ticks[i-1]
				assert.Less(t, tk.Y+tk.H, prev.Y+1, "%s: y ticks %q and %q overlap", c.ID, prev.Text, tk.Text)
			}
		}
	}
	require.Len(t, c.AxisTitles, 2, "%s: one title per axis", c.ID)
	assert.Regexp(t, `\(.+\)$`, c.AxisTitles[0], "%s: the y axis says its unit", c.ID)
	for i, l := range c.Legend {
		assert.LessOrEqual(t, l.X+l.W, c.ViewBox.W, "%s: legend %q fits", c.ID, l.Text)
		if i > 0 && c.Legend[i-1].Y == l.Y {
			assert.Less(t, c.Legend[i-1].X+c.Legend[i-1].W, l.X, "%s: legend entries overlap", c.ID)
		}
	}
	assert.Equal(t, slos, c.SLOs, "%s: its SLOs", c.ID)
	assert.Equal(t, len(slos), c.SLOLines, "%s: a line per SLO", c.ID)
	if strings.HasPrefix(c.ID, "spectrum") {
		assert.Equal(t, len(slos), c.Marks, "%s: each percentile objective marked at its percentile", c.ID)
		assert.Contains(t, tickTexts(c.XTicks), "99.9%", c.ID)
	} else {
		assert.Equal(t, "0s", c.XTicks[0].Text, c.ID)
		assert.Contains(t, tickTexts(c.XTicks), "1m", c.ID)
	}
}

func tickTexts(ts []box) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.Text
	}
	return out
}

// colours counts the distinct colours of an image, up to 100.
func colours(img image.Image) int {
	seen := map[uint32]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y && len(seen) < 100; y += 3 {
		for x := b.Min.X; x < b.Max.X && len(seen) < 100; x += 3 {
			r, g, bl, _ := img.At(x, y).RGBA()
			seen[r>>8<<16|g>>8<<8|bl>>8] = true
		}
	}
	return len(seen)
}
