package stats

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sample is a minimal sample of step at s seconds.
func sample(step string, s float64) FailureSample {
	return FailureSample{At: at(s), Step: step, Class: "http_status", Status: 503, Error: fmt.Sprintf("%s at %gs", step, s),
		Request: SampleRequest{Method: "GET", URL: "http://127.0.0.1/" + step}}
}

// offer does what a runner does: Want, then Add when wanted.
func offer(f *Failures, k FailureKey, s FailureSample) bool {
	if !f.Want(k, s.At) {
		return false
	}
	f.Add(k, s)
	return true
}

// The first failure of a kind and its latest ones, one per interval.
func TestFailuresFirstAndLatest(t *testing.T) {
	f := NewFailures([]string{"login", "cart"}, FailureOptions{})
	k := Key(0, 503, ClassHTTPStatus, AssertStatus)
	var taken []float64
	for i := range 100 {
		s := float64(i) * 0.25 // 4 failures a second for 25 s
		if offer(f, k, sample("login", s)) {
			taken = append(taken, s)
		}
	}
	assert.Len(t, taken, 25, "one sample a second")
	r := f.Report()
	require.Len(t, r.Groups, 1)
	g := r.Groups[0]
	assert.Equal(t, FailureGroup{Step: "login", Class: "http_status", Status: 503, Count: 100, First: at(0), Last: at(24.75)}, withoutSamples(g))
	var times []float64
	for _, s := range g.Samples {
		times = append(times, s.At.Sub(t0).Seconds())
	}
	assert.Equal(t, []float64{0, 22, 23, 24}, times, "the first, then the latest three, oldest first")
	assert.Equal(t, "login at 0s", g.Reason())
}

func withoutSamples(g FailureGroup) FailureGroup {
	g.Samples = nil
	return g
}

// Kinds: the status counts for unexpected statuses, the assertion kind for
// other failed expectations; at most MaxFailureKinds, the rest counted.
func TestFailuresKindsAreBounded(t *testing.T) {
	f := NewFailures([]string{"s"}, FailureOptions{})
	assert.Equal(t, Key(0, 200, ClassAssertion, AssertJSON), FailureKey{Class: ClassAssertion, Assertion: AssertJSON}, "an assertion failure is not split by its 200")
	assert.Equal(t, Key(0, 0, ClassTimeout, AssertNone), FailureKey{Class: ClassTimeout})
	for code := 400; code < 400+MaxFailureKinds+10; code++ {
		offer(f, Key(0, code, ClassHTTPStatus, AssertStatus), sample("s", 1))
		offer(f, Key(0, code, ClassHTTPStatus, AssertStatus), sample("s", 1.5))
	}
	r := f.Report()
	assert.Len(t, r.Groups, MaxFailureKinds)
	assert.Equal(t, int64(20), r.Overflow, "10 kinds past the bound, twice each")
	assert.Equal(t, 400, r.Groups[0].Status, "equal counts: by status")
	assert.Len(t, r.Groups[0].Samples, 1, "the second came within the interval")
	assert.False(t, f.Want(Key(5, 500, ClassHTTPStatus, AssertStatus), at(1)), "a step the store does not know")

	// A minute later the quiet kinds make room, the least recent first.
	require.True(t, offer(f, Key(0, 599, ClassHTTPStatus, AssertStatus), sample("s", 62)))
	r = f.Report()
	assert.Len(t, r.Groups, MaxFailureKinds)
	assert.Equal(t, 599, r.Groups[len(r.Groups)-1].Status, "the new kind is in")
}

// Samples are cut to the bounds, as valid UTF-8, whoever built them.
func TestFailureSampleBounds(t *testing.T) {
	f := NewFailures([]string{"s"}, FailureOptions{})
	s := sample("s", 0)
	s.Request.Body = strings.Repeat("é", 3000)
	s.Request.URL = "http://127.0.0.1/" + strings.Repeat("a", 5000)
	s.Response = &SampleResponse{Status: 503, Body: "\xff\xfe" + strings.Repeat("x", 9000), BodyBytes: 9002}
	for i := range 50 {
		s.Request.Headers = append(s.Request.Headers, SampleHeader{Name: fmt.Sprintf("X-%d", i), Value: strings.Repeat("v", 500)})
	}
	k := Key(0, 503, ClassHTTPStatus, AssertStatus)
	require.True(t, offer(f, k, s))
	got := f.Report().Groups[0].Samples[0]
	assert.LessOrEqual(t, len(got.Request.Body), MaxSampleBody)
	assert.True(t, utf8.ValidString(got.Request.Body))
	assert.True(t, strings.HasSuffix(got.Request.Body, "…"))
	assert.LessOrEqual(t, len(got.Request.URL), MaxSampleText)
	assert.Len(t, got.Request.Headers, MaxSampleHeaders)
	assert.LessOrEqual(t, len(got.Request.Headers[0].Value), MaxSampleHeaderValue)
	assert.LessOrEqual(t, len(got.Response.Body), MaxSampleBody)
	assert.True(t, strings.HasPrefix(got.Response.Body, "\uFFFD"), "binary bytes become U+FFFD")
	assert.Equal(t, int64(9002), got.Response.BodyBytes, "the whole size is kept")
	assert.Len(t, s.Request.Headers, 50, "the caller's sample is not changed")
}

