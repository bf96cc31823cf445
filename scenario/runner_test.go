package scenario

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/canaryproj/canary/demotarget"
	"github.com/canaryproj/canary/stats"
	"github.com/canaryproj/canary/transport"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// step is one RecordStep call, and when it came.
type step struct {
	Step, Status       int
	Class              stats.ErrorClass
	Assertion          stats.Assertion
	Corrected, Service time.Duration
	At                 time.Time // just after the step was done
}

// recorder is a stats.Recorder keeping the steps it is told about; the
// runner records no iterations, lag or drops.
type recorder struct {
	mu    sync.Mutex
	steps []step
	after func() // optional: called after each step is recorded
}

func (r *recorder) RecordStep(i, status int, class stats.ErrorClass, assertion stats.Assertion, corrected, service time.Duration) {
	r.mu.Lock()
	r.steps = append(r.steps, step{i, status, class, assertion, corrected, service, time.Now()})
	r.mu.Unlock()
	if r.after != nil {
		r.after()
	}
}

func (r *recorder) RecordIteration(stats.Outcome, stats.ErrorClass, time.Duration) {
	panic("the runner records steps only")
}
func (r *recorder) RecordLag(time.Duration) { panic("the runner records steps only") }
func (r *recorder) RecordDropped(uint64)    { panic("the runner records steps only") }

func client(t testing.TB, s *Scenario) *transport.Client {
	t.Helper()
	c, err := transport.New(s.TransportOptions())
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}

