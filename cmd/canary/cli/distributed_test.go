package cli

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canaryproj/canary/push"
	"github.com/canaryproj/canary/stats"
)

const pushToken = "cli-push-sekret"

// fakeDaemon records the segment messages it is sent and answers as the
// daemon does (202 with the run), or with status when set.
type fakeDaemon struct {
	mu     sync.Mutex
	msgs   []push.Message
	paths  []string
	auth   []string
	status int
	got    chan string // each message's event, as it arrives
}

func newFakeDaemon(t *testing.T) (*fakeDaemon, *httptest.Server) {
	fd := &fakeDaemon{got: make(chan string, 16)}
	srv := httptest.NewServer(fd)
	t.Cleanup(srv.Close)
	return fd, srv
}

func (fd *fakeDaemon) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var m push.Message
	zr, err := gzip.NewReader(r.Body)
	if err == nil {
		err = json.NewDecoder(zr).Decode(&m)
	}
	fd.mu.Lock()
	fd.msgs = append(fd.msgs, m)
	fd.paths = append(fd.paths, r.URL.Path)
	fd.auth = append(fd.auth, r.Header.Get("Authorization"))
	status := fd.status
	fd.mu.Unlock()
	fd.got <- m.Event
	if err != nil {
		status = http.StatusBadRequest
	}
	if status != 0 {
		w.WriteHeader(status)
		_, _ = w.Write([]byte(`{"error":"segment 2/2 of run r was received already, with another report: is it running twice?"}`))
		return
	}
	w.WriteHeader(http.StatusAccepted)
	_, _ = w.Write([]byte(`{"id":"r","status":"running","segments":{"expected":2,"received":1}}`))
}

func (fd *fakeDaemon) messages() []push.Message {
	fd.mu.Lock()
	defer fd.mu.Unlock()
	return append([]push.Message(nil), fd.msgs...)
}

func runWithEnv(ctx context.Context, env map[string]string, args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = RunEnv(ctx, args, Env{Stdout: &out, Stderr: &errb, Getenv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
	return code, out.String(), errb.String()
}

func countingTarget(t *testing.T) (*atomic.Int64, string) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { n.Add(1) }))
	t.Cleanup(srv.Close)
	return &n, srv.URL
}

func TestDistributedFlagsAreChecked(t *testing.T) {
	_, target := countingTarget(t)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"both segment flags", []string{"--segment", "1/2", "--segment-index", "0/2"}, "--segment and --segment-index: give one (--segment-index 1/4 is --segment 2/4)"},
		{"a segment index out of range", []string{"--segment-index", "2/2"}, `--segment-index "2/2": want i/n with 0 ≤ i < n, e.g. 1/4 (the second of four)`},
		{"a negative segment index", []string{"--segment-index", "-1/2"}, `--segment-index "-1/2": want i/n`},
		{"a start time that is none", []string{"--start-at", "10:00"}, `--start-at "10:00": want an RFC 3339 time like 2026-12-07T10:00:00Z`},
		{"a run id without --push", []string{"--run-id", "x"}, "--run-id applies with --push"},
		{"a token without --push", []string{"--token", "x"}, "--token applies with --push"},
		{"a daemon that is not a URL", []string{"--push", "canary:9090"}, "--push the daemon: want the daemon's URL, like http://canary.monitoring:9090"},
		{"a load without an end", []string{"--push", "http://127.0.0.1:1", "--iterations", "5"}, "--push needs a load with an end"},
		{"segments that cannot find their run", []string{"--push", "http://127.0.0.1:1", "--segment", "2/4"}, "--push with --segment: give --start-at or --run-id, so that the segments find their run"},
		{"a bad run id", []string{"--push", "http://127.0.0.1:1", "--run-id", "a/b"}, `--run-id: run id "a/b": want up to 128 letters`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"run", target, "--quiet"}, tc.args...)
			if !strings.Contains(strings.Join(tc.args, " "), "--iterations") {
				args = append(args, "--rate", "10/s", "--duration", "1s")
			}
			code, _, stderr := runWithEnv(context.Background(), nil, args...)
			assert.Equal(t, ExitUsage, code, stderr)
			assert.Contains(t, stderr, tc.want)
		})
	}
}

