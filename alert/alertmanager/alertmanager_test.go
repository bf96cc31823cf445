package alertmanager

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/canaryproj/canary/alert"
	"github.com/canaryproj/canary/internal/golden"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var since = time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC)

func fixture(kind alert.Kind) *alert.Notification {
	nt := &alert.Notification{
		ID:         "checkout/availability/1/" + string(kind),
		AlertID:    "checkout/availability/1",
		Kind:       kind,
		At:         since,
		Check:      "checkout",
		SLO:        "availability",
		Severity:   "page",
		Labels:     map[string]string{"team": "payments", "cost-center": "42", "severity": "ignored: ours wins"},
		Objective:  "success >= 99.5%",
		Observed:   "97.9%",
		BurnRate:   14.4,
		Window:     "1h/5m",
		Since:      since,
		TopErrors:  []alert.Count{{Name: "timeout", Count: 112}, {Name: "http_5xx", Count: 31}},
		TopStatus:  []alert.Count{{Name: "503", Count: 31}},
		StatusURL:  "https://canary.example.com/checks/checkout",
		RunbookURL: "https://wiki.example.com/runbooks/checkout",
	}
	if kind == alert.Resolved {
		nt.At = since.Add(5*time.Hour + 17*time.Minute)
		nt.Observed, nt.BurnRate, nt.TopErrors, nt.TopStatus = "99.8%", 0.4, nil, nil
	}
	return nt
}

// clock is a fake clock the test moves by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// receiver is an Alertmanager v2 API stand-in recording what it is sent.
type receiver struct {
	mu       sync.Mutex
	requests []recorded
	answer   http.HandlerFunc // nil: 200, like Alertmanager
}

type recorded struct {
	method, path, ctype, auth string
	body                      []byte
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	rc.mu.Lock()
	rc.requests = append(rc.requests, recorded{r.Method, r.URL.Path, r.Header.Get("Content-Type"), r.Header.Get("Authorization"), b})
	answer := rc.answer
	rc.mu.Unlock()
	if answer != nil {
		answer(w, r)
	}
}

func (rc *receiver) take() []recorded {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	r := rc.requests
	rc.requests = nil
	return r
}

func testClient(t *testing.T) *http.Client {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

func newNotifier(t *testing.T, rc *receiver, clk *clock, o Options) *Notifier {
	t.Helper()
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	o.URL = srv.URL + o.URL // o.URL, if set, is a path prefix
	o.HTTPClient = testClient(t)
	if clk != nil {
		o.Now = clk.Now
	}
	n, err := New(o)
	require.NoError(t, err)
	return n
}

func checkGolden(t *testing.T, name string, body []byte) {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, json.Indent(&b, body, "", "  "), "body %s", body)
	b.WriteByte('\n')
	golden.Assert(t, filepath.Join("testdata", name+".golden.json"), b.Bytes())
}

// The alert's lifecycle as Alertmanager sees it, byte for byte.
func TestLifecycleGolden(t *testing.T) {
	rc := &receiver{}
	clk := &clock{t: since.Add(30 * time.Second)}
	n := newNotifier(t, rc, clk, Options{GeneratorURL: "http://127.0.0.1:9090/"})
	ctx := context.Background()

	steps := []struct {
		name string
		at   time.Time
		do   func() error
	}{
		{"firing", since.Add(30 * time.Second), func() error {
			th, err := n.Notify(ctx, fixture(alert.Firing))
			assert.Nil(t, th)
			return err
		}},
		{"refresh", since.Add(45 * time.Second), func() error { return n.Refresh(ctx, fixture(alert.Firing)) }},
		{"reminder", since.Add(4 * time.Hour), func() error {
			nt := fixture(alert.Reminder)
			nt.StatusURL = "" // falls back to Options.GeneratorURL
			_, err := n.Notify(ctx, nt)
			return err
		}},
		{"resolved", since.Add(5*time.Hour + 17*time.Minute), func() error {
			_, err := n.Notify(ctx, fixture(alert.Resolved))
			return err
		}},
	}
	var fingerprint map[string]string
	for _, s := range steps {
		clk.Set(s.at)
		require.NoError(t, s.do(), s.name)
		reqs := rc.take()
		require.Len(t, reqs, 1, "%s: one POST", s.name)
		assert.Equal(t, http.MethodPost, reqs[0].method)
		assert.Equal(t, "/api/v2/alerts", reqs[0].path)
		assert.Equal(t, "application/json", reqs[0].ctype)
		checkGolden(t, s.name, reqs[0].body)

		var got []PostableAlert
		require.NoError(t, json.Unmarshal(reqs[0].body, &got))
		require.Len(t, got, 1)
		if fingerprint == nil {
			fingerprint = got[0].Labels
		}
		assert.Equal(t, fingerprint, got[0].Labels, "%s addresses the same alert as the firing post", s.name)
	}
}