func parseSrc(t testing.TB, src string, env map[string]string) *Scenario {
	t.Helper()
	s, err := Parse("s.yaml", []byte(src), LoadOptions{Env: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
	require.NoError(t, err)
	return s
}

// target answers a fixed response for every request.
func target(t testing.TB, status int, headers map[string]string, body string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for k, v := range headers {
			w.Header().Set(k, v)
		}
		w.WriteHeader(status)
		fmt.Fprint(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

const cartBody = `{"items":[{"sku":"p1","qty":2}],"total":39.8,"currency":"EUR","user":{"id":7,"name":"ada"},"tags":["a","b"],"note":null}`

func TestAssertions(t *testing.T) {
	srv := target(t, 200, map[string]string{"Content-Type": "application/json; charset=utf-8", "X-Request-Id": "req-42"}, cartBody)
	for _, tc := range []struct {
		name      string
		expect    string
		class     stats.ErrorClass
		assertion stats.Assertion
		msg       string
	}{
		{"status ok", "status: 200", stats.ClassNone, stats.AssertNone, ""},
		{"status list", "status: [201, 200]", stats.ClassNone, stats.AssertNone, ""},
		{"status class", `status: "2xx"`, stats.ClassNone, stats.AssertNone, ""},
		{"status fails", "status: 201", stats.ClassHTTPStatus, stats.AssertStatus, "status 200, want 201"},
		{"status class fails", `status: "4xx"`, stats.ClassHTTPStatus, stats.AssertStatus, "status 200, want 4xx"},
		{"max_latency ok", "max_latency: 10s", stats.ClassNone, stats.AssertNone, ""},
		{"max_latency fails", "max_latency: 1ns", stats.ClassAssertion, stats.AssertMaxLatency, "over max_latency 1ns"},
		{"header exact", "headers: {X-Request-Id: req-42}", stats.ClassNone, stats.AssertNone, ""},
		{"header regex", `headers: {Content-Type: "~^application/json"}`, stats.ClassNone, stats.AssertNone, ""},
		{"header wrong", "headers: {X-Request-Id: req-1}", stats.ClassAssertion, stats.AssertHeaders, `header X-Request-Id is "req-42", want "req-1"`},
		{"header missing", "headers: {X-Nope: a}", stats.ClassAssertion, stats.AssertHeaders, "header X-Nope missing"},
		{"header regex fails", `headers: {Content-Type: "~^text/"}`, stats.ClassAssertion, stats.AssertHeaders, "does not match ^text/"},
		{"body_contains", `body_contains: ["EUR", "ada"]`, stats.ClassNone, stats.AssertNone, ""},
		{"body_contains fails", `body_contains: ["USD"]`, stats.ClassAssertion, stats.AssertBodyContains, `body does not contain "USD"`},
		{"body_matches", `body_matches: ['"total":\d+\.\d']`, stats.ClassNone, stats.AssertNone, ""},
		{"body_matches fails", `body_matches: ['"total":"']`, stats.ClassAssertion, stats.AssertBodyMatches, `body does not match "total":"`},
		{"json equals", "json: {currency: EUR, total: 39.8, user.id: 7, items.0.qty: 2, note: null}", stats.ClassNone, stats.AssertNone, ""},
		{"json ops", "json: {user.id: {gt: 6, gte: 7, lt: 8, lte: 7, exists: true}, items: {len: 1}, tags: {contains: b}, user.name: {matches: '^a', len: 3}, missing: {exists: false}, items.#: 1}", stats.ClassNone, stats.AssertNone, ""},
		{"json structural equals", "json: {tags: [a, b], items.0: {equals: {sku: p1, qty: 2}}}", stats.ClassNone, stats.AssertNone, ""},
		{"json equals fails", "json: {currency: USD}", stats.ClassAssertion, stats.AssertJSON, `json currency: is "EUR", want "USD"`},
		{"json gt fails", "json: {total: {gt: 100}}", stats.ClassAssertion, stats.AssertJSON, "json total: 39.8 is not > 100"},
		{"json missing", "json: {nope: 1}", stats.ClassAssertion, stats.AssertJSON, "json nope: missing"},
		{"json exists false fails", "json: {total: {exists: false}}", stats.ClassAssertion, stats.AssertJSON, "json total: exists, want it absent"},
		{"json contains fails", "json: {tags: {contains: z}}", stats.ClassAssertion, stats.AssertJSON, `json tags: has no element "z"`},
		{"json len fails", "json: {items: {len: 3}}", stats.ClassAssertion, stats.AssertJSON, "json items: has length 1, want 3"},
		{"expr", `expr: 'status == 200 && json.user.name == "ada" && headers["x-request-id"] == "req-42" && latency < 10000 && body contains "EUR"'`, stats.ClassNone, stats.AssertNone, ""},
		{"expr fails", `expr: 'json.total > 100'`, stats.ClassAssertion, stats.AssertExpr, "expr json.total > 100 is false"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := parseSrc(t, fmt.Sprintf("name: a\nsteps:\n  - name: s\n    request: {url: %q}\n    expect:\n      %s\n", srv.URL, tc.expect), nil)
			rec := &recorder{}
			res := NewRunner(s, client(t, s)).Run(context.Background(), Iteration{}, rec)
			require.Len(t, rec.steps, 1)
			st := rec.steps[0]
			assert.Equal(t, tc.class, st.Class, "class")
			assert.Equal(t, tc.assertion, st.Assertion, "assertion")
			assert.Equal(t, tc.class == stats.ClassNone, res.OK)
			if tc.msg == "" {
				assert.NoError(t, res.Err)
				return
			}
			require.Error(t, res.Err)
			assert.Contains(t, res.Err.Error(), tc.msg)
			assert.Equal(t, tc.class, res.Class)
		})
	}
}

func TestNotJSONFailsJSONAssertions(t *testing.T) {
	srv := target(t, 200, nil, "<html>")
	s := parseSrc(t, fmt.Sprintf("name: a\nsteps:\n  - name: s\n    request: {url: %q}\n    expect: {json: {a: 1}}\n", srv.URL), nil)
	res := NewRunner(s, client(t, s)).Run(context.Background(), Iteration{}, nil)
	assert.False(t, res.OK)
	assert.Contains(t, res.Err.Error(), "body is not JSON")
}

func TestDefaultStatusExpectation(t *testing.T) {
	for code, ok := range map[int]bool{200: true, 204: true, 302: true, 404: false, 503: false} {
		srv := target(t, code, nil, "")
		s := parseSrc(t, fmt.Sprintf("name: a\ndefaults: {follow_redirects: false}\nsteps:\n  - {name: s, request: {url: %q}}\n", srv.URL), nil)
		res := NewRunner(s, client(t, s)).Run(context.Background(), Iteration{}, nil)
		assert.Equal(t, ok, res.OK, "status %d with no expect.status (want < 400)", code)
	}
}

func TestCaptures(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.URL.RequestURI()+" "+r.Header.Get("X-T"))
		mu.Unlock()
		w.Header().Set("X-Request-Id", "rid-9")
		fmt.Fprint(w, `{"token":"tk-1","n":5,"order":"order=123;"}`+"\norder=456")
	}))
	defer srv.Close()
	for _, tc := range []struct {
		name, capture, want string
		class               stats.ErrorClass
	}{
		{"json", "{json: token}", "tk-1", stats.ClassNone},
		{"json number", "{json: n}", "5", stats.ClassNone},
		{"header", "{header: X-Request-Id}", "rid-9", stats.ClassNone},
		{"regex group", `{regex: 'order=(\d+)'}`, "123", stats.ClassNone},
		{"regex whole", `{regex: 'order=\d+'}`, "order=123", stats.ClassNone},
		{"json missing", "{json: nope}", "", stats.ClassCapture},
		{"header missing", "{header: X-Nope}", "", stats.ClassCapture},
		{"regex missing", `{regex: 'zz(\d)'}`, "", stats.ClassCapture},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seen = nil
			src := fmt.Sprintf(`name: a
steps:
  - name: one
    request: {url: %q}
    capture: {v: %s}
  - name: two
    request: {url: "%s/next", headers: {X-T: "{{ .v }}"}}
`, srv.URL, tc.capture, srv.URL)
			s := parseSrc(t, src, nil)
			rec := &recorder{}
			res := NewRunner(s, client(t, s)).Run(context.Background(), Iteration{}, rec)
			assert.Equal(t, tc.class, rec.steps[0].Class)
			if tc.class != stats.ClassNone {
				assert.False(t, res.OK)
				assert.Len(t, rec.steps, 1, "a failed capture ends the iteration")
				assert.Contains(t, res.Err.Error(), "found nothing")
				return
			}
			require.True(t, res.OK, "%v", res.Err)
			assert.Equal(t, "/next "+tc.want, seen[1])
		})
	}
}

