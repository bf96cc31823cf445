package demotarget

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseFaults(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want Faults
		errs []string // substrings of the error, all required
	}{
		{
			name: "every knob",
			in:   `{"latency":"50ms","jitter":"10ms","slower":0.15,"error_ratio":0.2,"error_status":500,"path_prefix":"/cart"}`,
			want: Faults{Latency: 50 * time.Millisecond, Jitter: 10 * time.Millisecond, Slower: 0.15, ErrorRatio: 0.2, ErrorStatus: 500, PathPrefix: "/cart"},
		},
		{name: "slower stretches jitter alone", in: `{"jitter":"20ms","slower":1}`, want: Faults{Jitter: 20 * time.Millisecond, Slower: 1, ErrorStatus: 503}},
		{name: "slower at its bound", in: `{"latency":"1ms","slower":10}`, want: Faults{Latency: time.Millisecond, Slower: 10, ErrorStatus: 503}},
		{name: "empty object clears", in: `{}`, want: Faults{ErrorStatus: 503}},
		{name: "error status defaults", in: `{"error_ratio":1}`, want: Faults{ErrorRatio: 1, ErrorStatus: 503}},
		{name: "explicit zero status defaults", in: `{"error_status":0}`, want: Faults{ErrorStatus: 503}},
		{name: "bounds are inclusive", in: `{"latency":"30s","jitter":"0s","error_ratio":0,"error_status":599}`, want: Faults{Latency: 30 * time.Second, ErrorStatus: 599}},
		{name: "whitespace around", in: " \n{\"latency\":\"1s\"}\n ", want: Faults{Latency: time.Second, ErrorStatus: 503}},

		{name: "unknown key", in: `{"latency":"1s","ratio":0.5}`, errs: []string{`unknown field "ratio"`}},
		{name: "latency not a duration", in: `{"latency":"fast"}`, errs: []string{`latency "fast" is not a duration`}},
		{name: "latency without unit", in: `{"latency":"50"}`, errs: []string{`latency "50" is not a duration`}},
		{name: "latency as number", in: `{"latency":50}`, errs: []string{`latency: got a JSON number, want a duration string`}},
		{name: "negative latency", in: `{"latency":"-1ms"}`, errs: []string{"latency -1ms is outside 0s..30s"}},
		{name: "latency too long", in: `{"latency":"31s"}`, errs: []string{"latency 31s is outside"}},
		{name: "jitter too long", in: `{"jitter":"1h"}`, errs: []string{"jitter 1h0m0s is outside"}},
		{name: "slower without a delay", in: `{"slower":0.15,"error_ratio":0.01}`, errs: []string{"slower 0.15 stretches latency and jitter: set one of them"}},
		{name: "slower negative", in: `{"latency":"1ms","slower":-0.1}`, errs: []string{"slower -0.1 is outside 0..10"}},
		{name: "slower too big", in: `{"latency":"1ms","slower":11}`, errs: []string{"slower 11 is outside 0..10"}},
		{name: "slower as a percentage string", in: `{"latency":"1ms","slower":"15%"}`, errs: []string{"slower: got a JSON string, want a number from 0 to 10 (0.15 = 15 % slower)"}},
		{name: "ratio above 1", in: `{"error_ratio":1.5}`, errs: []string{"error_ratio 1.5 is outside 0..1"}},
		{name: "ratio negative", in: `{"error_ratio":-0.1}`, errs: []string{"error_ratio -0.1 is outside"}},
		{name: "ratio as string", in: `{"error_ratio":"20%"}`, errs: []string{"error_ratio: got a JSON string, want a number from 0 to 1"}},
		{name: "ratio overflows", in: `{"error_ratio":1e999}`, errs: []string{"error_ratio: got a JSON number 1e999"}},
		{name: "status not an error", in: `{"error_status":200}`, errs: []string{"error_status 200 is outside 400..599"}},
		{name: "status too big", in: `{"error_status":600}`, errs: []string{"error_status 600 is outside"}},
		{name: "status fractional", in: `{"error_status":503.5}`, errs: []string{"error_status: got a JSON number 503.5, want an integer status"}},
		{name: "prefix without slash", in: `{"path_prefix":"cart"}`, errs: []string{`path_prefix "cart" does not start with /`}},
		{name: "prefix with space", in: `{"path_prefix":"/ca rt"}`, errs: []string{"contains spaces"}},
		{name: "prefix too long", in: `{"path_prefix":"/` + strings.Repeat("a", maxPathPrefix) + `"}`, errs: []string{"path_prefix is longer than 256 bytes"}},
		{name: "every problem at once", in: `{"latency":"-1s","error_ratio":2,"error_status":99}`, errs: []string{"latency -1s", "error_ratio 2", "error_status 99"}},
		{name: "null", in: `null`, errs: []string{"want a JSON object"}},
		{name: "array", in: `[]`, errs: []string{"want a JSON object, got a JSON array"}},
		{name: "string", in: `"50ms"`, errs: []string{"want a JSON object, got a JSON string"}},
		{name: "empty", in: ``, errs: []string{"empty or truncated body"}},
		{name: "truncated", in: `{"latency":"5`, errs: []string{"empty or truncated body"}},
		{name: "syntax error", in: `{"latency":}`, errs: []string{"invalid JSON at byte"}},
		{name: "trailing data", in: `{"latency":"1s"} {"latency":"2s"}`, errs: []string{"unexpected data after the JSON object"}},
		{name: "trailing garbage", in: `{"latency":"1s"}x`, errs: []string{"unexpected data after the JSON object"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseFaults([]byte(tc.in))
			if tc.errs == nil {
				require.NoError(t, err, "ParseFaults(%q)", tc.in)
				assert.Equal(t, tc.want, got, "ParseFaults(%q)", tc.in)
				return
			}
			require.Error(t, err, "ParseFaults(%q) = %+v", tc.in, got)
			for _, e := range tc.errs {
				assert.Contains(t, err.Error(), e, "ParseFaults(%q)", tc.in)
			}
			assert.Equal(t, Faults{}, got)
		})
	}
}