// An objective without an error budget (tls_expiry) fires while it
// fails: its own alertname, no burn rate.
func TestThresholdAlert(t *testing.T) {
	n := newNotifier(t, &receiver{}, &clock{t: since.Add(time.Minute)}, Options{})
	nt := fixture(alert.Firing)
	nt.SLO, nt.Severity, nt.Objective, nt.Observed = "certificate", alert.LevelSeverity, "tls_expiry>14d", "9.5d"
	nt.BurnRate, nt.Window, nt.Threshold = 0, "", true
	a, err := n.Alert(nt)
	require.NoError(t, err)
	assert.Equal(t, ThresholdAlertName, a.Labels["alertname"])
	assert.Equal(t, "ticket", a.Labels["severity"])
	assert.Equal(t, "checkout: SLO certificate fails", a.Annotations["summary"])
	assert.Contains(t, a.Annotations["description"], "Objective: tls_expiry>14d. Observed: 9.5d.")
	assert.NotContains(t, a.Annotations["description"], "Burn rate")

	nt.Kind = alert.Resolved
	a, err = n.Alert(nt)
	require.NoError(t, err)
	assert.Equal(t, "checkout: SLO certificate is met again", a.Annotations["summary"])
}

func TestEndsAt(t *testing.T) {
	now := since.Add(10 * time.Minute)
	for _, tc := range []struct {
		name       string
		kind       alert.Kind
		refresh    bool
		timeout    time.Duration
		since      time.Time
		wantEnds   time.Time
		wantStarts string
	}{
		{"firing, default timeout", alert.Firing, false, 0, since, now.Add(5 * time.Minute), since.Format(time.RFC3339Nano)},
		{"firing, 90s timeout", alert.Firing, false, 90 * time.Second, since, now.Add(90 * time.Second), since.Format(time.RFC3339Nano)},
		{"reminder", alert.Reminder, false, time.Minute, since, now.Add(time.Minute), since.Format(time.RFC3339Nano)},
		{"refresh", alert.Firing, true, time.Minute, since, now.Add(time.Minute), since.Format(time.RFC3339Nano)},
		{"resolved ends now", alert.Resolved, false, time.Minute, since, now, since.Format(time.RFC3339Nano)},
		{"refresh of a resolve stays resolved", alert.Resolved, true, time.Minute, since, now, since.Format(time.RFC3339Nano)},
		{"no since: Alertmanager picks the start", alert.Firing, false, time.Minute, time.Time{}, now.Add(time.Minute), ""},
		{"since after the end is clamped", alert.Resolved, false, time.Minute, now.Add(time.Hour), now, now.Format(time.RFC3339Nano)},
		{"since in another zone prints UTC", alert.Firing, false, time.Minute, since.In(time.FixedZone("X", 3600)), now.Add(time.Minute), since.Format(time.RFC3339Nano)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := &receiver{}
			n := newNotifier(t, rc, &clock{t: now}, Options{ResolveTimeout: tc.timeout})
			nt := fixture(tc.kind)
			nt.Since = tc.since
			var err error
			if tc.refresh {
				err = n.Refresh(context.Background(), nt)
			} else {
				_, err = n.Notify(context.Background(), nt)
			}
			require.NoError(t, err)
			reqs := rc.take()
			require.Len(t, reqs, 1)
			var got []PostableAlert
			require.NoError(t, json.Unmarshal(reqs[0].body, &got))
			require.Len(t, got, 1)
			ends, err := time.Parse(time.RFC3339Nano, got[0].EndsAt)
			require.NoError(t, err)
			assert.True(t, tc.wantEnds.Equal(ends), "endsAt = %v, want %v", ends, tc.wantEnds)
			assert.Equal(t, tc.wantStarts, got[0].StartsAt)
		})
	}
}