func TestContinueOnFailureAndThinkTime(t *testing.T) {
	srv := target(t, 500, nil, "")
	s := parseSrc(t, fmt.Sprintf(`name: a
think_time: 100ms-110ms
steps:
  - {name: one, request: {url: %q}, continue_on_failure: true}
  - {name: two, request: {url: %q}}
  - {name: three, request: {url: %q}}
`, srv.URL, srv.URL, srv.URL), nil)
	rec := &recorder{}
	t0 := time.Now()
	res := NewRunner(s, client(t, s)).Run(context.Background(), Iteration{}, rec)
	assert.Len(t, rec.steps, 2, "step one continues, step two stops the iteration")
	assert.False(t, res.OK)
	assert.Equal(t, 0, res.FailedStep, "the first failure is the iteration's")
	assert.Equal(t, stats.ClassHTTPStatus, res.Class)
	assert.GreaterOrEqual(t, time.Since(t0), 100*time.Millisecond, "think time between steps")
	two := rec.steps[1]
	assert.Less(t, two.Corrected-two.Service, 100*time.Millisecond,
		"a later step is due when it became ready, after the think time: its wait before sending excludes step one and the think time")
}

func TestDueTimeCountsFromTheIterationsDueTime(t *testing.T) {
	srv := target(t, 200, nil, "")
	s := parseSrc(t, fmt.Sprintf("name: a\nsteps:\n  - {name: s, request: {url: %q}}\n", srv.URL), nil)
	due := time.Now().Add(-300 * time.Millisecond) // the slot freed late
	rec := &recorder{}
	NewRunner(s, client(t, s)).Run(context.Background(), Iteration{Due: due}, rec)
	st := rec.steps[0]
	assert.GreaterOrEqual(t, st.Corrected, 300*time.Millisecond, "corrected latency includes the wait")
	assert.Less(t, st.Service, 300*time.Millisecond, "service latency does not")
}

