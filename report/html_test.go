package report

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"io"
	"math"
	"math/rand/v2"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canaryproj/canary/internal/golden"
	"github.com/canaryproj/canary/stats"
)

// The charts of the degrading run, and the SLOs each must draw: latency
// objectives on the latency charts of their step (the iteration's when
// they name none), the error ratio on the errors chart, the rate on the
// throughput chart.
var wantCharts = map[string][]string{
	"spectrum-iteration": {"p99(iteration)<120ms: pass"},
	"spectrum-step-0":    {"p99(login)<60ms: fail"},
	"spectrum-step-1":    {"p99(cart, service)<80ms: pass"},
	"throughput":         {"rps>=9.5: pass"},
	"errors":             {"errors<1%: fail"},
	"latency-iteration":  {"p99(iteration)<120ms: pass"},
	"latency-step-0":     {"p99(login)<60ms: fail"},
	"latency-step-1":     {"p99(cart, service)<80ms: pass"},
}

// element is an SVG element of a chart as the page writes it.
type element struct {
	name, class, parent string // parent: the class of the enclosing group
	attrs               map[string]string
	text                string
}

// figure is one chart of a page, parsed as XML: an inline SVG must be
// well-formed for the browser to draw it as the page means.
type figure struct {
	id    string
	elems []element
}

func (f figure) all(class string) []element {
	var out []element
	for _, e := range f.elems {
		if e.class == class || strings.HasPrefix(e.class, class+" ") {
			out = append(out, e)
		}
	}
	return out
}

func (f figure) texts(class, parent string) []string {
	var out []string
	for _, e := range f.all(class) {
		if parent == "" || strings.Contains(e.parent, parent) {
			out = append(out, e.text)
		}
	}
	return out
}

var figureRE = regexp.MustCompile(`(?s)<figure class="chart".*?</figure>`)

// figures parses every chart of a page.
func figures(t *testing.T, page string) []figure {
	t.Helper()
	var out []figure
	for _, src := range figureRE.FindAllString(page, -1) {
		d := xml.NewDecoder(strings.NewReader(src))
		var f figure
		var stack []int // indexes of open elements in f.elems
		for {
			tok, err := d.Token()
			if err == io.EOF {
				break
			}
			require.NoError(t, err, "a chart is well-formed: %.200s", src)
			switch tk := tok.(type) {
			case xml.StartElement:
				e := element{name: tk.Name.Local, attrs: map[string]string{}}
				for _, a := range tk.Attr {
					e.attrs[a.Name.Local] = a.Value
				}
				e.class = e.attrs["class"]
				for i := len(stack) - 1; i >= 0; i-- {
					if e.parent = f.elems[stack[i]].class; e.parent != "" {
						break
					}
				}
				if e.name == "figure" {
					f.id = e.attrs["id"]
				}
				f.elems = append(f.elems, e)
				stack = append(stack, len(f.elems)-1)
			case xml.EndElement:
				stack = stack[:len(stack)-1]
			case xml.CharData:
				if len(stack) > 0 {
					f.elems[stack[len(stack)-1]].text += string(tk)
				}
			}
		}
		out = append(out, f)
	}
	return out
}

func TestHTMLIsSelfContainedAndEscaped(t *testing.T) {
	r := fixture(t)
	r.Scenario = `<script>alert("x")</script>`
	r.Steps[0].Name = `lo"gin<b>`
	r.SLOs[0].Expr = `p99(lo"gin<b>)<300ms`
	var b bytes.Buffer
	require.NoError(t, WriteHTML(&b, r))
	page := b.String()
	assert.NotContains(t, page, `<script>alert`)
	assert.Contains(t, page, "&lt;script&gt;")
	assert.NotContains(t, page, `lo"gin<b>`, "step names are escaped in titles, legends and attributes")
	assert.Len(t, figures(t, page), 8, "3 spectra (the iteration, 2 steps), throughput, errors, 3 latencies over time")
	assert.Contains(t, page, "% behind, 2 CPUs")
	assert.Equal(t, 1, strings.Count(page, "<script>"), "one inline script: the readout")
	for _, external := range []string{" src=", " href=", "<link", "@import", "url(http"} {
		assert.NotContains(t, page, external, "the page loads nothing")
	}
	// URLs appear only as the text of failure samples, escaped.
	outside := regexp.MustCompile(`(?s)<details class="failure".*?</details>`).ReplaceAllString(page, "")
	for _, external := range []string{"http://", "https://"} {
		assert.NotContains(t, outside, external, "no URL outside the failure samples")
	}
}