func TestLabels(t *testing.T) {
	nt := fixture(alert.Firing)
	nt.Labels = map[string]string{
		"team": "payments", "cost-center": "42", "9lives": "cat", "__name__": "x", "a.b": "dotted",
		"a_b": "underscored", "empty": "", "": "no name", "check": "not ours", "bad": "\xff\xfe",
	}
	got := labels(nt)
	assert.Equal(t, map[string]string{
		"alertname":     "CanarySLOBurnRate",
		"check":         "checkout",
		"slo":           "availability",
		"severity":      "page",
		"team":          "payments",
		"cost_center":   "42",
		"_9lives":       "cat",
		"label__name__": "x",
		"a_b":           "dotted", // "a.b" sorts first and takes the name
		"bad":           "\uFFFD", // a run of invalid bytes becomes one U+FFFD
	}, got)
	valid := regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
	for k := range got {
		assert.Regexp(t, valid, k)
		assert.False(t, strings.HasPrefix(k, "__"), "reserved label name %q", k)
	}
}

func FuzzLabelName(f *testing.F) {
	for _, s := range []string{"team", "cost-center", "9", "__x", "é", "a b", "_", ""} {
		f.Add(s)
	}
	valid := regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
	f.Fuzz(func(t *testing.T, s string) {
		got := labelName(s)
		if s == "" {
			if got != "" {
				t.Fatalf("labelName(%q) = %q, want empty", s, got)
			}
			return
		}
		if !valid.MatchString(got) || strings.HasPrefix(got, "__") {
			t.Fatalf("labelName(%q) = %q, not a valid label name", s, got)
		}
	})
}

func TestValuesBounded(t *testing.T) {
	nt := fixture(alert.Firing)
	nt.Check = strings.Repeat("é", 2000)
	a, err := (&Notifier{now: func() time.Time { return since }}).Alert(nt)
	require.NoError(t, err)
	for k, v := range a.Labels {
		assert.LessOrEqual(t, len(v), maxValue, "label %s", k)
		assert.True(t, strings.HasSuffix(v, "…") || len(v) < maxValue, "label %s cut visibly", k)
	}
	for k, v := range a.Annotations {
		assert.LessOrEqual(t, len(v), maxValue, "annotation %s", k)
	}
	assert.True(t, strings.HasPrefix(a.Labels["check"], "éé"), "cut on a character boundary")
}

// closedURL is the URL of a loopback port nothing listens on.
func closedURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return "http://" + addr
}

func TestErrors(t *testing.T) {
	status := func(code int, body string, header ...string) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			for i := 0; i+1 < len(header); i += 2 {
				w.Header().Set(header[i], header[i+1])
			}
			w.WriteHeader(code)
			_, _ = io.WriteString(w, body)
		}
	}
	for _, tc := range []struct {
		name      string
		answer    http.HandlerFunc
		closed    bool
		retryable bool
		after     time.Duration
		contains  string
	}{
		{name: "500", answer: status(500, "boom"), retryable: true, contains: "HTTP 500: boom"},
		{name: "502", answer: status(502, "<html>bad gateway</html>"), retryable: true, contains: "HTTP 502"},
		{name: "503", answer: status(503, ""), retryable: true, contains: "HTTP 503"},
		{name: "429 from a proxy", answer: status(429, "slow down", "Retry-After", "2"), retryable: true, after: 2 * time.Second, contains: "HTTP 429"},
		{name: "400 with Alertmanager's message", answer: status(400, `"start time must be before end time"`+"\n"),
			contains: "HTTP 400: start time must be before end time"},
		{name: "400 long body is bounded", answer: status(400, strings.Repeat("x", 5000)), contains: "HTTP 400: xxx"},
		{name: "404 wrong prefix", answer: status(404, "404 page not found"), contains: "HTTP 404: 404 page not found"},
		{name: "connection refused", closed: true, retryable: true, contains: "connection refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := closedURL(t)
			if !tc.closed {
				srv := httptest.NewServer(tc.answer)
				t.Cleanup(srv.Close)
				base = srv.URL
			}
			u := strings.Replace(base, "http://", "http://canary:Pa55word@", 1)
			n, err := New(Options{URL: u, HTTPClient: testClient(t)})
			require.NoError(t, err)
			_, err = n.Notify(context.Background(), fixture(alert.Firing))
			require.Error(t, err)
			after, retryable := alert.Retryable(err)
			assert.Equal(t, tc.retryable, retryable, "Retryable(%v)", err)
			assert.Equal(t, tc.after, after)
			assert.Contains(t, err.Error(), tc.contains)
			assert.Less(t, len(err.Error()), 400, "error text bounded: %v", err)
			assert.NotContains(t, err.Error(), "Pa55word")
			assert.Contains(t, err.Error(), "/api/v2/alerts", "the error says where")
			rerr := n.Refresh(context.Background(), fixture(alert.Firing))
			require.Error(t, rerr)
			assert.Equal(t, err.Error(), rerr.Error(), "Refresh fails alike")
			_, rretry := alert.Retryable(rerr)
			assert.Equal(t, retryable, rretry)
		})
	}
}