// TestIterationSpan: an iteration starts when the engine says it did and
// ends with its last step, or after the think time it failed in.
func TestIterationSpan(t *testing.T) {
	srv := target(t, 200, nil, "")
	s := parseSrc(t, fmt.Sprintf("name: a\nsteps:\n  - {name: s, request: {url: %q}}\n  - {name: t, request: {url: %q}}\n", srv.URL, srv.URL), nil)
	start := time.Now().Add(-time.Second) // as the engine's clock read it
	rec := &recorder{}
	res := NewRunner(s, client(t, s)).Run(context.Background(), Iteration{Start: start}, rec)
	require.True(t, res.OK, "%v", res.Err)
	assert.Equal(t, start, res.Start)
	require.Len(t, rec.steps, 2)
	assert.GreaterOrEqual(t, rec.steps[0].Corrected, time.Second, "without a due time, the first step is due at the start")
	assert.GreaterOrEqual(t, res.End.Sub(start), rec.steps[0].Corrected+rec.steps[1].Service, "the iteration spans both steps")
	assert.False(t, res.End.After(rec.steps[1].At), "the iteration ends with its last step")

	// Cancelled in the think time before step two: it ends then, not at step one's end.
	s = parseSrc(t, fmt.Sprintf("name: a\nthink_time: 5s\nsteps:\n  - {name: s, request: {url: %q}}\n  - {name: t, request: {url: %q}}\n", srv.URL, srv.URL), nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rec = &recorder{after: func() { time.AfterFunc(30*time.Millisecond, cancel) }}
	res = NewRunner(s, client(t, s)).Run(ctx, Iteration{}, rec)
	require.Len(t, rec.steps, 1)
	assert.False(t, res.OK)
	assert.GreaterOrEqual(t, res.End.Sub(rec.steps[0].At), 30*time.Millisecond, "the end is when the think time was cut short")
	assert.Less(t, res.End.Sub(rec.steps[0].At), 5*time.Second, "not after the whole think time")
}

// The documented flow (docs/scenario.md): login → token → cart, against the built-in demo target,
// which counts what it receives.
func TestLoginCartFlowAgainstDemoTarget(t *testing.T) {
	demo := demotarget.New(demotarget.Options{Seed: 1})
	srv := httptest.NewServer(demo)
	defer srv.Close()
	s, err := Load("../examples/checkout.yaml", LoadOptions{Env: func(k string) (string, bool) {
		if k == "BASE_URL" {
			return srv.URL, true
		}
		return "", false
	}})
	require.NoError(t, err)
	s.think = [2]time.Duration{} // no need to wait in a test
	r := NewRunner(s, client(t, s))
	rec := &recorder{}
	for i := 0; i < 3; i++ {
		res := r.Run(context.Background(), Iteration{Number: uint64(i), VU: i}, rec)
		require.True(t, res.OK, "iteration %d: %v", i, res.Err)
	}
	counts := demo.Counts()
	assert.Equal(t, int64(3), counts["POST /login"], "each request reaches the target exactly once")
	assert.Equal(t, int64(3), counts["POST /cart/items"])
	assert.Equal(t, int64(3), counts["GET /cart"])
	assert.Len(t, rec.steps, 12)
	for _, st := range rec.steps {
		assert.Equal(t, stats.ClassNone, st.Class)
	}
}

func TestSecretsNeverInErrors(t *testing.T) {
	srv := target(t, 401, nil, "")
	u := strings.Replace(srv.URL, "http://", "http://bob:pw-in-url@", 1)
	s := parseSrc(t, fmt.Sprintf(`name: a
steps:
  - name: login
    request:
      url: %q
      headers: {Authorization: "Bearer ${API_TOKEN}"}
      json: {password: "${PASSWORD}"}
    expect: {status: 200}
`, u+"/x?k=${API_TOKEN}"), map[string]string{"API_TOKEN": "tok-super-secret", "PASSWORD": "hunter2-secret"})
	res := NewRunner(s, client(t, s)).Run(context.Background(), Iteration{}, nil)
	require.Error(t, res.Err)
	msg := res.Err.Error()
	for _, secret := range []string{"tok-super-secret", "hunter2-secret", "pw-in-url"} {
		assert.NotContains(t, msg, secret)
	}
	assert.Contains(t, msg, "status 401")
}

func TestFromURL(t *testing.T) {
	var got *http.Request
	var body string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		b := make([]byte, 100)
		n, _ := r.Body.Read(b)
		body = string(b[:n])
		w.WriteHeader(201)
	}))
	defer srv.Close()
	s, err := FromURL(srv.URL+"/items", URLOptions{Method: "post", Headers: []string{"X-A: 1", "Authorization: Bearer abcdef"}, Body: `{"a":1}`})
	require.NoError(t, err)
	assert.Equal(t, []string{"request"}, s.StepNames())
	res := NewRunner(s, client(t, s)).Run(context.Background(), Iteration{}, nil)
	require.True(t, res.OK, "%v", res.Err)
	assert.Equal(t, "POST", got.Method)
	assert.Equal(t, "1", got.Header.Get("X-A"))
	assert.Equal(t, `{"a":1}`, body)
	assert.Equal(t, "<redacted> ", s.Secrets.String("abcdef "))

	for _, bad := range []struct{ u, want string }{
		{"ftp://x/", `url "ftp://x/": want an http:// or https:// URL`},
		{"http://", `url "http://": the URL has no host`},
	} {
		_, err := FromURL(bad.u, URLOptions{})
		assert.EqualError(t, err, bad.want)
	}
	_, err = FromURL(srv.URL, URLOptions{Headers: []string{"nocolon"}})
	assert.EqualError(t, err, `-H "nocolon": want 'Name: value'`)
}

