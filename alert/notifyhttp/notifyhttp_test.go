package notifyhttp

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/canaryproj/canary/alert"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const secretPath = "/services/T000/B000/sekret-path"

func testClient(t *testing.T) *http.Client {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// closedURL is a loopback address nothing listens on.
func closedURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return "http://" + addr
}

func TestPostJSON(t *testing.T) {
	answer := func(code int, body string, header ...string) http.HandlerFunc {
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
		answer    http.HandlerFunc // nil: nothing listens
		ok        bool
		retryable bool
		after     time.Duration
		msg       string // the whole error text after "where: "
	}{
		{name: "200", answer: answer(200, "ok"), ok: true},
		{name: "204", answer: answer(204, ""), ok: true},
		{name: "429 with Retry-After", answer: answer(429, "rate_limited", "Retry-After", "7"), retryable: true,
			after: 7 * time.Second, msg: "HTTP 429: rate_limited (retry after 7s)"},
		{name: "429 without Retry-After", answer: answer(429, ""), retryable: true, msg: "HTTP 429"},
		{name: "500", answer: answer(500, "boom\nstack trace"), retryable: true, msg: "HTTP 500: boom"},
		{name: "503", answer: answer(503, ""), retryable: true, msg: "HTTP 503"},
		{name: "400 with a JSON string", answer: answer(400, `"start time must be before end time"`+"\n"),
			msg: "HTTP 400: start time must be before end time"},
		{name: "404 plain text", answer: answer(404, "no_service"), msg: "HTTP 404: no_service"},
		{name: "control characters", answer: answer(400, "a\tb\x00c"), msg: "HTTP 400: a b c"},
		{name: "invalid UTF-8", answer: answer(400, "bad \xff byte"), msg: "HTTP 400: bad \uFFFD byte"},
		{name: "long message is bounded", answer: answer(400, strings.Repeat("é", 5000)),
			msg: "HTTP 400: " + strings.Repeat("é", 199) + "…"},
		{name: "connection refused", retryable: true, msg: "dial tcp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got struct {
				contentType, body string
			}
			base := closedURL(t)
			if tc.answer != nil {
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					b, _ := io.ReadAll(r.Body)
					got.contentType, got.body = r.Header.Get("Content-Type"), string(b)
					tc.answer(w, r)
				}))
				t.Cleanup(srv.Close)
				base = srv.URL
			}
			err := PostJSON(context.Background(), testClient(t), base+secretPath, "receiver", []byte(`{"a":1}`))
			if tc.answer != nil {
				assert.Equal(t, "application/json", got.contentType)
				assert.Equal(t, `{"a":1}`, got.body)
			}
			if tc.ok {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			after, retryable := alert.Retryable(err)
			assert.Equal(t, tc.retryable, retryable, "Retryable(%v)", err)
			assert.Equal(t, tc.after, after)
			assert.True(t, strings.HasPrefix(err.Error(), "receiver: "+tc.msg), "PostJSON error %q, want receiver: %s…", err, tc.msg)
			assert.NotContains(t, err.Error(), "sekret", "the endpoint is never printed")
		})
	}
}

func TestPostJSONBadEndpointIsNotPrinted(t *testing.T) {
	err := PostJSON(context.Background(), testClient(t), "http://x/%zz"+secretPath, "receiver", nil)
	require.Error(t, err)
	_, retryable := alert.Retryable(err)
	assert.False(t, retryable, "a URL that cannot be requested stays bad")
	assert.NotContains(t, err.Error(), "sekret")
	assert.True(t, strings.HasPrefix(err.Error(), "receiver: "), err.Error())
}

func TestPostJSONCancelled(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := PostJSON(ctx, testClient(t), srv.URL+secretPath, "receiver", nil)
	require.Error(t, err)
	assert.ErrorIs(t, err, context.Canceled)
	_, retryable := alert.Retryable(err)
	assert.True(t, retryable, "cut off before an answer: it may not have arrived")
}

func TestRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		header string
		want   time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"-5", 0},
		{"soon", 0},
		{"Wed, 21 Oct 2015 07:28:00 GMT", 0},
		{"1", time.Second},
		{" 30 ", 30 * time.Second},
		{"3600", time.Hour},
		{"86400", MaxRetryAfter},
		{"99999999999999999999", 0},
	} {
		h := http.Header{}
		if tc.header != "" {
			h.Set("Retry-After", tc.header)
		}
		assert.Equal(t, tc.want, RetryAfter(h), "RetryAfter(%q)", tc.header)
	}
}

func TestCapRetryAfter(t *testing.T) {
	assert.Equal(t, time.Duration(0), CapRetryAfter(-time.Second))
	assert.Equal(t, 3*time.Second, CapRetryAfter(3*time.Second))
	assert.Equal(t, MaxRetryAfter, CapRetryAfter(48*time.Hour))
}

func TestUnwrapURLError(t *testing.T) {
	cause := errors.New("connection refused")
	ue := &url.Error{Op: "Post", URL: "https://hooks.slack.com" + secretPath, Err: cause}
	assert.Equal(t, cause, UnwrapURLError(ue))
	assert.Equal(t, cause, UnwrapURLError(errors.Join(ue)), "found inside a chain")
	assert.Equal(t, cause, UnwrapURLError(cause), "other errors pass through")
}
