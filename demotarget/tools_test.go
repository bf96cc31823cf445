package demotarget

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSlow(t *testing.T) {
	s := New(Options{Seed: 1})
	for _, tc := range []struct {
		name, query string
		status      int
		slept       float64
	}{
		{"absent means 0", "", 200, 0},
		{"zero", "?ms=0", 200, 0},
		{"some", "?ms=30", 200, 30},
		{"empty", "?ms=", 400, 0},
		{"negative", "?ms=-1", 400, 0},
		{"above bound", "?ms=10001", 400, 0},
		{"not a number", "?ms=abc", 400, 0},
		{"fraction", "?ms=1.5", 400, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			a := serve(t, s, "GET", "/slow"+tc.query, "")
			elapsed := time.Since(start)
			require.Equal(t, tc.status, a.status, "GET /slow%s: %s", tc.query, a.body)
			if tc.status != 200 {
				assert.Contains(t, a.json(t)["error"], "ms must be an integer in 0..10000")
				return
			}
			assert.Equal(t, tc.slept, a.json(t)["slept_ms"])
			assert.GreaterOrEqual(t, elapsed, time.Duration(tc.slept)*time.Millisecond)
		})
	}
}

func TestSlowStopsWhenClientLeaves(t *testing.T) {
	s := New(Options{Seed: 1})
	ctx, cancel := context.WithCancel(t.Context())
	req := httptest.NewRequestWithContext(ctx, "GET", "/slow?ms=10000", nil)
	rec := httptest.NewRecorder()
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.ServeHTTP(rec, req)
	}()
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("GET /slow?ms=10000 still running 5s after its context ended")
	}
	assert.Empty(t, rec.Body.String(), "nothing is written for a client that left")
}

func TestStatus(t *testing.T) {
	s := New(Options{Seed: 1})
	for _, tc := range []struct {
		code   string
		status int
		body   string
	}{
		{"200", 200, `{"status":200,"text":"OK"}`},
		{"201", 201, `{"status":201,"text":"Created"}`},
		{"204", 204, ``},
		{"304", 304, ``},
		{"302", 302, `{"status":302,"text":"Found"}`},
		{"404", 404, `{"error":"Not Found","status":404}`},
		{"418", 418, `{"error":"I'm a teapot","status":418}`},
		{"503", 503, `{"error":"Service Unavailable","status":503}`},
		{"599", 599, `{"error":"status 599","status":599}`},
		{"299", 299, `{"status":299,"text":"status 299"}`},
		{"99", 400, ``},
		{"600", 400, ``},
		{"-200", 400, ``},
		{"abc", 400, ``},
		{"101", 400, ``},
	} {
		t.Run(tc.code, func(t *testing.T) {
			a := serve(t, s, "GET", "/status/"+tc.code, "")
			require.Equal(t, tc.status, a.status, "GET /status/%s: %s", tc.code, a.body)
			switch {
			case tc.status == 400:
				assert.Contains(t, a.json(t)["error"], "status")
			case tc.body == "":
				assert.Empty(t, a.body)
			default:
				assert.JSONEq(t, tc.body, string(a.body))
			}
		})
	}
}

// A 1xx cannot end an exchange: the client sees it as an interim response,
// then the final 200.
func TestStatusInterim(t *testing.T) {
	_, ts := newHTTPTest(t, Options{Seed: 1})
	var interim []int
	ctx := httptrace.WithClientTrace(t.Context(), &httptrace.ClientTrace{
		Got1xxResponse: func(code int, _ textproto.MIMEHeader) error {
			interim = append(interim, code)
			return nil
		},
	})
	req, err := http.NewRequestWithContext(ctx, "GET", ts.URL+"/status/103", nil)
	require.NoError(t, err)
	res, err := ts.Client().Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	assert.Equal(t, 200, res.StatusCode)
	assert.Equal(t, []int{103}, interim)
	assert.JSONEq(t, `{"status":200,"interim":103}`, string(body))
}

func TestRedirect(t *testing.T) {
	_, ts := newHTTPTest(t, Options{Seed: 1})
	for _, tc := range []struct {
		n      string
		hops   int
		status int
	}{
		{"0", 0, 200},
		{"1", 1, 200},
		{"5", 5, 200},
		{"20", 20, 200},
		{"21", 0, 400},
		{"-1", 0, 400},
		{"x", 0, 400},
	} {
		t.Run(tc.n, func(t *testing.T) {
			var hops []string
			c := &http.Client{
				Transport: ts.Client().Transport,
				CheckRedirect: func(req *http.Request, via []*http.Request) error {
					hops = append(hops, req.URL.Path)
					if len(via) > 30 {
						return errors.New("too many redirects")
					}
					return nil
				},
			}
			a := fetch(t, c, "GET", ts.URL+"/redirect/"+tc.n, "")
			require.Equal(t, tc.status, a.status, "GET /redirect/%s: %s", tc.n, a.body)
			require.Len(t, hops, tc.hops)
			if tc.status == 200 {
				assert.JSONEq(t, `{"redirect":"done"}`, string(a.body))
				if tc.hops > 0 {
					assert.Equal(t, "/redirect/"+strconv.Itoa(tc.hops-1), hops[0])
					assert.Equal(t, "/redirect/0", hops[len(hops)-1])
				}
			} else {
				assert.Contains(t, a.json(t)["error"], "redirect count must be an integer in 0..20")
			}
		})
	}
}

func TestBytes(t *testing.T) {
	_, ts := newHTTPTest(t, Options{Seed: 1})
	for _, tc := range []struct {
		n      int
		status int
	}{
		{0, 200},
		{1, 200},
		{fillSize + 7, 200},
		{MaxBytes, 200},
		{MaxBytes + 1, 400},
		{-1, 400},
	} {
		t.Run(strconv.Itoa(tc.n), func(t *testing.T) {
			a := fetch(t, ts.Client(), "GET", ts.URL+"/bytes/"+strconv.Itoa(tc.n), "")
			require.Equal(t, tc.status, a.status, "GET /bytes/%d", tc.n)
			if tc.status != 200 {
				assert.Contains(t, a.json(t)["error"], "byte count must be an integer in 0..33554432")
				return
			}
			require.Len(t, a.body, tc.n)
			assert.Equal(t, strconv.Itoa(tc.n), a.header.Get("Content-Length"))
			assert.Equal(t, "application/octet-stream", a.header.Get("Content-Type"))
			if tc.n > fillSize {
				assert.Equal(t, a.body[:7], a.body[fillSize:fillSize+7], "the content repeats")
			}
		})
	}
	t.Run("bad path value", func(t *testing.T) {
		a := fetch(t, ts.Client(), "GET", ts.URL+"/bytes/lots", "")
		assert.Equal(t, 400, a.status)
	})
}

func TestFill(t *testing.T) {
	f := newFill()
	require.Len(t, f, fillSize)
	assert.Equal(t, "canary demo target", string(f[:18]))
}