func TestTemplatesRenderPerIteration(t *testing.T) {
	var mu sync.Mutex
	var bodies []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := make([]byte, 1000)
		n, _ := r.Body.Read(b)
		mu.Lock()
		bodies = append(bodies, r.URL.RawQuery+" "+string(b[:n]))
		mu.Unlock()
	}))
	defer srv.Close()
	dir := t.TempDir()
	s, err := Parse(dir+"/s.yaml", []byte(fmt.Sprintf(`name: t
vars:
  base: %q
  who: "u{{ vu }}-{{ iteration }}"
steps:
  - name: s
    request:
      method: POST
      url: "{{ .base }}/p"
      query: {q: "a b&c", n: "{{ iteration }}"}
      json: {who: "{{ .who }}", n: 3, flag: true, list: ["{{ .who }}", 1], id: "{{ uuid }}", b64: "{{ base64 .who }}"}
`, srv.URL)), LoadOptions{})
	require.NoError(t, err)
	r := NewRunner(s, client(t, s))
	for i := 0; i < 2; i++ {
		res := r.Run(context.Background(), Iteration{Number: uint64(10 + i), VU: 3}, nil)
		require.True(t, res.OK, "%v", res.Err)
	}
	require.Len(t, bodies, 2)
	assert.Contains(t, bodies[0], "n=10&q=a+b%26c ")
	assert.Contains(t, bodies[0], `"who":"u3-10"`)
	assert.Contains(t, bodies[0], `"n":3`, "a YAML number stays a JSON number")
	assert.Contains(t, bodies[0], `"flag":true`)
	assert.Contains(t, bodies[0], `"list":["u3-10",1]`)
	assert.Contains(t, bodies[0], `"b64":"dTMtMTA="`)
	assert.Contains(t, bodies[1], `"who":"u3-11"`)
	assert.Regexp(t, `"id":"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"`, bodies[0])
}