// A failing step's later requests are traced, a few per interval, for a
// while after its last failure; a step that never failed is not.
func TestFailuresArmTracing(t *testing.T) {
	f := NewFailures([]string{"a", "b"}, FailureOptions{})
	assert.False(t, f.Trace(0, at(0)), "nothing failed")
	f.Want(Key(0, 503, ClassHTTPStatus, AssertStatus), at(10))
	assert.True(t, f.Trace(0, at(10.01)))
	assert.False(t, f.Trace(0, at(10.05)), "one per tenth of the interval")
	assert.True(t, f.Trace(0, at(10.2)))
	assert.False(t, f.Trace(1, at(10.2)), "another step")
	assert.False(t, f.Trace(0, at(13.5)), "3 s after the last failure")
}

func TestFailuresConcurrent(t *testing.T) {
	f := NewFailures([]string{"a", "b"}, FailureOptions{Interval: time.Millisecond})
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1000 {
				s := sample("a", float64(i)/1000)
				k := Key(w%2, 500+w, ClassHTTPStatus, AssertStatus)
				f.Trace(w%2, s.At)
				offer(f, k, s)
				if i%100 == 0 {
					f.Report()
				}
			}
		}()
	}
	wg.Wait()
	r := f.Report()
	require.Len(t, r.Groups, 8)
	for _, g := range r.Groups {
		assert.Equal(t, int64(1000), g.Count)
		assert.Len(t, g.Samples, 1+DefaultFailureLatest)
	}
}

func TestMergeFailures(t *testing.T) {
	a := NewFailures([]string{"s"}, FailureOptions{})
	b := NewFailures([]string{"s"}, FailureOptions{})
	k := Key(0, 503, ClassHTTPStatus, AssertStatus)
	for i := range 10 {
		offer(a, k, sample("s", float64(2*i)))
		offer(b, k, sample("s", float64(2*i+1)))
	}
	offer(b, Key(0, 0, ClassTimeout, AssertNone), sample("s", 3))
	m := MergeFailures(a.Report(), nil, b.Report())
	require.Len(t, m.Groups, 2)
	g := m.Groups[0]
	assert.Equal(t, int64(20), g.Count)
	assert.Equal(t, at(0), g.First)
	assert.Equal(t, at(19), g.Last)
	var times []float64
	for _, s := range g.Samples {
		times = append(times, s.At.Sub(t0).Seconds())
	}
	assert.Equal(t, []float64{0, 17, 18, 19}, times, "the earliest first, the latest three")
	assert.Nil(t, MergeFailures(nil, nil), "nothing failed anywhere")
}

// A report is the caller's to change: the daemon redacts its samples in
// place while the recorder keeps the originals for the next report.
func TestFailureReportSharesNothing(t *testing.T) {
	f := NewFailures([]string{"login"}, FailureOptions{})
	k := Key(0, 503, ClassHTTPStatus, AssertStatus)
	s := sample("login", 0)
	s.Assertion = &AssertionFailure{Kind: "status", Expected: "200", Actual: "503"}
	s.Request.Headers = []SampleHeader{{Name: "X-Api-Key", Value: "secret"}}
	s.Response = &SampleResponse{Status: 503, Headers: []SampleHeader{{Name: "Set-Cookie", Value: "sid=secret"}}, Body: "secret"}
	require.True(t, offer(f, k, s))

	r := f.Report()
	got := &r.Groups[0].Samples[0]
	got.Assertion.Actual, got.Request.Headers[0].Value = "x", "x"
	got.Response.Headers[0].Value, got.Response.Body = "x", "x"

	again := f.Report().Groups[0].Samples[0]
	assert.Equal(t, "503", again.Assertion.Actual)
	assert.Equal(t, "secret", again.Request.Headers[0].Value)
	assert.Equal(t, "sid=secret", again.Response.Headers[0].Value)
	assert.Equal(t, "secret", again.Response.Body)
}