// The failures section: every kind, its first and latest samples, the
// exchange as text; it reads without JavaScript (details/summary).
func TestHTMLFailureSamples(t *testing.T) {
	r := fixture(t)
	r.Failures.Groups[0].Samples[0].Response.Body = `<img src=x onerror=alert(1)>`
	var b bytes.Buffer
	require.NoError(t, WriteHTML(&b, r))
	page := b.String()
	assert.Contains(t, page, `<h2 id="failures">Failure samples</h2>`)
	assert.Contains(t, page, `<details class="failure" open><summary><b>cart: http_status 503 ×5</b> — step cart: GET http://127.0.0.1:8080/cart: status 503, want 200`)
	assert.Equal(t, 4, strings.Count(page, `<div class="sample">`), "the first and the latest three")
	assert.Contains(t, page, "<th>failed</th><td>status: want 200, got 503</td>")
	assert.Contains(t, page, "&gt; Authorization: &lt;redacted&gt;")
	assert.Contains(t, page, "&lt; Retry-After: 5")
	assert.Contains(t, page, "overloaded\ntry again  [first 20 of 4000 bytes]", "bodies keep their lines")
	assert.Contains(t, page, "&lt;img src=x onerror=alert(1)&gt;", "bodies are escaped")
	assert.NotContains(t, page, "<img")
}

