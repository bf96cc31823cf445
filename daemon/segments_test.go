package daemon

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canaryproj/canary/internal/clock"
	"github.com/canaryproj/canary/profiles"
	"github.com/canaryproj/canary/push"
	"github.com/canaryproj/canary/run"
	"github.com/canaryproj/canary/scenario"
	"github.com/canaryproj/canary/slo"
	"github.com/canaryproj/canary/stats"
)

var epoch = time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)

// segmentsDaemon starts a daemon without checks whose distributed runs'
// deadlines are on clk; it accepts the run token too.
func segmentsDaemon(t *testing.T, clk clock.Clock) *testDaemon {
	t.Helper()
	td := newTestDaemon(t, "  run_token: \"${RUN_TOKEN}\"\n", "")
	td.clock = clk
	td.run()
	return td
}

// segmentReports runs the n segments of `iterations` iterations of
// scenario "shop" against a target that answers 503 to the iterations fail
// picks, judged by exprs, and returns their reports' JSON.
func segmentReports(t *testing.T, n int, iterations uint64, fail func(i int) bool, exprs ...string) []json.RawMessage {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if i, err := strconv.Atoi(r.URL.Query().Get("i")); err == nil && fail(i) {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	sc, err := scenario.Parse("shop.yaml", []byte(fmt.Sprintf(`name: shop
steps:
  - name: products
    request: {url: "%s/products?i={{ iteration }}"}
    expect: {status: 200}
`, srv.URL)), scenario.LoadOptions{})
	require.NoError(t, err)
	var objs []slo.Objective
	for _, e := range exprs {
		o, err := slo.ParseExpr(e)
		require.NoError(t, err)
		objs = append(objs, o)
	}
	whole, err := profiles.FromFlags(profiles.Flags{Iterations: iterations, VUs: 2})
	require.NoError(t, err)
	var out []json.RawMessage
	for i := range n {
		seg, err := whole.Segment(i, n)
		require.NoError(t, err)
		o, err := run.Run(context.Background(), run.Options{Scenario: sc, Profile: seg, SLOs: objs})
		require.NoError(t, err)
		raw, err := json.Marshal(o.Report)
		require.NoError(t, err)
		out = append(out, raw)
	}
	return out
}

func none(int) bool { return false }

func done(seg string, rep json.RawMessage) push.Message {
	return push.Message{Event: push.Done, Segment: seg, Scenario: "shop", Deadline: epoch.Add(5 * time.Minute), Report: rep}
}

func started(seg string) push.Message {
	return push.Message{Event: push.Start, Segment: seg, Scenario: "shop", Deadline: epoch.Add(5 * time.Minute)}
}

// pushTo sends m for run through the segments' own client.
func (td *testDaemon) pushTo(id string, m push.Message) (*push.Answer, error) {
	c := &push.Client{URL: td.base, Token: runToken, Retry: time.Second}
	return c.Send(context.Background(), id, m)
}

// distributedRun is GET /api/v1/runs/{id}, decoded.
type distributedRun struct {
	ID       string        `json:"id"`
	Scenario string        `json:"scenario"`
	Status   string        `json:"status"`
	Verdict  string        `json:"verdict"`
	Reasons  []string      `json:"reasons"`
	Segments segmentsDoc   `json:"segments"`
	Report   *stats.Report `json:"report"`
	Location string        `json:"location"`
}

func (td *testDaemon) distributed(id string) distributedRun {
	td.t.Helper()
	var r distributedRun
	resp, err := http.Get(td.base + "/api/v1/runs/" + id)
	require.NoError(td.t, err)
	defer resp.Body.Close()
	require.Equal(td.t, http.StatusOK, resp.StatusCode)
	require.NoError(td.t, json.NewDecoder(resp.Body).Decode(&r))
	return r
}

func states(r distributedRun) []string {
	var out []string
	for _, p := range r.Segments.Parts {
		out = append(out, p.State)
	}
	return out
}

func decodeReports(t *testing.T, raws ...json.RawMessage) []*stats.Report {
	t.Helper()
	var out []*stats.Report
	for _, raw := range raws {
		r, err := stats.ReadReport(bytes.NewReader(raw))
		require.NoError(t, err)
		out = append(out, r)
	}
	return out
}

// Four segments start, report one by one, and the run is merged and judged
// once, when the last one is in: by the segments' SLOs on the merged
// counters (2 failures of 160 pass errors<2%, although they are 5 % of the
// segment that had them).
func TestDistributedRunIsMergedAndJudged(t *testing.T) {
	td := segmentsDaemon(t, clock.NewFake(epoch))
	reps := segmentReports(t, 4, 160, func(i int) bool { return i == 85 || i == 86 }, "errors<2%")
	const id = "shop-20261207T100000Z"
	for i := 1; i <= 4; i++ {
		a, err := td.pushTo(id, started(fmt.Sprintf("%d/4", i)))
		require.NoError(t, err)
		assert.Equal(t, RunRunning, a.Status)
		assert.Equal(t, 4, a.Segments.Expected)
		assert.Zero(t, a.Segments.Received)
	}
	r := td.distributed(id)
	assert.Equal(t, []string{"started", "started", "started", "started"}, states(r))
	assert.Equal(t, "shop", r.Scenario)
	assert.Equal(t, td.base+"/api/v1/runs/"+id, r.Location)

	for i := 1; i <= 3; i++ {
		a, err := td.pushTo(id, done(fmt.Sprintf("%d/4", i), reps[i-1]))
		require.NoError(t, err)
		assert.Equal(t, RunRunning, a.Status, "segment %d of 4", i)
		assert.Equal(t, i, a.Segments.Received)
	}
	var list struct {
		Runs []distributedRun `json:"runs"`
	}
	require.NoError(t, json.Unmarshal([]byte(td.raw("/api/v1/runs")), &list))
	require.Len(t, list.Runs, 1)
	assert.Equal(t, 4, list.Runs[0].Segments.Expected)
	assert.Equal(t, 3, list.Runs[0].Segments.Received)
	assert.Equal(t, RunRunning, list.Runs[0].Status)

	a, err := td.pushTo(id, done("4/4", reps[3]))
	require.NoError(t, err)
	assert.Equal(t, RunPassed, a.Status)
	r = td.distributed(id)
	assert.Equal(t, RunPassed, r.Status)
	assert.Equal(t, "pass", r.Verdict)
	assert.Equal(t, []string{"reported", "reported", "reported", "reported"}, states(r))
	require.NotNil(t, r.Report)
	assert.Equal(t, "merged 4/4", r.Report.Profile.(map[string]any)["segment"])
	assert.Equal(t, int64(160), r.Report.Iterations.Total)
	assert.Equal(t, []stats.SLOResult{{Expr: "errors<2%", Observed: 1.25, Pass: true}}, r.Report.SLOs)

	// The daemon's merge is run.Merge's, the one `canary report --merge` makes.
	want, j, err := run.Merge(decodeReports(t, reps...), run.MergeOptions{})
	require.NoError(t, err)
	assert.Equal(t, string(j.Verdict), r.Verdict)
	assert.Equal(t, want.Latency, r.Report.Latency)
	assert.Equal(t, want.Steps[0].HDR, r.Report.Steps[0].HDR)

	page := td.raw("/")
	assert.Contains(t, page, "<code>"+id+"</code></a></td><td>shop</td><td>passed</td>", "the status page lists it under its scenario")

	// A retried push of a finished run's segment is answered, unchanged.
	a, err = td.pushTo(id, done("2/4", reps[1]))
	require.NoError(t, err)
	assert.Equal(t, RunPassed, a.Status)
	assert.NotContains(t, td.logs.String(), runToken)
}

// A segment that never reports: at the deadline the run is closed as
// inconclusive, naming it, with the others merged; a report after that is
// refused.
func TestDistributedRunDeadline(t *testing.T) {
	clk := clock.NewFake(epoch)
	td := segmentsDaemon(t, clk)
	reps := segmentReports(t, 4, 40, none, "errors<1%")
	const id = "late"
	for _, i := range []int{1, 2, 4} {
		_, err := td.pushTo(id, done(fmt.Sprintf("%d/4", i), reps[i-1]))
		require.NoError(t, err)
	}
	deadline := epoch.Add(5 * time.Minute)
	td.d.segments.expire(deadline.Add(-time.Nanosecond))
	assert.Equal(t, RunRunning, td.distributed(id).Status, "not before the deadline")
	td.d.segments.expire(deadline)
	r := td.distributed(id)
	assert.Equal(t, RunInconclusive, r.Status)
	assert.Equal(t, []string{"segment 3/4 never reported (deadline 2026-12-07T10:05:00Z)"}, r.Reasons)
	assert.Equal(t, []string{"reported", "reported", "missing", "reported"}, states(r))
	require.NotNil(t, r.Report, "the segments that reported, merged")
	assert.Equal(t, "merged 3/4", r.Report.Profile.(map[string]any)["segment"])
	assert.Equal(t, int64(30), r.Report.Iterations.Total)

	_, err := td.pushTo(id, done("3/4", reps[2]))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "HTTP 409: run late was closed inconclusive at its deadline without segment 3/4")
}