func TestCSVFeeder(t *testing.T) {
	var mu sync.Mutex
	var users []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		users = append(users, r.URL.Query().Get("u"))
		mu.Unlock()
	}))
	defer srv.Close()
	s, err := Load("../examples/shoppers.yaml", LoadOptions{Env: func(string) (string, bool) { return "", false }})
	require.NoError(t, err)
	require.NotNil(t, s.data)
	dir := t.TempDir()
	csvPath := dir + "/u.csv"
	require.NoError(t, writeFile(csvPath, "user,pw\nann,1\nbob,2\n"))
	s2, err := Parse(dir+"/s.yaml", []byte(fmt.Sprintf("name: f\ndata: u.csv\nsteps:\n  - {name: s, request: {url: \"%s/?u={{ .user }}\"}}\n", srv.URL)), LoadOptions{})
	require.NoError(t, err)
	r := NewRunner(s2, client(t, s2))
	for i := uint64(0); i < 3; i++ {
		r.Run(context.Background(), Iteration{Number: i}, nil)
	}
	assert.Equal(t, []string{"ann", "bob", "ann"}, users, "row = iteration number mod rows")
	assert.Equal(t, []string{csvPath}, s2.DataFiles())
}

func TestCancelStopsAnIteration(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(block)
	s := parseSrc(t, fmt.Sprintf("name: a\nsteps:\n  - {name: s, request: {url: %q, timeout: 30s}}\n", srv.URL), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	res := NewRunner(s, client(t, s)).Run(ctx, Iteration{}, nil)
	assert.False(t, res.OK)
	assert.Less(t, time.Since(t0), 5*time.Second)
}

func TestStaticHostsAndTransportOptions(t *testing.T) {
	s := parseSrc(t, `name: h
vars: {base: "${BASE:-https://api.example.com}", tok: "{{ uuid }}"}
defaults: {max_redirects: 3, tls: {insecure_skip_verify: true}}
steps:
  - {name: a, request: {url: "{{ .base }}/x"}}
  - {name: b, request: {url: "http://Other.Example.org:8080/"}}
  - {name: c, request: {url: "https://{{ .tok }}.example.net/"}}
`, nil)
	assert.Equal(t, []string{"api.example.com", "other.example.org"}, s.StaticHosts())
	o := s.TransportOptions()
	assert.Equal(t, 3, o.MaxRedirects)
	assert.True(t, o.TLS.InsecureSkipVerify)
	assert.False(t, o.HTTP2, "HTTP/1.1 unless asked")

	h2 := parseSrc(t, "name: h\ndefaults: {http2: true}\nsteps:\n  - {name: a, request: {url: \"https://x.test/\"}}\n", nil)
	assert.True(t, h2.TransportOptions().HTTP2, "defaults.http2")
}

// discardRecorder answers 200 and records whether each request kept its
// body.
type discardRecorder struct{ discard []bool }

func (d *discardRecorder) Do(_ context.Context, req *transport.Request, resp *transport.Response) error {
	d.discard = append(d.discard, req.DiscardBody)
	resp.Status = 200
	resp.Header = append(resp.Header[:0], transport.Header{Name: "X-Id", Value: "1"})
	resp.Body = append(resp.Body[:0], `{"id":"1"}`...)
	return nil
}

// TestBodyKeptOnlyWhenRead: a step whose expectations and captures do
// not read the body has it read and dropped by the client, not kept.
func TestBodyKeptOnlyWhenRead(t *testing.T) {
	tests := []struct {
		name     string
		step     string
		wantKept bool
	}{
		{name: "status only", step: `expect: {status: 200}`},
		{name: "headers and latency", step: `expect: {headers: {X-Id: "1"}, max_latency: 1s}`},
		{name: "header capture", step: `capture: {id: {header: X-Id}}`},
		{name: "body_contains", step: `expect: {body_contains: ["id"]}`, wantKept: true},
		{name: "body_matches", step: `expect: {body_matches: ["id"]}`, wantKept: true},
		{name: "json", step: `expect: {json: {id: {exists: true}}}`, wantKept: true},
		{name: "expr", step: `expect: {expr: "status == 200"}`, wantKept: true},
		{name: "json capture", step: `capture: {id: {json: id}}`, wantKept: true},
		{name: "regex capture", step: `capture: {id: {regex: "[0-9]"}}`, wantKept: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, url := range []string{"http://127.0.0.1:1/", "http://127.0.0.1:1/{{ iteration }}"} {
				s := parseSrc(t, fmt.Sprintf("name: b\nsteps:\n  - name: s\n    request: {url: %q}\n    %s\n", url, tt.step), nil)
				d := &discardRecorder{}
				res := NewRunner(s, d).Run(context.Background(), Iteration{}, nil)
				require.True(t, res.OK, "%s: %v", url, res.Err)
				require.Len(t, d.discard, 1)
				assert.Equal(t, !tt.wantKept, d.discard[0], "%s: DiscardBody", url)
			}
		})
	}
}

