package report

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canaryproj/canary/compare"
	"github.com/canaryproj/canary/internal/golden"
	"github.com/canaryproj/canary/redact"
	"github.com/canaryproj/canary/slo"
	"github.com/canaryproj/canary/stats"
)

// comparisonFixture is a minute of a two-step scenario at 100 iterations/s
// on each side, measured as canary does (a collector flushed every
// second): the candidate 15 % slower, with one iteration in 100 failing at
// the cart, judged on the default objectives and two more.
func comparisonFixture(t testing.TB) *Comparison {
	t.Helper()
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	side := func(seed uint64, slower float64, failEvery int) (*stats.Report, *stats.Snapshot) {
		rng := rand.New(rand.NewPCG(seed, 1))
		lat := func(lo, spread time.Duration) time.Duration {
			return time.Duration(float64(lo+time.Duration(rng.Int64N(int64(spread)))) * (1 + slower))
		}
		c := stats.NewCollector([]string{"login", "cart"}, t0, stats.Options{})
		n := 0
		for s := range 60 {
			for k := range 100 {
				login, cart := lat(10*time.Millisecond, 10*time.Millisecond), lat(5*time.Millisecond, 20*time.Millisecond)
				sh := c.Shard(k)
				sh.RecordLag(time.Duration(50+rng.IntN(400)) * time.Microsecond)
				sh.RecordStep(0, 200, stats.ClassNone, stats.AssertNone, login, login-300*time.Microsecond)
				if failEvery > 0 && n%failEvery == 0 {
					sh.RecordStep(1, 503, stats.ClassHTTPStatus, stats.AssertStatus, cart, cart-300*time.Microsecond)
					sh.RecordIteration(stats.Failure, stats.ClassHTTPStatus, login+cart)
				} else {
					sh.RecordStep(1, 200, stats.ClassNone, stats.AssertNone, cart, cart-300*time.Microsecond)
					sh.RecordIteration(stats.Success, stats.ClassNone, login+cart)
				}
				n++
			}
			c.Flush(t0.Add(time.Duration(s+1) * time.Second))
		}
		snap := c.Totals()
		r, err := stats.NewReport(snap, c.Series(), stats.ReportMeta{
			Scenario: "checkout", Profile: map[string]any{"model": "open", "shape": "constant", "duration": "1m0s", "max_inflight": 1000},
			TargetRate: 100, LagP99Ms: 0.45, CPUs: 2,
		})
		require.NoError(t, err)
		return r, snap
	}
	base, bs := side(1, 0, 0)
	cand, cs := side(2, 0.15, 100)
	objs := compare.DefaultObjectives()
	for _, e := range []string{"p50(login) not worse by more than 3ms", "success not lower by more than 0.5pp"} {
		o, err := compare.ParseObjective(e)
		require.NoError(t, err)
		objs = append(objs, o)
	}
	j, err := compare.Judge(objs, bs, cs, compare.Options{Seed: 1})
	require.NoError(t, err)
	base.Verdict, cand.Verdict = string(j.Verdict), string(j.Verdict)
	return &Comparison{
		Schema: ComparisonSchema, Scenario: "checkout", Profile: base.Profile, Start: base.Start, End: base.End,
		DurationS: base.DurationS, Seed: 1, Generator: base.Generator,
		Baseline:  ComparedSide{URL: "http://127.0.0.1:8080", Report: base},
		Candidate: ComparedSide{URL: "http://127.0.0.1:8081/v2", Report: cand},
		Judgement: j,
	}
}

func TestComparisonFixture(t *testing.T) {
	c := comparisonFixture(t)
	verdicts := map[string]slo.Verdict{}
	for _, r := range c.Results {
		verdicts[r.Expr] = r.Verdict
	}
	assert.Equal(t, map[string]slo.Verdict{
		"latency not worse by more than 5%":     slo.Fail,
		"p99 not worse by more than 10%":        slo.Fail,
		"errors not higher by more than 0.1pp":  slo.Fail,
		"p50(login) not worse by more than 3ms": slo.Pass,
		"success not lower by more than 0.5pp":  slo.Fail,
	}, verdicts, "15 % slower and 1 pp more errors: the fixture shows every kind of row")
	assert.Equal(t, slo.Fail, c.Verdict)
}