// The deadline is kept by the daemon's own loop, on its clock.
func TestDistributedRunDeadlineOnTheClock(t *testing.T) {
	clk := clock.NewFake(epoch)
	td := segmentsDaemon(t, clk)
	reps := segmentReports(t, 2, 8, none)
	_, err := td.pushTo("r1", done("1/2", reps[0]))
	require.NoError(t, err)
	clk.Advance(5 * time.Minute)
	require.Eventually(t, func() bool { return td.distributed("r1").Status == RunInconclusive }, 10*time.Second, 10*time.Millisecond)
	assert.Equal(t, []string{"segment 2/2 never reported (deadline 2026-12-07T10:05:00Z)"}, td.distributed("r1").Reasons)
}

// A segment that could not run says so: the run is inconclusive as soon as
// the others are in, naming it and why.
func TestDistributedRunWithAFailedSegment(t *testing.T) {
	td := segmentsDaemon(t, clock.NewFake(epoch))
	reps := segmentReports(t, 3, 30, none)
	_, err := td.pushTo("r2", push.Message{Event: push.Failed, Segment: "2/3", Scenario: "shop", Deadline: epoch.Add(time.Minute),
		Error: "missed the start at 2026-12-07T10:00:00Z by 12.4s (more than 100ms late): nothing was sent"})
	require.NoError(t, err)
	for _, i := range []int{1, 3} {
		_, err := td.pushTo("r2", done(fmt.Sprintf("%d/3", i), reps[i-1]))
		require.NoError(t, err)
	}
	r := td.distributed("r2")
	assert.Equal(t, RunInconclusive, r.Status)
	assert.Equal(t, "segment 2/3 did not run: missed the start at 2026-12-07T10:00:00Z by 12.4s (more than 100ms late): nothing was sent", r.Reasons[0])
	assert.Equal(t, 1, r.Segments.Failed)
	assert.Equal(t, 2, r.Segments.Received)
}

