package demotarget

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// answer is one response, read whole.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// json decodes the body into a generic map, failing the test if it is not
// a JSON object.
func (a answer) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(a.body, &m), "body %q", a.body)
	return m
}

// serve runs one request through s in-process (no network).
func serve(t *testing.T, s http.Handler, method, target, body string, header ...string) answer {
	t.Helper()
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	res := rec.Result()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return answer{status: res.StatusCode, header: res.Header, body: b}
}

// fetch sends one request to a real server.
func fetch(t *testing.T, c *http.Client, method, url, body string, header ...string) answer {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	require.NoError(t, err)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := c.Do(req)
	require.NoError(t, err, "%s %s", method, url)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return answer{status: res.StatusCode, header: res.Header, body: b}
}

func newHTTPTest(t *testing.T, o Options) (*Server, *httptest.Server) {
	t.Helper()
	s := New(o)
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return s, ts
}

func TestHealth(t *testing.T) {
	_, ts := newHTTPTest(t, Options{Seed: 1})
	a := fetch(t, ts.Client(), "GET", ts.URL+"/health", "")
	require.Equal(t, http.StatusOK, a.status)
	assert.Equal(t, "application/json", a.header.Get("Content-Type"))
	assert.JSONEq(t, `{"status":"ok"}`, string(a.body))
	assert.NotEmpty(t, a.header.Get("X-Request-Id"))
}

func TestIndexListsEveryRoute(t *testing.T) {
	s := New(Options{Seed: 1})
	a := serve(t, s, "GET", "/", "")
	require.Equal(t, http.StatusOK, a.status)
	var doc struct{ Endpoints []string }
	require.NoError(t, json.Unmarshal(a.body, &doc))
	assert.ElementsMatch(t, s.patterns, doc.Endpoints)
	assert.Contains(t, doc.Endpoints, "PUT /admin/faults")
	assert.Contains(t, doc.Endpoints, "GET /", "ServeMux's {$} stays out of sight")
	assert.Equal(t, int64(1), s.Counts()["GET /"])
	assert.Equal(t, http.StatusNotFound, serve(t, s, "GET", "/nope", "").status, "GET / matches / only")
}

func TestRequestID(t *testing.T) {
	s := New(Options{Seed: 1})
	for _, tc := range []struct {
		name, sent string
		echoed     bool
	}{
		{"plain id is echoed", "req-123_abc.def:9", true},
		{"none sent", "", false},
		{"too long", strings.Repeat("a", maxRequestID+1), false},
		{"header injection", "abc\r\nX-Evil: 1", false},
		{"spaces", "a b", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/health", nil)
			if tc.sent != "" {
				req.Header["X-Request-Id"] = []string{tc.sent}
			}
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, req)
			got := rec.Header().Get("X-Request-Id")
			if tc.echoed {
				assert.Equal(t, tc.sent, got)
				return
			}
			assert.NotEqual(t, tc.sent, got)
			assert.Regexp(t, `^[A-Z2-7]{26}$`, got, "generated id for %q", tc.sent)
		})
	}
}

func TestUnmatchedAnswersJSON(t *testing.T) {
	s := New(Options{Seed: 1})
	for _, tc := range []struct {
		name, method, target string
		status               int
		allow                string
	}{
		{"unknown path", "GET", "/nope", 404, ""},
		{"near miss of a route", "GET", "/cartography", 404, ""},
		{"wrong method", "DELETE", "/health", 405, "GET, HEAD"},
		{"wrong method on login", "GET", "/login", 405, "POST"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := serve(t, s, tc.method, tc.target, "")
			require.Equal(t, tc.status, a.status, "%s %s", tc.method, tc.target)
			assert.Equal(t, "application/json", a.header.Get("Content-Type"))
			assert.Equal(t, float64(tc.status), a.json(t)["status"])
			assert.Equal(t, tc.allow, a.header.Get("Allow"))
		})
	}
	assert.Equal(t, int64(4), s.Counts()[UnmatchedRoute])
}

func TestUncleanPathRedirects(t *testing.T) {
	s := New(Options{Seed: 1})
	a := serve(t, s, "GET", "/cart/../health", "")
	require.Equal(t, http.StatusTemporaryRedirect, a.status)
	assert.Equal(t, "/health", a.header.Get("Location"))
}

func TestCountsArePerRoutePattern(t *testing.T) {
	s := New(Options{Seed: 1})
	for _, target := range []string{"/products/sku-1001", "/products/nope", "/products/other", "/health", "/x/y"} {
		serve(t, s, "GET", target, "")
	}
	c := s.Counts()
	assert.Equal(t, int64(3), c["GET /products/{id}"])
	assert.Equal(t, int64(1), c["GET /health"])
	assert.Equal(t, int64(1), c[UnmatchedRoute])
	assert.Equal(t, int64(0), c["GET /cart"])
	// The key set is the route table plus "unmatched", whatever was requested.
	assert.Len(t, c, len(s.patterns)+1)
	assert.NotContains(t, c, "/products/nope")

	st := serve(t, s, "GET", "/admin/stats", "")
	require.Equal(t, http.StatusOK, st.status)
	var doc Stats
	require.NoError(t, json.Unmarshal(st.body, &doc))
	assert.Equal(t, int64(3), doc.Requests["GET /products/{id}"])
	assert.Equal(t, int64(1), doc.Requests["GET /admin/stats"], "the stats request counts itself")
	assert.Equal(t, DefaultMaxSessions, doc.Sessions.Max)
}

func TestWriteErrorShape(t *testing.T) {
	rec := httptest.NewRecorder()
	writeError(rec, http.StatusTeapot, "short and stout")
	assert.Equal(t, http.StatusTeapot, rec.Code)
	assert.JSONEq(t, `{"error":"short and stout","status":418}`, rec.Body.String())
	assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
}

func TestReadBodyLimit(t *testing.T) {
	for _, tc := range []struct {
		name   string
		size   int
		status int
	}{
		{"at the limit", 100, 0},
		{"over the limit", 101, http.StatusRequestEntityTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest("POST", "/", bytes.NewReader(make([]byte, tc.size)))
			data, ok := readBody(rec, req, 100)
			if tc.status == 0 {
				require.True(t, ok)
				assert.Len(t, data, tc.size)
				return
			}
			require.False(t, ok)
			assert.Equal(t, tc.status, rec.Code)
			assert.Contains(t, rec.Body.String(), "exceeds 100 bytes")
		})
	}
}

// The demo target must not be the bottleneck of a demo load test: these
// measure its per-request cost in-process.
func BenchmarkServeHTTP(b *testing.B) {
	s := New(Options{Seed: 1})
	req := httptest.NewRequest("POST", "/login", strings.NewReader(`{"user":"bench","password":"x"}`))
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	var doc struct{ Token string }
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name, method, target, body string
	}{
		{"health", "GET", "/health", ""},
		{"products", "GET", "/products", ""},
		{"cart", "GET", "/cart", ""},
		{"login", "POST", "/login", `{"user":"bench","password":"x"}`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(bc.method, bc.target, strings.NewReader(bc.body))
				req.Header.Set("Authorization", "Bearer "+doc.Token)
				rec := httptest.NewRecorder()
				s.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("%s %s: %d %s", bc.method, bc.target, rec.Code, rec.Body)
				}
			}
		})
	}
}