// TestComparisonGolden: every rendering of the fixture, byte for byte.
func TestComparisonGolden(t *testing.T) {
	c := comparisonFixture(t)
	for _, tc := range []struct {
		name, file string
		write      func(*bytes.Buffer, *Comparison) error
	}{
		{"text", "testdata/comparison.golden.txt", func(b *bytes.Buffer, c *Comparison) error { return WriteComparisonSummary(b, c) }},
		{"json", "testdata/comparison.golden.json", func(b *bytes.Buffer, c *Comparison) error { return WriteComparisonJSON(b, c) }},
		{"junit", "testdata/comparison.golden.xml", func(b *bytes.Buffer, c *Comparison) error { return WriteComparisonJUnit(b, c) }},
		{"html", "testdata/comparison.golden.html", func(b *bytes.Buffer, c *Comparison) error { return WriteComparisonHTML(b, c) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			require.NoError(t, tc.write(&b, c))
			golden.Assert(t, tc.file, b.Bytes())
		})
	}
}

func TestComparisonSummary(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, WriteComparisonSummary(&b, comparisonFixture(t)))
	s := b.String()
	for _, want := range []string{
		"  url                    http://127.0.0.1:8080              http://127.0.0.1:8081/v2",
		"  failed                 0 (0.00%), 0 dropped               60 (1.00%), 0 dropped",
		"  ✗ errors not higher by more than 0.1pp     baseline 0% (n 6000) → candidate 1% (n 6000)",
		"  ✓ p50(login) not worse by more than 3ms",
		"  verdict    FAIL",
	} {
		assert.Contains(t, s, want)
	}
}

// TestComparisonJSON: the document decodes strictly into its type and
// keeps every figure: the judgement inline, each side a run report.
func TestComparisonJSON(t *testing.T) {
	c := comparisonFixture(t)
	var b bytes.Buffer
	require.NoError(t, WriteComparisonJSON(&b, c))
	dec := json.NewDecoder(bytes.NewReader(b.Bytes()))
	dec.DisallowUnknownFields()
	var back Comparison
	require.NoError(t, dec.Decode(&back))
	var again bytes.Buffer
	require.NoError(t, WriteComparisonJSON(&again, &back))
	assert.Equal(t, b.String(), again.String(), "a round trip changes nothing")

	var raw map[string]any
	require.NoError(t, json.Unmarshal(b.Bytes(), &raw))
	assert.Equal(t, "canary.compare/v1", raw["schema"])
	assert.Equal(t, "fail", raw["verdict"])
	side := raw["candidate"].(map[string]any)["report"].(map[string]any)
	assert.Equal(t, "canary.report/v1", side["schema"])
	assert.Contains(t, b.String(), `"objective": "p99 not worse by more than 10%"`, "objectives read as written")
	// Each side is a run report that canary reads back.
	sideJSON, err := json.Marshal(back.Candidate.Report)
	require.NoError(t, err)
	_, err = stats.ReadReport(bytes.NewReader(sideJSON))
	require.NoError(t, err)
}