func TestFaultsJSONRoundTrip(t *testing.T) {
	in := Faults{Latency: 1500 * time.Microsecond, Jitter: time.Second, Slower: 0.25, ErrorRatio: 0.125, PathPrefix: "/cart/"}
	data, err := json.Marshal(in)
	require.NoError(t, err)
	assert.JSONEq(t, `{"latency":"1.5ms","jitter":"1s","slower":0.25,"error_ratio":0.125,"error_status":503,"path_prefix":"/cart/"}`, string(data))
	var out Faults
	require.NoError(t, json.Unmarshal(data, &out))
	assert.Equal(t, in.normalized(), out)
	assert.Error(t, json.Unmarshal([]byte(`{"error_ratio":3}`), &out), "UnmarshalJSON validates")
}

func TestFaultsCover(t *testing.T) {
	for _, tc := range []struct {
		prefix, path string
		want         bool
	}{
		{"", "/anything", true},
		{"/", "/anything", true},
		{"/cart", "/cart", true},
		{"/cart", "/cart/items", true},
		{"/cart", "/cartography", false},
		{"/cart", "/products", false},
		{"/cart/", "/cart/items", true},
		{"/cart/", "/cart", false},
		{"/products/sku-10", "/products/sku-1001", false},
		{"/products/sku-1001", "/products/sku-1001", true},
	} {
		got := Faults{PathPrefix: tc.prefix}.covers(tc.path)
		assert.Equal(t, tc.want, got, "prefix %q covers %q", tc.prefix, tc.path)
	}
}

// errorPattern runs n GET /products through a server with the given seed
// and ratio and returns which requests failed.
func errorPattern(t *testing.T, seed uint64, ratio float64, n int) []bool {
	t.Helper()
	s := New(Options{Seed: seed, Faults: Faults{ErrorRatio: ratio}})
	failed := make([]bool, n)
	for i := range failed {
		a := serve(t, s, "GET", "/products", "")
		require.Contains(t, []int{200, 503}, a.status)
		failed[i] = a.status == 503
	}
	return failed
}

func count(b []bool) int {
	n := 0
	for _, v := range b {
		if v {
			n++
		}
	}
	return n
}

func TestErrorRatio(t *testing.T) {
	const n = 2000
	for _, ratio := range []float64{0, 0.2, 0.5, 1} {
		t.Run(fmt.Sprint(ratio), func(t *testing.T) {
			got := float64(count(errorPattern(t, 42, ratio, n))) / n
			// ±3 percentage points is more than 3 standard deviations of a
			// binomial at n=2000; with a fixed seed the result is fixed anyway.
			assert.InDelta(t, ratio, got, 0.03, "error_ratio %v over %d requests", ratio, n)
		})
	}
}