func TestBasicAuthAndPrefix(t *testing.T) {
	rc := &receiver{}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	u := strings.Replace(srv.URL, "http://", "http://canary:Pa55word@", 1) + "/alertmanager/"
	n, err := New(Options{URL: u, HTTPClient: testClient(t)})
	require.NoError(t, err)
	_, err = n.Notify(context.Background(), fixture(alert.Firing))
	require.NoError(t, err)
	reqs := rc.take()
	require.Len(t, reqs, 1)
	assert.Equal(t, "/alertmanager/api/v2/alerts", reqs[0].path)
	assert.Equal(t, "Basic Y2FuYXJ5OlBhNTV3b3Jk", reqs[0].auth, "user-info is sent as basic auth")
}

func TestRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    Options
		want string
	}{
		{"no url", Options{}, "not an absolute http(s) URL"},
		{"no scheme", Options{URL: "alertmanager:9093"}, "not an absolute http(s) URL"},
		{"password not echoed", Options{URL: "ftp://u:Pa55word@am:9093"}, "not an absolute"},
		{"query", Options{URL: "http://am:9093/?x=1"}, "query"},
		{"negative timeout", Options{URL: "http://am:9093", ResolveTimeout: -time.Second}, "negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := New(tc.o)
			require.Error(t, err)
			assert.Nil(t, n)
			assert.Contains(t, err.Error(), tc.want)
			assert.NotContains(t, err.Error(), "Pa55word")
		})
	}

	rc := &receiver{}
	n := newNotifier(t, rc, nil, Options{})
	assert.Equal(t, "alertmanager", n.Name())
	for _, nt := range []*alert.Notification{
		nil,
		{Kind: "exploded", Check: "c", SLO: "s"},
		{Kind: alert.Firing, SLO: "s"},
	} {
		_, err := n.Notify(context.Background(), nt)
		require.Error(t, err, "Notify(%+v)", nt)
		_, retry := alert.Retryable(err)
		assert.False(t, retry, "a bad notification is not worth retrying: %v", err)
	}
	assert.Empty(t, rc.take(), "nothing posted")
}

func TestDescription(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*alert.Notification)
		want   string
	}{
		{"firing", func(*alert.Notification) {}, "Objective: success >= 99.5%. Observed: 97.9%. Burn rate: 14.4× over 1h/5m. " +
			"Firing since 2025-03-14T09:26:53Z. Top error classes: timeout 112, http_5xx 31. Status codes: 503 31."},
		{"resolved", func(nt *alert.Notification) { nt.Kind, nt.At = alert.Resolved, since.Add(time.Hour) },
			"Fired from 2025-03-14T09:26:53Z to 2025-03-14T10:26:53Z."},
		{"resolved before it fired (skewed clocks)", func(nt *alert.Notification) { nt.Kind, nt.At = alert.Resolved, since.Add(-time.Hour) },
			"Firing since 2025-03-14T09:26:53Z."},
		{"no since", func(nt *alert.Notification) { nt.Since = time.Time{}; nt.TopErrors, nt.TopStatus = nil, nil },
			"Burn rate: 14.4× over 1h/5m."},
		{"odd burn rates", func(nt *alert.Notification) { nt.BurnRate = math.NaN() }, "Burn rate: n/a over 1h/5m."},
		{"top lists bounded", func(nt *alert.Notification) {
			nt.TopErrors = []alert.Count{{Name: "a", Count: 1}, {Name: "b", Count: 2}, {Name: "c", Count: 3}, {Name: "d", Count: 4}, {Name: "e", Count: 5}, {Name: "f", Count: 6}}
		}, "Top error classes: a 1, b 2, c 3, d 4, e 5."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nt := fixture(alert.Firing)
			tc.mutate(nt)
			got := annotations(nt)["description"]
			assert.Contains(t, got, tc.want, "description of %s", tc.name)
		})
	}
}
