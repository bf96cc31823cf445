package push

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/canaryproj/canary/internal/clock"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const token = "push-sekret-token"

var epoch = time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)

// daemon answers each attempt with the next of its answers (the last one
// repeats) and keeps what it received.
type daemon struct {
	mu       sync.Mutex
	answers  []answer
	got      []Message
	paths    []string
	auth     []string
	encoding []string
}

type answer struct {
	status     int
	retryAfter string
	body       string
}

func (d *daemon) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var m Message
	if zr, err := gzip.NewReader(r.Body); err == nil {
		_ = json.NewDecoder(zr).Decode(&m)
	}
	d.got = append(d.got, m)
	d.paths = append(d.paths, r.URL.Path)
	d.auth = append(d.auth, r.Header.Get("Authorization"))
	d.encoding = append(d.encoding, r.Header.Get("Content-Encoding"))
	a := d.answers[min(len(d.got), len(d.answers))-1]
	if a.retryAfter != "" {
		w.Header().Set("Retry-After", a.retryAfter)
	}
	w.WriteHeader(a.status)
	_, _ = w.Write([]byte(a.body))
}

func (d *daemon) attempts() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.got)
}

const accepted = `{"id":"checkout-20261207T100000Z","status":"running","segments":{"expected":4,"received":3}}`

func message() Message {
	return Message{Event: Done, Segment: "2/4", Scenario: "checkout", Deadline: epoch.Add(10 * time.Minute), Report: json.RawMessage(`{"schema":"canary.report/v1"}`)}
}

// send runs Send in the background on clk and returns its outcome.
func send(c *Client) <-chan error {
	done := make(chan error, 1)
	go func() {
		_, err := c.Send(context.Background(), "checkout-20261207T100000Z", message())
		done <- err
	}()
	return done
}

func TestSendDelivers(t *testing.T) {
	d := &daemon{answers: []answer{{status: 202, body: accepted}}}
	srv := httptest.NewServer(d)
	defer srv.Close()
	c := &Client{URL: srv.URL + "/", Token: token}
	a, err := c.Send(context.Background(), "checkout-20261207T100000Z", message())
	require.NoError(t, err)
	assert.Equal(t, "running", a.Status)
	assert.Equal(t, 3, a.Segments.Received)
	require.Len(t, d.got, 1)
	assert.Equal(t, message(), d.got[0], "the message arrives whole")
	assert.Equal(t, "/api/v1/runs/checkout-20261207T100000Z/segments", d.paths[0])
	assert.Equal(t, "Bearer "+token, d.auth[0])
	assert.Equal(t, "gzip", d.encoding[0])
}

// The waits between attempts, on a fake clock: the backoff doubles, and a
// Retry-After is waited exactly.
func TestSendRetries(t *testing.T) {
	for _, tc := range []struct {
		name    string
		answers []answer
		waits   []time.Duration // before each retry
	}{
		{"5xx back off and double", []answer{{status: 500}, {status: 502}, {status: 503}, {status: 202, body: accepted}},
			[]time.Duration{MinBackoff, 2 * MinBackoff, 4 * MinBackoff}},
		{"Retry-After wins", []answer{{status: 429, retryAfter: "3"}, {status: 503, retryAfter: "7"}, {status: 202, body: accepted}},
			[]time.Duration{3 * time.Second, 7 * time.Second}},
		{"the backoff is capped", []answer{{status: 500}, {status: 500}, {status: 500}, {status: 500}, {status: 500}, {status: 500}, {status: 202, body: accepted}},
			[]time.Duration{MinBackoff, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, MaxBackoff}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &daemon{answers: tc.answers}
			srv := httptest.NewServer(d)
			defer srv.Close()
			clk := clock.NewFake(epoch)
			done := send(&Client{URL: srv.URL, Token: token, Clock: clk})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			for k, w := range tc.waits {
				require.NoError(t, clk.BlockUntil(ctx, 1), "waiting before retry %d", k+1)
				require.Equal(t, k+1, d.attempts())
				clk.Advance(w - time.Millisecond)
				require.Equal(t, k+1, d.attempts(), "no retry before %v", w)
				clk.Advance(time.Millisecond)
			}
			select {
			case err := <-done:
				require.NoError(t, err)
			case <-ctx.Done():
				t.Fatal("Send did not return")
			}
			assert.Equal(t, len(tc.waits)+1, d.attempts())
		})
	}
}