func TestComparisonJUnit(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, WriteComparisonJUnit(&b, comparisonFixture(t)))
	var doc struct {
		Suites []struct {
			Name     string `xml:"name,attr"`
			Tests    int    `xml:"tests,attr"`
			Failures int    `xml:"failures,attr"`
			Cases    []struct {
				Name    string `xml:"name,attr"`
				Failure *struct {
					Message string `xml:"message,attr"`
				} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	require.NoError(t, xml.Unmarshal(b.Bytes(), &doc))
	require.Len(t, doc.Suites, 1)
	s := doc.Suites[0]
	assert.Equal(t, "canary.compare.checkout", s.Name)
	assert.Equal(t, 5, s.Tests, "a case per objective")
	assert.Equal(t, 4, s.Failures)
	assert.Equal(t, "objective p50(login) not worse by more than 3ms", s.Cases[3].Name)
	assert.Nil(t, s.Cases[3].Failure)
	require.NotNil(t, s.Cases[1].Failure)
	assert.True(t, strings.HasPrefix(s.Cases[1].Failure.Message, "fail: p99 +"), s.Cases[1].Failure.Message)
}

// TestComparisonJUnitSaturated: a saturated generator's reason gets a case
// of its own, so that a CI job shows why latency objectives were void.
func TestComparisonJUnitSaturated(t *testing.T) {
	c := comparisonFixture(t)
	c.Generator.Saturated = true
	c.Reasons = append([]string{"generator saturated: generator lag p99 12ms > 10ms over 6000 lag samples; corrected-latency objectives that did not fail are void where its lag could hide a worsening"}, c.Reasons...)
	var b bytes.Buffer
	require.NoError(t, WriteComparisonJUnit(&b, c))
	assert.Contains(t, b.String(), `<testcase name="verdict" classname="canary.compare.checkout" time="0">`)
	assert.Contains(t, b.String(), "generator saturated: generator lag p99 12ms")
}

// TestComparisonHTML: both sides on every chart, an effect plot per
// judged objective, the allowances of percentile objectives marked on the
// spectra, and nothing loaded from anywhere.
func TestComparisonHTML(t *testing.T) {
	c := comparisonFixture(t)
	var b bytes.Buffer
	require.NoError(t, WriteComparisonHTML(&b, c))
	page := b.String()
	figs := figures(t, page)
	var ids []string
	for _, f := range figs {
		ids = append(ids, f.id)
		var names []string
		for _, l := range f.all("line") {
			names = append(names, l.attrs["data-name"])
		}
		switch {
		case strings.HasPrefix(f.id, "spectrum-step"):
			assert.Equal(t, []string{"baseline corrected", "candidate corrected", "baseline service", "candidate service"}, names, f.id)
		default:
			assert.Equal(t, []string{"baseline", "candidate"}, names, f.id)
		}
	}
	assert.Equal(t, []string{"spectrum-iteration", "spectrum-step-0", "spectrum-step-1", "throughput", "errors", "latency-p99", "latency-p50"}, ids)
	assert.Equal(t, []string{"p99 not worse by more than 10%: fail"}, figs[0].texts("slo-label", ""), "the p99 allowance on the iteration's spectrum")
	assert.Len(t, figs[0].all("slo-mark"), 1, "marked at p99")
	assert.Equal(t, []string{"p50(login) not worse by more than 3ms: pass"}, figs[1].texts("slo-label", ""), "login's allowance on login's spectrum")
	assert.Equal(t, 5, strings.Count(page, `<svg class="effect"`), "an effect plot per objective")
	assert.Contains(t, page, `aria-label="effect +1pp, interval +0.769pp to +1.285pp, allowed +0.1pp"`)
	assert.Equal(t, 1, strings.Count(page, "<script>"))
	for _, external := range []string{"https://", " src=", " href=", "<link", "@import", "url(http"} {
		assert.NotContains(t, page, external, "the page loads nothing")
	}
}

func TestComparisonHTMLEscapes(t *testing.T) {
	c := comparisonFixture(t)
	c.Scenario = `<script>alert("x")</script>`
	c.Candidate.URL = `http://h/"><b>`
	c.Candidate.Report.Steps[0].Name = `lo"gin<b>`
	var b bytes.Buffer
	require.NoError(t, WriteComparisonHTML(&b, c))
	page := b.String()
	assert.NotContains(t, page, `<script>alert`)
	assert.NotContains(t, page, `"><b>`)
	assert.NotContains(t, page, `lo"gin<b>`)
	figures(t, page) // every chart is still well-formed
}

func TestRedactComparison(t *testing.T) {
	c := comparisonFixture(t)
	c.Baseline.URL = "http://user:hunter2@127.0.0.1:8080"
	c.Reasons = []string{"token s3cr3t leaked"}
	c.Results[0].Reason = "s3cr3t"
	c.Candidate.Report.Reasons = []string{"s3cr3t"}
	set := &redact.Set{}
	set.Add("s3cr3t")
	RedactComparison(c, set)
	var b bytes.Buffer
	require.NoError(t, WriteComparisonJSON(&b, c))
	assert.NotContains(t, b.String(), "s3cr3t")
	assert.NotContains(t, b.String(), "hunter2")
	assert.Equal(t, "http://<redacted>@127.0.0.1:8080", c.Baseline.URL)
}