func TestDegradingRun(t *testing.T) {
	r := degradingRun(t)

	// The run is what it says: a minute healthy, latency doubled after,
	// 5 % of iterations failing from 1m30s.
	require.Len(t, r.Series, 120, "a point per second")
	median := func(from, to, step int) float64 {
		var v []float64
		for _, p := range r.Series[from:to] {
			v = append(v, p.Steps[step].P50)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	for step := range 2 {
		ratio := median(60, 120, step) / median(0, 60, step)
		assert.InDelta(t, 2, ratio, 0.3, "step %d: p50 doubles at 1m", step)
	}
	var failed, all float64
	for _, p := range r.Series {
		if p.T < 90 {
			assert.Empty(t, p.ErrorsByClass, "t=%v: no failures before 1m30s", p.T)
			continue
		}
		failed += p.Errors
		all += p.Rate
	}
	assert.InDelta(t, 5, 100*failed/all, 1.5, "about 5 %% of iterations fail from 1m30s")
	assert.Equal(t, map[string]int64{"http_status": 8}, r.Steps[1].Errors)
	assert.Equal(t, map[string]int64{"assertion": 5}, r.Steps[0].Errors)
	assert.Equal(t, "fail", r.Verdict)

	// The report, as canary writes it (a fixture for `canary report
	// --html`), and its page.
	data, err := json.MarshalIndent(r, "", "  ")
	require.NoError(t, err)
	golden.Assert(t, "testdata/degrading.report.json", append(data, '\n'))
	back, err := stats.ReadReport(bytes.NewReader(data))
	require.NoError(t, err)
	var b bytes.Buffer
	require.NoError(t, WriteHTML(&b, back))
	golden.Assert(t, "testdata/degrading.golden.html", b.Bytes())

	figs := figures(t, b.String())
	require.Len(t, figs, len(wantCharts))
	for _, f := range figs {
		want, ok := wantCharts[f.id]
		require.True(t, ok, "unexpected chart %q", f.id)
		assert.NotEmpty(t, f.texts("chart-title", ""), "%s: a title", f.id)
		assert.GreaterOrEqual(t, len(f.texts("tick", "axis-x")), 3, "%s: x ticks", f.id)
		assert.GreaterOrEqual(t, len(f.texts("tick", "axis-y")), 3, "%s: y ticks", f.id)
		titles := f.texts("axis-title", "")
		require.Len(t, titles, 2, "%s: one title per axis", f.id)
		assert.Regexp(t, `\((ms|s|/s|%)\)$`, titles[0], "%s: the y axis's unit", f.id)
		assert.Equal(t, want, f.texts("slo-label", ""), "%s: its SLOs", f.id)
		assert.Len(t, f.all("slo-line"), len(want), "%s: a line per SLO", f.id)
		for _, l := range f.all("line") {
			if l.name != "path" {
				continue
			}
			assert.GreaterOrEqual(t, strings.Count(l.attrs["d"], "L"), 100, "%s %s: data points", f.id, l.attrs["data-name"])
		}
	}
}

// TestTicksAreHumanNumbers reads the tick labels of every chart of the
// degrading run and of issue 18's report (whose 25 ms maximum drew ticks
// at 6.25 and 18.75): evenly spaced at 1, 2 or 5 × 10^k, and times at
// steps a person counts in.
func TestTicksAreHumanNumbers(t *testing.T) {
	for name, r := range map[string]*stats.Report{"issue 18": fixture(t), "degrading": degradingRun(t)} {
		var b bytes.Buffer
		require.NoError(t, WriteHTML(&b, r))
		for _, f := range figures(t, b.String()) {
			var ys []float64
			for _, tk := range f.texts("tick", "axis-y") {
				v, err := strconv.ParseFloat(strings.TrimSuffix(tk, "k"), 64)
				require.NoError(t, err, "%s %s: y tick %q", name, f.id, tk)
				if strings.HasSuffix(tk, "k") {
					v *= 1000
				}
				ys = append(ys, v)
			}
			require.GreaterOrEqual(t, len(ys), 3, "%s %s", name, f.id)
			step := ys[1] - ys[0]
			mant := step / math.Pow(10, math.Floor(math.Log10(step)+1e-9))
			assert.Contains(t, []float64{1, 2, 5}, math.Round(mant*1000)/1000, "%s %s: y step %v", name, f.id, step)
			for i := range ys {
				assert.InDelta(t, float64(i)*step, ys[i], step*1e-6, "%s %s: y ticks %v evenly spaced", name, f.id, ys)
			}
			if strings.HasPrefix(f.id, "spectrum") {
				assert.Equal(t, []string{"0%", "50%", "90%", "99%"}, f.texts("tick", "axis-x")[:4], "%s %s", name, f.id)
				continue
			}
			var xs []float64
			for _, tk := range f.texts("tick", "axis-x") {
				d, err := time.ParseDuration(tk)
				require.NoError(t, err, "%s %s: x tick %q", name, f.id, tk)
				xs = append(xs, d.Seconds())
			}
			require.GreaterOrEqual(t, len(xs), 3, "%s %s", name, f.id)
			assert.Contains(t, timeSteps, xs[1], "%s %s: x step", name, f.id)
			for i := range xs {
				assert.InDelta(t, float64(i)*xs[1], xs[i], 1e-9, "%s %s: x ticks %v evenly spaced", name, f.id, xs)
			}
		}
	}
}

func TestHTMLOfOddReports(t *testing.T) {
	for _, tc := range []struct {
		name   string
		modify func(*stats.Report)
		want   string // a note or message the page shows
	}{
		{"as an older canary wrote it", func(r *stats.Report) {
			r.HDR = ""
			for i := range r.Series {
				r.Series[i].ErrorsByClass, r.Series[i].Steps = nil, nil
			}
		}, "no requests in the series"},
		{"empty", func(r *stats.Report) {
			empty, err := stats.NewReport(stats.NewSnapshot([]string{"a"}), nil, stats.ReportMeta{Scenario: "e"})
			require.NoError(t, err)
			*r = *empty
		}, "no iterations"},
		{"an unreadable histogram", func(r *stats.Report) { r.Steps[1].HDR.Service = "HISTFAAAAnope" }, `Step &#34;cart&#34;: service (from the send) histogram`},
		{"an SLO canary cannot read", func(r *stats.Report) { r.SLOs[0].Expr = "p99(login, region=eu) < 400ms" }, "is not drawn"},
		{"negative and huge values", func(r *stats.Report) {
			r.Series[0].Rate, r.Series[1].P99, r.Series[2].Errors = -5, 1e300, 1e300
			r.Series[1].Steps[0].P50 = -1
		}, "Throughput"},
		{"not numbers", func(r *stats.Report) {
			r.Series[0].P50, r.Series[1].Rate, r.Series[2].T = math.NaN(), math.Inf(1), math.NaN()
			r.DurationS = math.Inf(1)
		}, "Throughput"},
		{"more step points than steps", func(r *stats.Report) {
			r.Series[0].Steps = append(r.Series[0].Steps, stats.StepPoint{Rate: 1, P50: 1, P99: 1})
		}, "Throughput"},
		{"t going backwards", func(r *stats.Report) { r.Series[1].T, r.Series[2].T = 3, -1 }, "Throughput"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := fixture(t)
			tc.modify(r)
			var b bytes.Buffer
			require.NoError(t, WriteHTML(&b, r))
			page := b.String()
			assert.Contains(t, page, tc.want)
			assert.NotEmpty(t, figures(t, page), "charts, well-formed")
			for _, bad := range []string{"NaN", "Inf", "e+"} {
				assert.NotContains(t, page, `"`+bad, "no %s in coordinates", bad)
				assert.NotRegexp(t, `[ML][^"]*`+regexp.QuoteMeta(bad), page, "no %s in paths", bad)
			}
		})
	}
}

func TestManyStepsArePlottedUpToTheBound(t *testing.T) {
	names := make([]string, stats.MaxSeriesSteps+3)
	for i := range names {
		names[i] = "s" + string(rune('a'+i))
	}
	c := stats.NewCollector(names, fixture(t).Start, stats.Options{})
	for i := range names {
		c.Shard(0).RecordStep(i, 200, stats.ClassNone, stats.AssertNone, 1e6, 1e6)
	}
	c.Shard(0).RecordIteration(stats.Success, stats.ClassNone, 1e7)
	c.Flush(fixture(t).Start.Add(1e9))
	r, err := stats.NewReport(c.Totals(), c.Series(), stats.ReportMeta{Scenario: "many"})
	require.NoError(t, err)
	var b bytes.Buffer
	require.NoError(t, WriteHTML(&b, r))
	assert.Contains(t, b.String(), "Only the first 20 of 23 steps are plotted")
	assert.Len(t, figures(t, b.String()), 1+20+2+1+20)
}

func TestThinKeepsTheWorst(t *testing.T) {
	// Just over 3 times as many points as drawn: merged 4 by 4.
	n := 3*maxDrawn + 7
	c := chart{xs: make([]float64, n), lines: []line{{ys: make([]float64, n)}, {worst: true, ys: make([]float64, n)}}}
	for i := range n {
		c.xs[i] = float64(i)
		c.lines[0].ys[i], c.lines[1].ys[i] = float64(i%4), float64(i%4)
	}
	c.lines[1].ys[1001] = 99
	c.lines[0].ys[5] = math.NaN()
	c.thin()
	require.Len(t, c.xs, (n+3)/4)
	assert.Equal(t, 1000.0, c.xs[250], "a merged point sits at its first x")
	assert.Equal(t, 99.0, c.lines[1].ys[250], "a spike survives in a worst line")
	assert.Equal(t, 3.0, c.lines[1].ys[0])
	assert.Equal(t, 1.5, c.lines[0].ys[0], "a rate is averaged")
	assert.InDelta(t, 5.0/3, c.lines[0].ys[1], 1e-9, "over the values it has")
}

// BenchmarkWriteHTMLHourLong renders the report of an hour-long run of 10
// steps at 100 iterations/s (1800 series points after downsampling).
func BenchmarkWriteHTMLHourLong(b *testing.B) {
	names := []string{"s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9"}
	start := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	c := stats.NewCollector(names, start, stats.Options{})
	rng := rand.New(rand.NewPCG(1, 2))
	for sec := range 3600 {
		for i := range 100 {
			d := time.Duration((1 + rng.ExpFloat64()) * float64(time.Millisecond))
			for s := range names {
				c.Shard(i).RecordStep(s, 200, stats.ClassNone, stats.AssertNone, d, d)
			}
			o, class := stats.Success, stats.ClassNone
			if i == 0 && sec%7 == 0 {
				o, class = stats.Failure, stats.ClassTimeout
			}
			c.Shard(i).RecordIteration(o, class, 10*d)
		}
		c.Flush(start.Add(time.Duration(sec+1) * time.Second))
	}
	r, err := stats.NewReport(c.Totals(), c.Series(), stats.ReportMeta{Scenario: "long"})
	require.NoError(b, err)
	r.SLOs = []stats.SLOResult{{Expr: "p99(s3)<20ms", Pass: true}, {Expr: "errors<1%", Pass: true}}
	var out bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		out.Reset()
		require.NoError(b, WriteHTML(&out, r))
	}
	b.ReportMetric(float64(out.Len()), "page-bytes")
	b.ReportMetric(float64(len(r.Series)), "points")
}