func TestSeedMakesFaultsRepeatable(t *testing.T) {
	a, b := errorPattern(t, 7, 0.3, 200), errorPattern(t, 7, 0.3, 200)
	assert.Equal(t, a, b, "same seed, same failures")
	c := errorPattern(t, 8, 0.3, 200)
	assert.NotEqual(t, a, c, "another seed, other failures")
}

func TestInjectedError(t *testing.T) {
	s := New(Options{Seed: 1, Faults: Faults{ErrorRatio: 1, ErrorStatus: 500}})
	a := serve(t, s, "POST", "/login", `{"user":"a","password":"b"}`)
	require.Equal(t, 500, a.status)
	assert.Equal(t, "error", a.header.Get("X-Canary-Fault"))
	assert.Equal(t, "injected fault (see /admin/faults)", a.json(t)["error"])
	assert.Equal(t, int64(1), s.Counts()["POST /login"], "a faulted request still counts")
	assert.Equal(t, int64(1), s.Stats().Faults.Injected)
	active, _ := s.sessions.stats()
	assert.Zero(t, active, "a failed login creates no session")
}

func TestFaultScope(t *testing.T) {
	tests := []struct {
		name    string
		prefix  string
		faulted []string
		spared  []string
	}{
		{
			name:    "everything but health and admin",
			prefix:  "",
			faulted: []string{"/", "/products", "/products/sku-1001", "/cart", "/slow", "/status/200", "/redirect/0", "/bytes/1"},
			spared:  []string{"/health", "/admin/faults", "/admin/stats"},
		},
		{
			name:    "prefix",
			prefix:  "/cart",
			faulted: []string{"/cart", "/cart/items/sku-1001"},
			spared:  []string{"/", "/products", "/health", "/admin/stats", "/status/200"},
		},
		{
			name:    "prefix covering admin still spares admin",
			prefix:  "/admin",
			faulted: nil,
			spared:  []string{"/admin/faults", "/admin/stats", "/products"},
		},
		{
			name:    "root prefix is everything",
			prefix:  "/",
			faulted: []string{"/products"},
			spared:  []string{"/health", "/admin/stats"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := New(Options{Seed: 1, Faults: Faults{ErrorRatio: 1, ErrorStatus: 599, PathPrefix: tc.prefix}})
			for _, p := range tc.faulted {
				assert.Equal(t, 599, serve(t, s, "GET", p, "").status, "GET %s with prefix %q", p, tc.prefix)
			}
			for _, p := range tc.spared {
				assert.NotEqual(t, 599, serve(t, s, "GET", p, "").status, "GET %s with prefix %q", p, tc.prefix)
			}
			assert.Equal(t, int64(len(tc.faulted)), s.Stats().Faults.Injected)
		})
	}
}

func TestFaultLatency(t *testing.T) {
	const latency, jitter = 40 * time.Millisecond, 20 * time.Millisecond
	s := New(Options{Seed: 1, Faults: Faults{Latency: latency, Jitter: jitter}})
	for range 3 {
		start := time.Now()
		a := serve(t, s, "GET", "/products", "")
		elapsed := time.Since(start)
		require.Equal(t, 200, a.status)
		assert.GreaterOrEqual(t, elapsed, latency, "GET /products with latency %s", latency)
		assert.Less(t, elapsed, 5*time.Second, "wide upper bound: latency+jitter is 60ms")
	}
	// Spared routes are not delayed: the counter says so exactly.
	serve(t, s, "GET", "/health", "")
	serve(t, s, "GET", "/admin/stats", "")
	assert.Equal(t, int64(3), s.Stats().Faults.Delayed)
}

func TestFaultJitterRange(t *testing.T) {
	s := New(Options{Seed: 3})
	f := &Faults{Latency: 10 * time.Millisecond, Jitter: 5 * time.Millisecond}
	seen := map[bool]bool{}
	for range 1000 {
		d := s.faultDelay(f)
		require.GreaterOrEqual(t, d, f.Latency)
		require.LessOrEqual(t, d, f.Latency+f.Jitter)
		seen[d > f.Latency+f.Jitter/2] = true
	}
	assert.Len(t, seen, 2, "delays spread over the jitter range")
	assert.Equal(t, 7*time.Millisecond, s.faultDelay(&Faults{Latency: 7 * time.Millisecond}), "no jitter, no randomness")
}

