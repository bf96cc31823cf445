package run

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canaryproj/canary/internal/yamlfile"
	"github.com/canaryproj/canary/profiles"
	"github.com/canaryproj/canary/slo"
)

// halfBroken answers every other request with a 503.
func halfBroken() http.Handler {
	var n atomic.Int64
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1)%2 == 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
}

// A minute planned at 100/s against a target failing half its requests:
// errors<1% allows 60 failures of the 6,000 planned iterations, so it is
// lost after about 120 iterations, and abort_on_fail stops the run at the
// first flush that sees it — within the first seconds, not after a minute.
func TestAbortOnFailStopsALostRun(t *testing.T) {
	srv := httptest.NewServer(halfBroken())
	defer srv.Close()
	for _, tc := range []struct {
		name    string
		expr    string
		earlies time.Duration // the abort comes no sooner
	}{
		{name: "as soon as it is lost", expr: "errors<1% abort_on_fail"},
		{name: "not before its delay", expr: "errors<1% abort_on_fail(delay=3s)", earlies: 3 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := slo.ParseExpr(tc.expr)
			require.NoError(t, err)
			began := time.Now()
			out, err := Run(context.Background(), Options{
				Scenario: load(t, srv.URL), Profile: flags(t, profiles.Flags{Rate: "100/s", Duration: time.Minute}),
				SLOs: []slo.Objective{o}, Grace: time.Second,
			})
			require.NoError(t, err)
			took := time.Since(began)
			assert.Less(t, took, tc.earlies+10*time.Second, "the run stopped early")

			require.NotNil(t, out.Abort, "an objective stopped the run")
			assert.Equal(t, slo.Fail, out.Judgement.Verdict, "%v", out.Judgement.Reasons)
			assert.Equal(t, "errors<1% abort_on_fail"+map[bool]string{true: "(delay=3s)"}[tc.earlies > 0], out.Abort.Objective)
			assert.GreaterOrEqual(t, out.Abort.AtS, tc.earlies.Seconds())
			assert.LessOrEqual(t, out.Abort.AtS, tc.earlies.Seconds()+5, "within the first seconds")
			assert.Regexp(t, `^errors: \d+ iterations failed of at most 6000 planned: even if no other fails, it ends at [\d.]+%, >= 1%$`, out.Abort.Reason)
			require.NotEmpty(t, out.Report.Reasons)
			assert.Regexp(t, `^aborted after [\d.]+s by errors<1% abort_on_fail.*: errors: \d+ iterations failed`, out.Report.Reasons[0], "the report says when and why")
			assert.Less(t, out.Report.Iterations.Total, int64(3000), "far fewer than the 6,000 planned")
			assert.Equal(t, "fail", out.Report.Verdict)

			// The JSON report carries it too.
			raw, err := json.Marshal(out.Report)
			require.NoError(t, err)
			var doc struct {
				Aborted   bool `json:"aborted"`
				AbortedBy struct {
					AtS       float64 `json:"at_s"`
					Objective string  `json:"objective"`
					Reason    string  `json:"reason"`
				} `json:"aborted_by"`
			}
			require.NoError(t, json.Unmarshal(raw, &doc))
			assert.False(t, doc.Aborted, "stopped on purpose, not interrupted")
			assert.Equal(t, out.Abort.AtS, doc.AbortedBy.AtS)
			assert.Equal(t, out.Abort.Reason, doc.AbortedBy.Reason)
		})
	}
}

// Without abort_on_fail, and for an objective that still holds, a run
// goes to its end.
func TestAbortOnFailLeavesAPassingRun(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	o, err := slo.ParseExpr("errors<1% abort_on_fail")
	require.NoError(t, err)
	out, err := Run(context.Background(), Options{
		Scenario: load(t, srv.URL), Profile: flags(t, profiles.Flags{Rate: "50/s", Duration: 2 * time.Second}),
		SLOs: []slo.Objective{o},
	})
	require.NoError(t, err)
	assert.Nil(t, out.Abort)
	assert.Nil(t, out.Report.AbortedBy)
	assert.Equal(t, int64(100), out.Report.Iterations.Total)
}

func TestPlanned(t *testing.T) {
	for _, tc := range []struct {
		f    profiles.Flags
		want int64
	}{
		{profiles.Flags{Rate: "100/s", Duration: time.Minute}, 6000},
		{profiles.Flags{Rate: "1/3s", Duration: 10 * time.Second}, 4},
		{profiles.Flags{Iterations: 250}, 250},
		{profiles.Flags{VUs: 5, Duration: time.Minute}, 0},
	} {
		assert.Equal(t, tc.want, Planned(flags(t, tc.f)), "Planned(%+v)", tc.f)
	}
	// A looping shorthand run for a while, as a daemon's on-demand run is.
	loop, err := profiles.Parse("p.yaml", []byte("rate: 20/s\n"), yamlfile.Options{})
	require.NoError(t, err)
	require.True(t, loop.Loop)
	assert.Equal(t, int64(0), Planned(loop), "endless")
	assert.Equal(t, int64(1200), Planned(loop.WithDuration(time.Minute)))
}