func TestSegmentPushesRefused(t *testing.T) {
	td := segmentsDaemon(t, clock.NewFake(epoch))
	reps := segmentReports(t, 4, 8, none)
	other := segmentReports(t, 4, 8, none)
	judged := segmentReports(t, 4, 8, none, "p99<1s")
	eight := segmentReports(t, 8, 8, none)
	_, err := td.pushTo("r1", done("1/4", reps[0]))
	require.NoError(t, err)
	_, err = td.d.store.PutRun("on-demand-1", "", runDoc{ID: "on-demand-1", Check: "shop", Status: RunPassed})
	require.NoError(t, err)
	for _, tc := range []struct {
		name string
		id   string
		msg  push.Message
		want string // "" accepted
	}{
		{"the same report again is a retry", "r1", done("1/4", reps[0]), ""},
		{"another report of the same segment", "r1", done("1/4", other[0]), "HTTP 409: segment 1/4 of run r1 was received already, with another report: is it running twice?"},
		{"a start after the report", "r1", started("1/4"), "HTTP 409: segment 1/4 of run r1 has reported already: is it running twice?"},
		{"a segment of another count", "r1", done("2/8", eight[1]), "HTTP 409: segment 2/8 is not one of run r1, which has 4 segments"},
		{"out of range", "r1", started("5/4"), `HTTP 400: segment "5/4": want i/n with 1 ≤ i ≤ n, e.g. 2/4`},
		{"too many segments", "r1", started("1/65"), "HTTP 400: segment 1/65: at most 64 segments"},
		{"another scenario", "r1", func() push.Message { m := started("2/4"); m.Scenario = "cart"; return m }(), `HTTP 409: segment 2/4 runs scenario "cart", run r1 is of "shop"`},
		{"a report of another segment", "r1", done("2/4", reps[2]), "HTTP 400: segment 2/4: the report is not of segment 2/4 (its profile says 3/4)"},
		{"other SLOs", "r1", done("2/4", judged[1]), "HTTP 409: segment 2/4 was judged by p99<1s, run r1's other segments by no SLOs: the segments must run with the same --slo"},
		{"a report that is none", "r1", done("2/4", json.RawMessage(`{"schema":"canary.report/v0"}`)), `HTTP 400: segment 2/4: schema "canary.report/v0": want "canary.report/v1"`},
		{"no deadline", "r1", func() push.Message { m := started("2/4"); m.Deadline = time.Time{}; return m }(), "HTTP 400: deadline: want the time by which every segment will have reported"},
		{"a deadline too far", "r1", func() push.Message { m := started("2/4"); m.Deadline = epoch.Add(26 * time.Hour); return m }(), "HTTP 400: deadline 2026-12-08T12:00:00Z: at most 25h0m0s ahead"},
		{"an unknown event", "r1", func() push.Message { m := started("2/4"); m.Event = "finished"; return m }(), `HTTP 400: event "finished": want "start", "done" or "failed"`},
		{"done without a report", "r1", done("2/4", nil), `HTTP 400: event "done": want a report and no error`},
		{"failed without a reason", "r1", push.Message{Event: push.Failed, Segment: "2/4", Scenario: "shop", Deadline: epoch.Add(time.Minute)}, `HTTP 400: event "failed": say why in error (at most 1000 characters)`},
		{"a bad run id", "a b", started("2/4"), `HTTP 400: run id "a b": want up to 128 letters, digits, '.', '_' or '-', starting with a letter or digit`},
		{"an on-demand run's id", "on-demand-1", started("1/2"), `HTTP 409: run id "on-demand-1" is an on-demand run's: give the distributed run another --run-id`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := td.pushTo(tc.id, tc.msg)
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	r := td.distributed("r1")
	assert.Equal(t, 1, r.Segments.Received, "nothing refused counted")
	assert.Equal(t, []string{"reported", "waiting", "waiting", "waiting"}, states(r))
}

func TestSegmentPushBodies(t *testing.T) {
	td := segmentsDaemon(t, clock.NewFake(epoch))
	msg, err := json.Marshal(started("1/2"))
	require.NoError(t, err)
	gz := func(b []byte) []byte {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		_, _ = zw.Write(b)
		_ = zw.Close()
		return buf.Bytes()
	}
	// A gzip'd body that inflates past the bound: 9 MiB of spaces, a few KiB on the wire.
	bomb := gz(append(bytes.Repeat([]byte(" "), 9<<20), msg...))
	for _, tc := range []struct {
		name     string
		tok      string
		encoding string
		body     []byte
		code     int
		want     string
	}{
		{"plain JSON", runToken, "", msg, 202, ""},
		{"gzip", runToken, "gzip", gz(msg), 202, ""},
		{"the admin token", token, "gzip", gz(msg), 202, ""},
		{"no token", "", "gzip", gz(msg), 401, "missing or wrong bearer token"},
		{"another encoding", runToken, "br", msg, 415, `Content-Encoding "br": send gzip or nothing`},
		{"not gzip", runToken, "gzip", msg, 400, "body: gzip: invalid header"},
		{"a gzip bomb", runToken, "gzip", bomb, 413, "message larger than 8 MiB"},
		{"over the API's body cap", runToken, "", bytes.Repeat([]byte(" "), 2<<20), 413, "body larger than"},
		{"unknown fields", runToken, "", []byte(`{"event":"start","segmnet":"1/2"}`), 400, `unknown field "segmnet"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest("POST", td.base+push.Path("b1"), bytes.NewReader(tc.body))
			require.NoError(t, err)
			if tc.tok != "" {
				req.Header.Set("Authorization", "Bearer "+tc.tok)
			}
			if tc.encoding != "" {
				req.Header.Set("Content-Encoding", tc.encoding)
			}
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			var body map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&body)
			assert.Equal(t, tc.code, resp.StatusCode, "%v", body)
			if tc.want != "" {
				assert.Contains(t, body["error"], tc.want)
			}
		})
	}
}

// At most MaxPendingRuns distributed runs wait for their segments; one more
// is refused with a Retry-After, and counted.
func TestDistributedRunsAreBounded(t *testing.T) {
	td := segmentsDaemon(t, clock.NewFake(epoch))
	for i := range MaxPendingRuns {
		_, err := td.pushTo(fmt.Sprintf("r%d", i), started("1/2"))
		require.NoError(t, err)
	}
	_, err := td.pushTo("one-more", started("1/2"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "HTTP 429: 16 distributed runs are waiting for their segments already; try again later")
	assert.Contains(t, td.raw("/metrics"), `canary_api_requests_rejected_total{reason="distributed_runs"} 1`)
	_, err = td.pushTo("r3", started("2/2"))
	assert.NoError(t, err, "the runs already waiting still take their segments")
}

// The daemon restarts while the segments run: the run goes on, and the
// reports already pushed are merged with the rest.
func TestDistributedRunSurvivesARestart(t *testing.T) {
	clk := clock.NewFake(epoch)
	td := segmentsDaemon(t, clk)
	reps := segmentReports(t, 3, 30, none)
	for i := 1; i <= 2; i++ {
		_, err := td.pushTo("r1", done(fmt.Sprintf("%d/3", i), reps[i-1]))
		require.NoError(t, err)
	}
	td.stop()
	td.run()
	r := td.distributed("r1")
	assert.Equal(t, RunRunning, r.Status, "not cut short by the restart")
	assert.Equal(t, 2, r.Segments.Received)
	_, err := td.pushTo("r1", done("3/3", reps[2]))
	require.NoError(t, err)
	r = td.distributed("r1")
	assert.Equal(t, RunPassed, r.Status)
	assert.Equal(t, int64(30), r.Report.Iterations.Total, "the reports from before the restart are in")
	assert.Equal(t, "merged 3/3", r.Report.Profile.(map[string]any)["segment"])
	n, err := td.d.store.Len("segments")
	require.NoError(t, err)
	assert.Zero(t, n, "the segments' reports go once merged")
	assert.False(t, strings.Contains(td.logs.String(), runToken))
}