func TestFaultSlowerStretchesTheDelay(t *testing.T) {
	// Two servers with the same seed draw the same jitter; the slower one
	// waits exactly that much longer, so every percentile moves by it.
	for _, tc := range []struct {
		name   string
		faults Faults
		slower float64
	}{
		{"latency only", Faults{Latency: 20 * time.Millisecond}, 0.15},
		{"latency and jitter", Faults{Latency: 20 * time.Millisecond, Jitter: 20 * time.Millisecond}, 0.15},
		{"jitter only, twice as slow", Faults{Jitter: 10 * time.Millisecond}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base, slow := New(Options{Seed: 5}), New(Options{Seed: 5})
			f, g := tc.faults, tc.faults
			g.Slower = tc.slower
			for range 200 {
				d, e := base.faultDelay(&f), slow.faultDelay(&g)
				require.InDelta(t, float64(d)*(1+tc.slower), float64(e), 1, "delay %s stretched by %v", d, tc.slower)
			}
		})
	}
}

func TestFaultSlowerOverHTTP(t *testing.T) {
	const latency = 40 * time.Millisecond
	_, ts := newHTTPTest(t, Options{Seed: 1, Faults: Faults{Latency: latency, Slower: 0.5}})
	for range 2 {
		start := time.Now()
		a := fetch(t, ts.Client(), "GET", ts.URL+"/products", "")
		elapsed := time.Since(start)
		require.Equal(t, 200, a.status)
		// Only a lower bound: a busy machine may add any amount on top.
		assert.GreaterOrEqual(t, elapsed, 60*time.Millisecond, "latency %s, 50 %% slower", latency)
	}
	assert.Equal(t, 200, fetch(t, ts.Client(), "GET", ts.URL+"/health", "").status, "health is never slowed")
}

func TestParseSlower(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want float64
		err  string
	}{
		{in: "15%", want: 0.15},
		{in: " 15 % ", want: 0.15},
		{in: "0.15", want: 0.15},
		{in: "0", want: 0},
		{in: "100%", want: 1},
		{in: "1000%", want: 10},
		{in: "1001%", err: `slower "1001%": must be between 0% and 1000%`},
		{in: "-5%", err: `slower "-5%": must be between 0% and 1000%`},
		{in: "fast", err: `slower "fast": want a percentage like 15% or a fraction like 0.15`},
		{in: "NaN", err: `slower "NaN": want a percentage like 15% or a fraction like 0.15`},
		{in: "", err: `slower "": want a percentage like 15% or a fraction like 0.15`},
	} {
		got, err := ParseSlower(tc.in)
		if tc.err != "" {
			assert.EqualError(t, err, tc.err, "ParseSlower(%q)", tc.in)
			continue
		}
		require.NoError(t, err, "ParseSlower(%q)", tc.in)
		assert.InDelta(t, tc.want, got, 1e-12, "ParseSlower(%q)", tc.in)
	}
}

func TestFaultLatencyStopsWhenClientLeaves(t *testing.T) {
	s := New(Options{Seed: 1, Faults: Faults{Latency: MaxFaultDelay}})
	ctx, cancel := context.WithCancel(t.Context())
	rec := httptest.NewRecorder()
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.ServeHTTP(rec, httptest.NewRequestWithContext(ctx, "GET", "/products", nil))
	}()
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("a request delayed by 30s is still waiting 5s after its context ended")
	}
	assert.Empty(t, rec.Body.String())
}

