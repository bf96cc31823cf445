package report

import (
	"bytes"
	"encoding/xml"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canaryproj/canary/internal/golden"
	"github.com/canaryproj/canary/stats"
)

func fixture(t *testing.T) *stats.Report {
	t.Helper()
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	c := stats.NewCollector([]string{"login", "cart"}, t0, stats.Options{})
	for i := 0; i < 200; i++ {
		d := time.Duration(1+i%20) * time.Millisecond
		c.Shard(i).RecordStep(0, 200, stats.ClassNone, stats.AssertNone, d, d/2)
		if i%40 == 0 {
			c.Shard(i).RecordStep(1, 503, stats.ClassHTTPStatus, stats.AssertStatus, d, d)
			c.Shard(i).RecordIteration(stats.Failure, stats.ClassHTTPStatus, 2*d)
			continue
		}
		c.Shard(i).RecordStep(1, 200, stats.ClassNone, stats.AssertNone, d, d)
		c.Shard(i).RecordIteration(stats.Success, stats.ClassNone, 2*d)
		if i%50 == 0 {
			c.Flush(t0.Add(time.Duration(i/50+1) * time.Second))
		}
	}
	c.Flush(t0.Add(5 * time.Second))
	r, err := stats.NewReport(c.Totals(), c.Series(), stats.ReportMeta{
		Scenario: "checkout", Profile: map[string]any{"model": "open", "shape": "constant", "duration": "5s", "max_inflight": 1000},
		TargetRate: 40, LagP99Ms: 0.8, CPUs: 2,
	})
	require.NoError(t, err)
	r.SLOs = []stats.SLOResult{{Expr: "p99(login)<300ms", Observed: 19.9, Pass: true}, {Expr: "errors<1%", Observed: 2.5, Pass: false}}
	r.Verdict = "fail"
	r.Reasons = []string{"errors 2.5% >= 1% over the run, n=200"}
	r.Failures = failuresFixture(t0)
	return r
}

// failuresFixture is the samples of cart's five 503s.
func failuresFixture(t0 time.Time) *stats.FailureReport {
	f := stats.NewFailures([]string{"login", "cart"}, stats.FailureOptions{})
	k := stats.Key(1, 503, stats.ClassHTTPStatus, stats.AssertStatus)
	for i := range 5 {
		at := t0.Add(time.Duration(i) * time.Second)
		if !f.Want(k, at) {
			continue
		}
		f.Add(k, stats.FailureSample{
			At: at, Iteration: uint64(40 * i), Step: "cart", Class: "http_status", Status: 503,
			Error:     "step cart: GET http://127.0.0.1:8080/cart: status 503, want 200",
			Assertion: &stats.AssertionFailure{Kind: "status", Expected: "200", Actual: "503"},
			Request: stats.SampleRequest{Method: "GET", URL: "http://127.0.0.1:8080/cart",
				Headers: []stats.SampleHeader{{Name: "Authorization", Value: "<redacted>"}}},
			Response: &stats.SampleResponse{Status: 503, Proto: "HTTP/1.1", Headers: []stats.SampleHeader{{Name: "Retry-After", Value: "5"}},
				Body: "overloaded\ntry again", BodyBytes: 4000},
			Timing: stats.SampleTiming{ConnectMs: 0.2, FirstByteMs: 3.1, BodyMs: 0.1, TotalMs: 3.4, NewConnection: i == 0},
		})
	}
	return f.Report()
}

func TestSummary(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, WriteSummary(&b, fixture(t)))
	golden.Assert(t, "testdata/summary.golden.txt", b.Bytes())
	assert.Contains(t, b.String(), "✗ errors<1%")
	assert.Contains(t, b.String(), "verdict    FAIL")
	assert.Contains(t, b.String(), "cart           status 503 ×5, http_status ×5")
	assert.Contains(t, b.String(), "generator  lag p99 0.80 ms, 0.00% behind schedule, 2 CPUs\n")
}

func TestSummarySaturatedPointsAtCPUs(t *testing.T) {
	r := fixture(t)
	r.Generator.Saturated, r.Generator.CPUs = true, 1
	var b bytes.Buffer
	require.NoError(t, WriteSummary(&b, r))
	assert.Contains(t, b.String(), ", 1 CPU  — SATURATED: the generator, not the target, was the bottleneck (more CPUs: --cpus)\n")

	// A merged report's generators ran as separate processes: no hint.
	r.Merged = 2
	b.Reset()
	require.NoError(t, WriteSummary(&b, r))
	assert.NotContains(t, b.String(), "--cpus")
}

