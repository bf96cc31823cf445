package scenario

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canaryproj/canary/redact"
	"github.com/canaryproj/canary/stats"
)

// A failing step leaves a sample of its exchange: the request with its
// ${VAR} values and credential headers redacted, what the target answered
// (header fields and the beginning of the body, even when the step does
// not read them), the expectation that failed with the actual value, and
// the time split.
func TestFailureSamples(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/login":
			w.Header().Set("Retry-After", "5")
			w.Header().Set("Set-Cookie", "session=abcdef123456")
			w.WriteHeader(503)
			fmt.Fprint(w, "overloaded: try later")
		default:
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"user":{"id":"seven"},"total":3}`)
		}
	}))
	defer srv.Close()
	env := map[string]string{"TOKEN": "tok-0123456789", "PASSWORD": "hunter2-very-secret"}
	s := parseSrc(t, fmt.Sprintf(`name: shop
steps:
  - name: login
    request:
      method: POST
      url: %q
      headers: {Authorization: "Bearer ${TOKEN}", X-Trace: "plain"}
      json: {user: ada, password: "${PASSWORD}"}
    expect: {status: 200}
    continue_on_failure: true
  - name: profile
    request: {url: %q, headers: {X-Key: "${TOKEN}"}}
    expect:
      json: {user.id: {gt: 0}}
`, srv.URL+"/login", srv.URL+"/me"), env)
	failures := stats.NewFailures(s.StepNames(), stats.FailureOptions{Interval: time.Nanosecond})
	r := NewRunner(s, client(t, s), WithFailures(failures))
	for i := range 3 {
		res := r.Run(context.Background(), Iteration{Number: uint64(40 + i)}, nil)
		require.False(t, res.OK)
	}
	rep := failures.Report()
	require.Len(t, rep.Groups, 2, "a 503 of login and a wrong JSON field of profile")
	byStep := map[string]stats.FailureGroup{}
	for _, g := range rep.Groups {
		byStep[g.Step] = g
	}

	login := byStep["login"]
	assert.Equal(t, "http_status", login.Class)
	assert.Equal(t, 503, login.Status)
	assert.Equal(t, int64(3), login.Count)
	require.Len(t, login.Samples, 3, "the first and the latest two, one per (nanosecond) interval")
	ls := login.Samples[0]
	assert.Equal(t, uint64(40), ls.Iteration)
	assert.Equal(t, "POST", ls.Request.Method)
	assert.Equal(t, srv.URL+"/login", ls.Request.URL)
	assert.Contains(t, ls.Request.Headers, stats.SampleHeader{Name: "Authorization", Value: redact.Placeholder})
	assert.Contains(t, ls.Request.Headers, stats.SampleHeader{Name: "X-Trace", Value: "plain"})
	assert.Equal(t, `{"password":"`+redact.Placeholder+`","user":"ada"}`, ls.Request.Body)
	require.NotNil(t, ls.Response)
	assert.Equal(t, 503, ls.Response.Status)
	assert.Equal(t, "overloaded: try later", ls.Response.Body, "the body the step discards, kept for the sample")
	assert.Equal(t, int64(21), ls.Response.BodyBytes)
	assert.Contains(t, ls.Response.Headers, stats.SampleHeader{Name: "Retry-After", Value: "5"}, "the header fields the step does not read")
	assert.Contains(t, ls.Response.Headers, stats.SampleHeader{Name: "Set-Cookie", Value: redact.Placeholder})
	assert.Equal(t, &stats.AssertionFailure{Kind: "status", Expected: "200", Actual: "503"}, ls.Assertion)
	assert.True(t, ls.Timing.NewConnection, "the first request dialled")
	assert.Positive(t, ls.Timing.TotalMs)
	assert.Positive(t, ls.Timing.FirstByteMs+ls.Timing.ConnectMs)
	assert.Contains(t, ls.Error, "status 503, want 200")

	profile := byStep["profile"]
	assert.Equal(t, "assertion", profile.Class)
	assert.Equal(t, "json", profile.Assertion)
	require.NotEmpty(t, profile.Samples)
	ps := profile.Samples[len(profile.Samples)-1]
	assert.Equal(t, &stats.AssertionFailure{Kind: "json", Target: "user.id", Expected: "gt 0", Actual: `"seven"`}, ps.Assertion)
	assert.Contains(t, ps.Request.Headers, stats.SampleHeader{Name: "X-Key", Value: redact.Placeholder}, "a ${VAR} value")
	assert.Equal(t, `{"user":{"id":"seven"},"total":3}`, ps.Response.Body)
	assert.Contains(t, ps.Response.Headers, stats.SampleHeader{Name: "Content-Type", Value: "application/json"},
		"a failing step's later requests are traced in full")

	for _, g := range rep.Groups {
		for _, smp := range g.Samples {
			all := fmt.Sprintf("%+v", smp)
			for _, secret := range env {
				assert.NotContains(t, all, secret, "no secret in a sample")
			}
			assert.NotContains(t, all, "abcdef123456", "no cookie in a sample")
		}
	}
}

// Without a sink the runner samples nothing and sets no trace.
func TestNoFailureSink(t *testing.T) {
	srv := target(t, 503, nil, strings.Repeat("x", 10))
	s := parseSrc(t, fmt.Sprintf("name: a\nsteps:\n  - {name: s, request: {url: %q}}\n", srv.URL), nil)
	res := NewRunner(s, client(t, s)).Run(context.Background(), Iteration{}, nil)
	assert.False(t, res.OK)
}