func BenchmarkRunStatic(b *testing.B) {
	srv := target(b, 200, nil, "ok")
	s := parseSrc(b, fmt.Sprintf("name: a\nsteps:\n  - {name: s, request: {url: %q}, expect: {status: 200}}\n", srv.URL), nil)
	r := NewRunner(s, client(b, s))
	b.ReportAllocs()
	for b.Loop() {
		if res := r.Run(context.Background(), Iteration{}, nil); !res.OK {
			b.Fatal(res.Err)
		}
	}
}

// fakeDoer answers instantly, to measure the scenario's own cost.
type fakeDoer struct{ body []byte }

func (f fakeDoer) Do(_ context.Context, req *transport.Request, resp *transport.Response) error {
	resp.Status = 200
	resp.Body = append(resp.Body[:0], f.body...)
	return nil
}

func BenchmarkRunStaticFakeDoer(b *testing.B) {
	s := parseSrc(b, "name: a\nsteps:\n  - {name: s, request: {url: \"http://127.0.0.1:1/\"}, expect: {status: 200}}\n", nil)
	r := NewRunner(s, fakeDoer{body: []byte("ok")})
	b.ReportAllocs()
	for b.Loop() {
		r.Run(context.Background(), Iteration{}, nil)
	}
}

// BenchmarkRunStaticFakeDoerSampled is BenchmarkRunStaticFakeDoer with a
// failure sink, as every run and daemon check has: what sampling costs an
// iteration whose steps pass.
func BenchmarkRunStaticFakeDoerSampled(b *testing.B) {
	s := parseSrc(b, "name: a\nsteps:\n  - {name: s, request: {url: \"http://127.0.0.1:1/\"}, expect: {status: 200}}\n", nil)
	r := NewRunner(s, fakeDoer{body: []byte("ok")}, WithFailures(stats.NewFailures(s.StepNames(), stats.FailureOptions{})))
	b.ReportAllocs()
	for b.Loop() {
		r.Run(context.Background(), Iteration{}, nil)
	}
}

func BenchmarkRunTemplatedFakeDoer(b *testing.B) {
	s := parseSrc(b, `name: a
vars: {base: "http://127.0.0.1:1"}
steps:
  - name: login
    request: {method: POST, url: "{{ .base }}/login", json: {user: "u{{ vu }}", password: x}}
    expect: {status: 200, json: {token: {exists: true}}}
    capture: {token: {json: token}}
  - name: cart
    request: {url: "{{ .base }}/cart", headers: {Authorization: "Bearer {{ .token }}"}}
    expect: {status: 200}
`, nil)
	r := NewRunner(s, fakeDoer{body: []byte(`{"token":"t-1"}`)})
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if res := r.Run(context.Background(), Iteration{Number: uint64(i)}, nil); !res.OK {
			b.Fatal(res.Err)
		}
	}
}

func writeFile(path, s string) error { return os.WriteFile(path, []byte(s), 0o644) }

// TestStaticRequestsParsedOnce: a static step's request carries its parsed
// URL (the transport does not parse it per request); a templated one is
// built, and parsed, per iteration.
func TestStaticRequestsParsedOnce(t *testing.T) {
	s := parseSrc(t, `name: a
vars: {n: "1"}
steps:
  - {name: static, request: {url: "http://127.0.0.1:8080/a?x=1"}}
  - {name: templated, request: {url: "http://127.0.0.1:8080/{{ .n }}/{{ iteration }}"}}
`, nil)
	r := NewRunner(s, nil)
	require.NotNil(t, r.fixed[0])
	require.NotNil(t, r.fixed[0].Parsed)
	assert.Equal(t, r.fixed[0].URL, r.fixed[0].Parsed.String())
	assert.Nil(t, r.fixed[1], "templated: built per iteration")
}