// A segment registers with the daemon, waits for its start, runs its
// slice and pushes its report, with the token, under the run id derived
// from the scenario and the start time.
func TestSegmentStartsOnTimeAndPushes(t *testing.T) {
	n, target := countingTarget(t)
	fd, daemon := newFakeDaemon(t)
	at := time.Now().Add(1500 * time.Millisecond).UTC().Truncate(time.Millisecond)
	out := filepath.Join(t.TempDir(), "seg.json")
	code, _, stderr := runWithEnv(context.Background(), map[string]string{"CANARY_TOKEN": pushToken},
		"run", target, "--rate", "40/s", "--duration", "1s", "--segment-index", "1/2", "--start-at", at.Format(time.RFC3339Nano),
		"--push", daemon.URL, "--grace", "2s", "--push-retry", "30s", "--out", out, "--quiet")
	// The segment's own verdict is not the subject here: 20 iterations
	// under -race on a busy machine may find the generator saturated (3).
	require.Contains(t, []int{ExitOK, ExitInconclusive}, code, stderr)
	assert.Equal(t, int64(20), n.Load(), "the second half of 40/s for 1 s")

	fh, err := os.Open(out)
	require.NoError(t, err)
	defer fh.Close()
	rep, err := stats.ReadReport(fh)
	require.NoError(t, err)
	assert.False(t, rep.Start.Before(at), "started %v, before its start time %v", rep.Start, at)
	t.Logf("started %v after --start-at", rep.Start.Sub(at))

	msgs := fd.messages()
	require.Len(t, msgs, 2)
	id := "adhoc-" + at.Format("20060102T150405.999999999Z")
	deadline := at.Add(time.Second + 2*time.Second + 30*time.Second)
	for k, event := range []string{push.Start, push.Done} {
		m := msgs[k]
		assert.Equal(t, event, m.Event)
		assert.Equal(t, "2/2", m.Segment)
		assert.Equal(t, "adhoc", m.Scenario)
		assert.True(t, deadline.Equal(m.Deadline), "deadline %v, want %v (start + duration + grace + push retry)", m.Deadline, deadline)
		require.NotNil(t, m.StartAt)
		assert.True(t, at.Equal(*m.StartAt))
		assert.Equal(t, push.Path(id), fd.paths[k])
		assert.Equal(t, "Bearer "+pushToken, fd.auth[k])
	}
	assert.Empty(t, msgs[0].Report)
	pushed, err := stats.ReadReport(bytes.NewReader(msgs[1].Report))
	require.NoError(t, err)
	assert.Equal(t, rep.Iterations, pushed.Iterations, "the report pushed is the one written")
	assert.Contains(t, stderr, "segment 2/2 of run "+id+": registered with "+daemon.URL)
	assert.Contains(t, stderr, "segment 2/2 of run "+id+": pushed to "+daemon.URL+" (1 of 2 segments in, running)")
	assert.NotContains(t, stderr, pushToken)
}

// A segment that reaches its start too late does not run: exit 3, and
// the daemon is told why.
func TestSegmentMissesItsStart(t *testing.T) {
	n, target := countingTarget(t)
	fd, daemon := newFakeDaemon(t)
	at := time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
	code, _, stderr := runWithEnv(context.Background(), nil,
		"run", target, "--rate", "10/s", "--duration", "1s", "--segment", "1/2", "--start-at", at.Format(time.RFC3339),
		"--push", daemon.URL, "--token", pushToken, "--quiet")
	assert.Equal(t, ExitInconclusive, code, stderr)
	assert.Contains(t, stderr, "canary: missed the start at "+at.Format(time.RFC3339)+" by 1m0")
	assert.Zero(t, n.Load(), "nothing was sent")
	msgs := fd.messages()
	require.Len(t, msgs, 1, "no registration for a start already past: only why it did not run")
	assert.Equal(t, push.Failed, msgs[0].Event)
	assert.Equal(t, "1/2", msgs[0].Segment)
	assert.Contains(t, msgs[0].Error, "missed the start at "+at.Format(time.RFC3339)+" by 1m0")
}

// Ctrl-C while waiting for the start: exit 3 at once, nothing sent, and
// the daemon is told.
func TestSegmentInterruptedBeforeItsStart(t *testing.T) {
	n, target := countingTarget(t)
	fd, daemon := newFakeDaemon(t)
	at := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		if <-fd.got == push.Start { // registered: it now waits for the start
			cancel()
		}
	}()
	code, _, stderr := runWithEnv(ctx, nil,
		"run", target, "--rate", "10/s", "--duration", "1s", "--segment", "2/2", "--start-at", at.Format(time.RFC3339),
		"--push", daemon.URL, "--quiet")
	assert.Equal(t, ExitInconclusive, code, stderr)
	assert.Contains(t, stderr, "canary: interrupted while waiting for the start at "+at.Format(time.RFC3339)+": nothing was sent")
	assert.Zero(t, n.Load())
	msgs := fd.messages()
	require.Len(t, msgs, 2)
	assert.Equal(t, push.Failed, msgs[1].Event)
	assert.Contains(t, msgs[1].Error, "interrupted while waiting for the start")
}

// A push the daemon refuses is exit 1: the run's verdict is the daemon's,
// and it has no report.
func TestSegmentPushRefused(t *testing.T) {
	_, target := countingTarget(t)
	fd, daemon := newFakeDaemon(t)
	fd.status = http.StatusConflict
	out := filepath.Join(t.TempDir(), "seg.json")
	code, _, stderr := runWithEnv(context.Background(), map[string]string{"CANARY_TOKEN": pushToken},
		"run", target, "--rate", "10/s", "--duration", "500ms", "--segment", "2/2", "--run-id", "r", "--push", daemon.URL, "--out", out, "--quiet")
	assert.Equal(t, ExitInternal, code, stderr)
	assert.Contains(t, stderr, "canary: push segment 2/2 of run r to "+daemon.URL+": HTTP 409: segment 2/2 of run r was received already")
	assert.Contains(t, stderr, "canary: warning: push segment 2/2 of run r", "the registration was refused too, and only warned about")
	assert.FileExists(t, out, "the report is written all the same")
	assert.NotContains(t, stderr, pushToken)
}