func TestSendGivesUp(t *testing.T) {
	for _, tc := range []struct {
		name     string
		answer   answer
		retry    time.Duration
		advance  []time.Duration
		attempts int
		want     string
	}{
		{"a conflict is final", answer{status: 409, body: `{"error":"segment 2/4 of run checkout-20261207T100000Z was received already, with another report"}`}, 0, nil, 1,
			"push segment 2/4 of run checkout-20261207T100000Z to http://127.0.0.1:PORT: HTTP 409: segment 2/4 of run checkout-20261207T100000Z was received already, with another report"},
		{"a wrong token is final", answer{status: 401, body: `{"error":"missing or wrong bearer token"}`}, 0, nil, 1,
			"push segment 2/4 of run checkout-20261207T100000Z to http://127.0.0.1:PORT: HTTP 401: missing or wrong bearer token"},
		{"a body too large is final", answer{status: 413, body: `not json`}, 0, nil, 1,
			"push segment 2/4 of run checkout-20261207T100000Z to http://127.0.0.1:PORT: HTTP 413"},
		{"out of time", answer{status: 503, body: `{"error":"busy"}`}, 2 * time.Second, []time.Duration{MinBackoff, time.Second}, 3,
			"push segment 2/4 of run checkout-20261207T100000Z to http://127.0.0.1:PORT: giving up after 3 attempts in 2s: HTTP 503: busy"},
		{"a Retry-After beyond the time left", answer{status: 429, retryAfter: "600"}, time.Minute, nil, 1,
			"push segment 2/4 of run checkout-20261207T100000Z to http://127.0.0.1:PORT: giving up after 1 attempts in 1m0s: HTTP 429"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &daemon{answers: []answer{tc.answer}}
			srv := httptest.NewServer(d)
			defer srv.Close()
			clk := clock.NewFake(epoch)
			// User-info in the URL is a secret too: errors print scheme and host.
			u := strings.Replace(srv.URL, "http://", "http://admin:url-sekret@", 1)
			done := send(&Client{URL: u, Token: token, Clock: clk, Retry: tc.retry})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			for _, w := range tc.advance {
				require.NoError(t, clk.BlockUntil(ctx, 1))
				clk.Advance(w)
			}
			var err error
			select {
			case err = <-done:
			case <-ctx.Done():
				t.Fatal("Send did not return")
			}
			require.Error(t, err)
			port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
			assert.Equal(t, tc.want, strings.ReplaceAll(err.Error(), port, "PORT"))
			assert.Equal(t, tc.attempts, d.attempts())
			assert.NotContains(t, err.Error(), token)
			assert.NotContains(t, err.Error(), "url-sekret")
		})
	}
}

func TestSendUnreachableAndInterrupted(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	u := srv.URL
	srv.Close() // nothing listens there any more
	clk := clock.NewFake(epoch)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := (&Client{URL: u, Token: token, Clock: clk}).Send(ctx, "r1", message())
		done <- err
	}()
	wait, stop := context.WithTimeout(context.Background(), 10*time.Second)
	defer stop()
	require.NoError(t, clk.BlockUntil(wait, 1), "a refused connection is retried")
	cancel()
	err := <-done
	require.Error(t, err)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Contains(t, err.Error(), "push segment 2/4 of run r1 to "+u+": context canceled after 1 attempts (the last: ")
	assert.Contains(t, err.Error(), "connection refused")
}

func TestRunIDs(t *testing.T) {
	assert.Equal(t, "checkout-20261207T100000Z", RunID("checkout", epoch))
	assert.Equal(t, "checkout-20261207T100000.25Z", RunID("checkout", epoch.Add(250*time.Millisecond)))
	assert.Equal(t, "checkout-20261207T100000Z", RunID("checkout", epoch.In(time.FixedZone("CET", 3600))), "in UTC")
	long := RunID(strings.Repeat("a", 200), epoch)
	assert.Len(t, long, MaxRunID)
	for _, id := range []string{"checkout-20261207T100000Z", "a", "release-1.2_rc3", long} {
		assert.NoError(t, CheckRunID(id), id)
	}
	for _, id := range []string{"", "-x", ".x", "a/b", "a b", "ä", strings.Repeat("a", MaxRunID+1), "a%2Fb"} {
		assert.Error(t, CheckRunID(id), id)
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"http://canary.monitoring:9090":               "http://canary.monitoring:9090",
		"https://u:p@canary.example.com/prefix?tok=1": "https://canary.example.com",
		"::":          "the daemon",
		"canary:9090": "the daemon",
	} {
		assert.Equal(t, want, Redact(in), in)
	}
}