func TestMarkdown(t *testing.T) {
	r := fixture(t)
	r.Steps[0].Name = "lo|gin"
	var b bytes.Buffer
	require.NoError(t, WriteMarkdown(&b, r))
	golden.Assert(t, "testdata/summary.golden.md", b.Bytes())
	assert.Contains(t, b.String(), `lo\|gin`, "table cells are escaped")
}

func TestJUnit(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, WriteJUnit(&b, fixture(t)))
	var suites struct {
		Suites []struct {
			Tests    int `xml:"tests,attr"`
			Failures int `xml:"failures,attr"`
			Cases    []struct {
				Name    string `xml:"name,attr"`
				Failure *struct {
					Message string `xml:"message,attr"`
					Body    string `xml:",chardata"`
				} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	require.NoError(t, xml.Unmarshal(b.Bytes(), &suites), "valid XML")
	s := suites.Suites[0]
	assert.Equal(t, 4, s.Tests, "a case per SLO and per step")
	assert.Equal(t, 2, s.Failures, "the failed SLO and the step with errors")
	assert.Equal(t, "slo errors<1%", s.Cases[1].Name)
	assert.Equal(t, "errors<1%: observed 2.5%", s.Cases[1].Failure.Message)
	assert.Equal(t, "5 of 200 requests failed", s.Cases[3].Failure.Message)
	assert.Contains(t, s.Cases[3].Failure.Body, "cart: http_status 503 ×5, first sample:\n  GET http://127.0.0.1:8080/cart\n  > Authorization: <redacted>\n  < HTTP/1.1 503\n",
		"the step's case shows the first sample of each kind of its failures")
}

func TestProgress(t *testing.T) {
	p := stats.Progress{Elapsed: 12 * time.Second, Total: time.Minute, TargetRate: 100, AchievedRate: 99.5, Inflight: 3,
		P50: 2.5, P99: 12.25, ErrorPct: 0.5, Iterations: 1190, Dropped: 2}
	assert.Equal(t, "12s/1m0s  99.5/s of 100.0/s  in-flight 3  p50 2.50 ms  p99 12.2 ms  errors 0.5%  iterations 1190  dropped 2", ProgressLine(p))

	// Not a terminal: a plain line at most every 10 s.
	var b bytes.Buffer
	now := time.Unix(0, 0)
	pw := NewProgressWriter(&b, false)
	pw.now = func() time.Time { return now }
	for i := 0; i < 25; i++ {
		pw.Update(p)
		now = now.Add(time.Second)
	}
	pw.Done()
	assert.Equal(t, 3, strings.Count(b.String(), "\n"), "at 0, 10 and 20 s")
	assert.NotContains(t, b.String(), "\r")

	// A terminal: one line redrawn at most every second.
	b.Reset()
	pw = NewProgressWriter(&b, true)
	pw.now = func() time.Time { return now }
	for i := 0; i < 10; i++ {
		pw.Update(p) // ten updates within the same second
	}
	now = now.Add(time.Second)
	pw.Update(p)
	pw.Done()
	assert.Equal(t, 2, strings.Count(b.String(), "\r\033[K"), "never more than one line a second")
	assert.True(t, strings.HasSuffix(b.String(), "\n"))
}

// A rate is printed only where it means something: one iteration's "rate"
// is the inverse of its latency.
func TestSummaryRate(t *testing.T) {
	smoke := func(total int64, seconds, target float64) *stats.Report {
		r := fixture(t)
		r.Iterations = stats.IterationReport{Total: total, Success: total}
		r.DurationS, r.Rate.Achieved, r.Rate.Target = seconds, float64(total)/seconds, target
		return r
	}
	for _, tc := range []struct {
		name        string
		r           *stats.Report
		summary, md string
	}{
		{"smoke test", smoke(1, 0.053, 0), "  iterations 1  ✓ 1 succeeded", "1 iteration in 53ms, 0 failed"},
		{"two iterations in a blink", smoke(2, 0.1, 0), "  iterations 2  ✓ 2 succeeded", "2 iterations in 100ms, 0 failed"},
		{"closed model over a minute", smoke(600, 60, 0), "  iterations 600 (10.0/s)  ✓ 600 succeeded", "600 iterations in 1m0s (10.0/s), 0 failed"},
		{"open model, even short", smoke(1, 0.5, 2), "  iterations 1 (2.0/s of 2.0/s)  ✓ 1 succeeded", "1 iteration in 500ms (2.0/s), 0 failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			require.NoError(t, WriteSummary(&b, tc.r))
			assert.Contains(t, b.String(), tc.summary)
			b.Reset()
			require.NoError(t, WriteMarkdown(&b, tc.r))
			assert.Contains(t, b.String(), tc.md)
		})
	}
}