func TestAdminFaults(t *testing.T) {
	var logs bytes.Buffer
	s := New(Options{Seed: 1, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	assert.Empty(t, logs.String(), "a healthy start logs nothing about faults")

	a := serve(t, s, "GET", "/admin/faults", "")
	require.Equal(t, 200, a.status)
	assert.JSONEq(t, `{"latency":"0s","jitter":"0s","slower":0,"error_ratio":0,"error_status":503,"path_prefix":""}`, string(a.body))

	set := `{"latency":"50ms","jitter":"10ms","slower":0.15,"error_ratio":0.2,"error_status":503,"path_prefix":"/cart"}`
	a = serve(t, s, "PUT", "/admin/faults", set, "Content-Type", "application/json")
	require.Equal(t, 200, a.status, "%s", a.body)
	assert.JSONEq(t, set, string(a.body))
	want := Faults{Latency: 50 * time.Millisecond, Jitter: 10 * time.Millisecond, Slower: 0.15, ErrorRatio: 0.2, ErrorStatus: 503, PathPrefix: "/cart"}
	assert.Equal(t, want, s.Faults())
	assert.JSONEq(t, set, string(serve(t, s, "GET", "/admin/faults", "").body))
	assert.Contains(t, logs.String(), "faults set")
	assert.True(t, s.Stats().Faults.Active)

	for _, tc := range []struct {
		name, body string
		status     int
		errMsg     string
	}{
		{"bad value", `{"error_ratio":7}`, 400, "error_ratio 7 is outside 0..1"},
		{"two problems on one line", `{"latency":"x","error_status":1}`, 400, `latency "x" is not a duration (want e.g. "50ms"); error_status 1 is outside 400..599`},
		{"unknown key", `{"latency":"1s","delay":"1s"}`, 400, `unknown field "delay"`},
		{"not JSON", `latency=1s`, 400, "invalid JSON"},
		{"oversized", `{"path_prefix":"/` + strings.Repeat("a", maxFaultsBody) + `"}`, 413, "request body exceeds 4096 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := serve(t, s, "PUT", "/admin/faults", tc.body)
			require.Equal(t, tc.status, a.status, "PUT /admin/faults %s", tc.body)
			assert.Contains(t, a.json(t)["error"], tc.errMsg)
			assert.Equal(t, want, s.Faults(), "a refused PUT changes nothing")
		})
	}

	a = serve(t, s, "DELETE", "/admin/faults", "")
	require.Equal(t, 200, a.status)
	assert.Equal(t, Faults{ErrorStatus: 503}, s.Faults())
	assert.False(t, s.Faults().Active())
	assert.Contains(t, logs.String(), "faults cleared")
}

func TestSetFaults(t *testing.T) {
	s := New(Options{Seed: 1})
	require.NoError(t, s.SetFaults(Faults{Latency: time.Millisecond}))
	assert.Equal(t, Faults{Latency: time.Millisecond, ErrorStatus: 503}, s.Faults())

	err := s.SetFaults(Faults{ErrorRatio: -1, Jitter: time.Hour})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "error_ratio -1 is outside 0..1")
	assert.Contains(t, err.Error(), "jitter 1h0m0s is outside")
	assert.Equal(t, Faults{Latency: time.Millisecond, ErrorStatus: 503}, s.Faults(), "invalid knobs are refused whole")
}

func TestNewIgnoresInvalidInitialFaults(t *testing.T) {
	var logs bytes.Buffer
	s := New(Options{Seed: 1, Faults: Faults{ErrorStatus: 200, ErrorRatio: 1}, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	assert.False(t, s.Faults().Active())
	assert.Contains(t, logs.String(), "ignoring invalid initial faults")
	assert.Equal(t, http.StatusOK, serve(t, s, "GET", "/products", "").status)
}

func FuzzFaults(f *testing.F) {
	for _, seed := range []string{
		`{"latency":"50ms","jitter":"10ms","slower":0.15,"error_ratio":0.2,"error_status":503,"path_prefix":"/cart"}`,
		`{"slower":0.5}`, `{"jitter":"1s","slower":1e-300}`, `{}`, `null`, `[]`, ``, `{"latency":"1h"}`, `{"error_ratio":1e999}`, `{"error_status":503.5}`,
		`{"path_prefix":"cart"}`, `{"latency":"1s"}x`, `{"latency":"-1ns","x":1}`, `{"latency":"1.5µs"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := ParseFaults(data)
		if err != nil {
			if got != (Faults{}) {
				t.Fatalf("ParseFaults(%q) = %+v with error %v, want the zero Faults", data, got, err)
			}
			if err.Error() == "" {
				t.Fatalf("ParseFaults(%q): empty error message", data)
			}
			return
		}
		if verr := got.Validate(); verr != nil {
			t.Fatalf("ParseFaults(%q) = %+v, which does not validate: %v", data, got, verr)
		}
		if got.ErrorStatus == 0 {
			t.Fatalf("ParseFaults(%q): ErrorStatus not normalized", data)
		}
		enc, err := json.Marshal(got)
		if err != nil {
			t.Fatalf("marshal %+v: %v", got, err)
		}
		again, err := ParseFaults(enc)
		if err != nil || again != got {
			t.Fatalf("round trip of %q: %s parsed to %+v, %v; want %+v", data, enc, again, err, got)
		}
	})
}
