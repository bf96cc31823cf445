package slack

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack/slacktest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canaryproj/canary/alert"
	"github.com/canaryproj/canary/internal/logtest"
)

const (
	testToken       = "xoxb-1111-2222-SeCrEtBoTtOkEn"
	testWebhookPath = "/services/T0SECRET/B0SECRET/WebhookSecretXYZ"
)

// secrets are the strings no error and no log line may contain.
var secrets = []string{testToken, "SeCrEtBoTtOkEn", testWebhookPath, "T0SECRET", "B0SECRET", "WebhookSecretXYZ"}

func newLogger() (*slog.Logger, *logtest.Buffer) {
	lb := &logtest.Buffer{}
	return slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug})), lb
}

func testClient(t *testing.T) *http.Client {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// assertNoSecret fails when s holds any of the test secrets.
func assertNoSecret(t *testing.T, what, s string) {
	t.Helper()
	for _, sec := range secrets {
		assert.NotContains(t, s, sec, "%s leaks a secret", what)
	}
}

// apiCall is one Web API call as the fake Slack received it.
type apiCall struct {
	Method, Token, Channel, ThreadTS, TS, Text string
	Blocks                                     json.RawMessage
}

// fakeAPI is the Web API's chat.postMessage and chat.update on slacktest:
// it records every call and answers like Slack, or with fail's answer.
type fakeAPI struct {
	mu     sync.Mutex
	calls  []apiCall
	nextTS int
	fail   map[string]http.HandlerFunc // by method
}

// channelIDs maps channel names to the IDs Slack answers with.
var channelIDs = map[string]string{"#staging-alerts": "C01STAGING", "#payments": "C02PAYMENTS"}

func (f *fakeAPI) handler(method string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		c := apiCall{
			Method: method, Token: r.PostForm.Get("token"), Channel: r.PostForm.Get("channel"),
			ThreadTS: r.PostForm.Get("thread_ts"), TS: r.PostForm.Get("ts"), Text: r.PostForm.Get("text"),
			Blocks: json.RawMessage(r.PostForm.Get("blocks")),
		}
		f.mu.Lock()
		f.calls = append(f.calls, c)
		fail := f.fail[method]
		f.nextTS++
		ts := fmt.Sprintf("1700000000.%06d", f.nextTS)
		f.mu.Unlock()

		if fail != nil {
			fail(w, r)
			return
		}
		if c.Token != testToken {
			_, _ = io.WriteString(w, `{"ok":false,"error":"invalid_auth"}`)
			return
		}
		ch := c.Channel
		if id, ok := channelIDs[ch]; ok {
			ch = id
		}
		if method == "chat.update" {
			ts = c.TS
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"ok": true, "channel": ch, "ts": ts})
	}
}

func (f *fakeAPI) takeCalls() []apiCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.calls
	f.calls = nil
	return c
}

// newFakeSlack starts slacktest with the fake's handlers and returns a bot
// Notifier pointed at it.
func newFakeSlack(t *testing.T, logger *slog.Logger) (*fakeAPI, *Notifier) {
	t.Helper()
	f := &fakeAPI{fail: map[string]http.HandlerFunc{}}
	srv := slacktest.NewTestServer(func(c slacktest.Customize) {
		c.Handle("/chat.postMessage", f.handler("chat.postMessage"))
		c.Handle("/chat.update", f.handler("chat.update"))
	})
	srv.Start()
	t.Cleanup(srv.Stop)
	n, err := New(Options{Token: testToken, Channel: "#staging-alerts", APIURL: srv.GetAPIURL(),
		HTTPClient: testClient(t), Logger: logger})
	require.NoError(t, err)
	return f, n
}

// goldenBlocks is the blocks part of a golden file.
func goldenBlocks(t *testing.T, name string) string {
	t.Helper()
	var p struct {
		Text   string          `json:"text"`
		Blocks json.RawMessage `json:"blocks"`
	}
	require.NoError(t, json.Unmarshal(readGolden(t, name), &p))
	return string(p.Blocks)
}

func TestBotLifecycle(t *testing.T) {
	logger, logs := newLogger()
	f, n := newFakeSlack(t, logger)
	ctx := context.Background()

	// Firing: one new message in the default channel, whose thread is returned.
	th, err := n.Notify(ctx, fixture(alert.Firing))
	require.NoError(t, err)
	require.Equal(t, &alert.Thread{Channel: "C01STAGING", TS: "1700000000.000001"}, th)
	calls := f.takeCalls()
	require.Len(t, calls, 1, "firing: %+v", calls)
	assert.Equal(t, "chat.postMessage", calls[0].Method)
	assert.Equal(t, "#staging-alerts", calls[0].Channel)
	assert.Empty(t, calls[0].ThreadTS, "a firing message starts a thread")
	assert.JSONEq(t, goldenBlocks(t, "firing"), string(calls[0].Blocks))
	assert.Contains(t, calls[0].Text, "FIRING: checkout · availability")

	// Reminder: a reply in the thread, nothing else.
	rem := fixture(alert.Reminder)
	rem.Thread = th
	got, err := n.Notify(ctx, rem)
	require.NoError(t, err)
	assert.Equal(t, th, got)
	calls = f.takeCalls()
	require.Len(t, calls, 1, "reminder: %+v", calls)
	assert.Equal(t, apiCall{Method: "chat.postMessage", Token: testToken, Channel: "C01STAGING",
		ThreadTS: th.TS, Text: calls[0].Text, Blocks: calls[0].Blocks}, calls[0])
	assert.JSONEq(t, goldenBlocks(t, "reminder"), string(calls[0].Blocks))

	// Resolved: a reply in the thread, then the first message updated.
	res := fixture(alert.Resolved)
	res.Thread = th
	got, err = n.Notify(ctx, res)
	require.NoError(t, err)
	assert.Equal(t, th, got)
	calls = f.takeCalls()
	require.Len(t, calls, 2, "resolved: %+v", calls)
	assert.Equal(t, "chat.postMessage", calls[0].Method)
	assert.Equal(t, "C01STAGING", calls[0].Channel)
	assert.Equal(t, th.TS, calls[0].ThreadTS)
	assert.JSONEq(t, goldenBlocks(t, "resolved"), string(calls[0].Blocks))
	assert.Equal(t, "chat.update", calls[1].Method)
	assert.Equal(t, "C01STAGING", calls[1].Channel)
	assert.Equal(t, th.TS, calls[1].TS, "the update is of the first message")
	assert.JSONEq(t, goldenBlocks(t, "resolved"), string(calls[1].Blocks))
	assert.Contains(t, string(calls[1].Blocks), "RESOLVED: checkout · availability")
	assert.Contains(t, calls[1].Text, "RESOLVED")

	assertNoSecret(t, "logs", logs.String())
}

func TestBotChannelsAndMissingThread(t *testing.T) {
	for _, tc := range []struct {
		name        string
		kind        alert.Kind
		channel     string
		wantChannel string
		wantThread  *alert.Thread
	}{
		{"firing in the check's channel", alert.Firing, "#payments", "#payments", &alert.Thread{Channel: "C02PAYMENTS", TS: "1700000000.000001"}},
		{"reminder without a thread posts anew", alert.Reminder, "", "#staging-alerts", &alert.Thread{Channel: "C01STAGING", TS: "1700000000.000001"}},
		{"resolve without a thread posts anew", alert.Resolved, "#payments", "#payments", &alert.Thread{Channel: "C02PAYMENTS", TS: "1700000000.000001"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, n := newFakeSlack(t, nil)
			nt := fixture(tc.kind)
			nt.Channel = tc.channel
			th, err := n.Notify(context.Background(), nt)
			require.NoError(t, err)
			assert.Equal(t, tc.wantThread, th)
			calls := f.takeCalls()
			require.Len(t, calls, 1, "%+v", calls)
			assert.Equal(t, "chat.postMessage", calls[0].Method)
			assert.Equal(t, tc.wantChannel, calls[0].Channel)
			assert.Empty(t, calls[0].ThreadTS)
		})
	}
}

func TestBotResolveUpdateFailureStillDelivers(t *testing.T) {
	for _, tc := range []struct {
		name    string
		answer  http.HandlerFunc
		wantLog string
	}{
		{"api error", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, `{"ok":false,"error":"cant_update_message"}`)
		}, "cant_update_message"},
		{"server error", func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "oops", http.StatusInternalServerError)
		}, "HTTP 500"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logger, logs := newLogger()
			f, n := newFakeSlack(t, logger)
			f.fail["chat.update"] = tc.answer
			res := fixture(alert.Resolved)
			res.Thread = &alert.Thread{Channel: "C01STAGING", TS: "1699999999.000001"}

			th, err := n.Notify(context.Background(), res)
			require.NoError(t, err, "the resolve is in the thread: retrying would post it twice")
			assert.Equal(t, res.Thread, th)
			calls := f.takeCalls()
			require.Len(t, calls, 2, "%+v", calls)
			assert.Equal(t, "chat.postMessage", calls[0].Method)
			assert.Equal(t, "chat.update", calls[1].Method)
			assert.Contains(t, logs.String(), "updating the first message failed")
			assert.Contains(t, logs.String(), tc.wantLog)
			assertNoSecret(t, "logs", logs.String())
		})
	}
}

func TestBotResolveReplyFailureSkipsUpdate(t *testing.T) {
	f, n := newFakeSlack(t, nil)
	f.fail["chat.postMessage"] = func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	}
	res := fixture(alert.Resolved)
	res.Thread = &alert.Thread{Channel: "C01STAGING", TS: "1699999999.000001"}
	_, err := n.Notify(context.Background(), res)
	_, retry := alert.Retryable(err)
	require.True(t, retry, "503 is retryable: %v", err)
	calls := f.takeCalls()
	require.Len(t, calls, 1, "no update before the resolve is in the thread: %+v", calls)
	assert.Equal(t, "chat.postMessage", calls[0].Method)
}

// webhookReceiver is an incoming webhook that records what it is sent.
type webhookReceiver struct {
	mu     sync.Mutex
	bodies [][]byte
	paths  []string
	ctypes []string
	answer http.HandlerFunc // nil: 200 "ok", like Slack
}

func (wr *webhookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	wr.mu.Lock()
	wr.bodies = append(wr.bodies, b)
	wr.paths = append(wr.paths, r.URL.Path)
	wr.ctypes = append(wr.ctypes, r.Header.Get("Content-Type"))
	answer := wr.answer
	wr.mu.Unlock()
	if answer != nil {
		answer(w, r)
		return
	}
	_, _ = io.WriteString(w, "ok")
}

func (wr *webhookReceiver) take() [][]byte {
	wr.mu.Lock()
	defer wr.mu.Unlock()
	b := wr.bodies
	wr.bodies = nil
	return b
}

func newWebhook(t *testing.T, wr *webhookReceiver, logger *slog.Logger) *Notifier {
	t.Helper()
	srv := httptest.NewServer(wr)
	t.Cleanup(srv.Close)
	n, err := New(Options{WebhookURL: srv.URL + testWebhookPath, Channel: "#staging-alerts",
		HTTPClient: testClient(t), Logger: logger})
	require.NoError(t, err)
	return n
}

func TestWebhookPostsEachKindOnce(t *testing.T) {
	logger, logs := newLogger()
	wr := &webhookReceiver{}
	n := newWebhook(t, wr, logger)
	for _, kind := range []alert.Kind{alert.Firing, alert.Reminder, alert.Resolved} {
		t.Run(string(kind), func(t *testing.T) {
			nt := fixture(kind)
			// A thread from bot-mode days changes nothing: webhooks cannot thread.
			nt.Thread = &alert.Thread{Channel: "C01STAGING", TS: "1700000000.000001"}
			th, err := n.Notify(context.Background(), nt)
			require.NoError(t, err)
			assert.Nil(t, th, "webhooks have no thread")
			bodies := wr.take()
			require.Len(t, bodies, 1, "one message per notification")
			var got struct {
				Channel  string          `json:"channel"`
				Text     string          `json:"text"`
				ThreadTS string          `json:"thread_ts"`
				Blocks   json.RawMessage `json:"blocks"`
			}
			require.NoError(t, json.Unmarshal(bodies[0], &got), "body %s", bodies[0])
			assert.Equal(t, "#staging-alerts", got.Channel)
			assert.Empty(t, got.ThreadTS)
			assert.JSONEq(t, goldenBlocks(t, string(kind)), string(got.Blocks))
			wantText, _ := Message(nt)
			assert.Equal(t, wantText, got.Text)
		})
	}
	wr.mu.Lock()
	defer wr.mu.Unlock()
	for i := range wr.paths {
		assert.Equal(t, testWebhookPath, wr.paths[i])
		assert.Equal(t, "application/json", wr.ctypes[i])
	}
	assertNoSecret(t, "logs", logs.String())
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
	apiError := func(code string) http.HandlerFunc {
		return status(http.StatusOK, `{"ok":false,"error":"`+code+`"}`, "Content-Type", "application/json")
	}
	type want struct {
		retryable bool
		after     time.Duration
		contains  string
	}
	for _, tc := range []struct {
		name    string
		modes   []string // "webhook", "bot"
		answer  http.HandlerFunc
		closed  bool // no server at all
		cancel  bool // the caller's context is done
		want    want
		wantIs  error
		nowhere bool
	}{
		{name: "429 Retry-After 1", modes: []string{"webhook", "bot"},
			answer: status(http.StatusTooManyRequests, "rate_limited", "Retry-After", "1"),
			want:   want{retryable: true, after: time.Second, contains: "429"}},
		{name: "429 Retry-After huge is capped", modes: []string{"webhook", "bot"},
			answer: status(http.StatusTooManyRequests, "", "Retry-After", "86400"),
			want:   want{retryable: true, after: time.Hour, contains: "429"}},
		{name: "429 without Retry-After", modes: []string{"webhook", "bot"},
			answer: status(http.StatusTooManyRequests, "rate_limited"),
			want:   want{retryable: true, contains: "429"}},
		{name: "429 Retry-After as a date", modes: []string{"webhook", "bot"},
			answer: status(http.StatusTooManyRequests, "", "Retry-After", "Wed, 21 Oct 2015 07:28:00 GMT"),
			want:   want{retryable: true, contains: "429"}},
		{name: "500", modes: []string{"webhook", "bot"},
			answer: status(http.StatusInternalServerError, "<html>oops</html>"),
			want:   want{retryable: true, contains: "500"}},
		{name: "503", modes: []string{"webhook", "bot"},
			answer: status(http.StatusServiceUnavailable, "busy"),
			want:   want{retryable: true, contains: "503"}},
		{name: "404 channel_not_found", modes: []string{"webhook"},
			answer: status(http.StatusNotFound, "channel_not_found"),
			want:   want{contains: "HTTP 404: channel_not_found"}},
		{name: "404", modes: []string{"bot"},
			answer: status(http.StatusNotFound, "channel_not_found"),
			want:   want{contains: "404"}},
		{name: "403 invalid_token", modes: []string{"webhook"},
			answer: status(http.StatusForbidden, "invalid_token\nmore"),
			want:   want{contains: "HTTP 403: invalid_token"}},
		{name: "400 invalid_blocks", modes: []string{"webhook"},
			answer: status(http.StatusBadRequest, "invalid_blocks"),
			want:   want{contains: "invalid_blocks"}},
		{name: "channel_not_found", modes: []string{"bot"}, answer: apiError("channel_not_found"),
			want: want{contains: "chat.postMessage: channel_not_found"}},
		{name: "invalid_auth", modes: []string{"bot"}, answer: apiError("invalid_auth"),
			want: want{contains: "invalid_auth"}},
		{name: "not_in_channel", modes: []string{"bot"}, answer: apiError("not_in_channel"),
			want: want{contains: "not_in_channel"}},
		{name: "internal_error", modes: []string{"bot"}, answer: apiError("internal_error"),
			want: want{retryable: true, contains: "internal_error"}},
		{name: "not the Web API", modes: []string{"bot"}, answer: status(http.StatusOK, "<html>proxy</html>"),
			want: want{contains: "chat.postMessage"}},
		{name: "connection refused", modes: []string{"webhook", "bot"}, closed: true,
			want: want{retryable: true, contains: "connection refused"}},
		{name: "context canceled", modes: []string{"webhook", "bot"}, cancel: true,
			answer: status(http.StatusOK, "ok"),
			want:   want{retryable: true}, wantIs: context.Canceled},
	} {
		for _, mode := range tc.modes {
			t.Run(mode+"/"+tc.name, func(t *testing.T) {
				logger, logs := newLogger()
				base := closedURL(t)
				if !tc.closed {
					srv := httptest.NewServer(tc.answer)
					t.Cleanup(srv.Close)
					base = srv.URL
				}
				o := Options{Channel: "#staging-alerts", HTTPClient: testClient(t), Logger: logger}
				if mode == "webhook" {
					o.WebhookURL = base + testWebhookPath
				} else {
					o.Token, o.APIURL = testToken, base+"/api/"
				}
				n, err := New(o)
				require.NoError(t, err)
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				if tc.cancel {
					cancel()
				}

				th, err := n.Notify(ctx, fixture(alert.Firing))
				require.Error(t, err, "%s %s", mode, tc.name)
				assert.Nil(t, th)
				after, retryable := alert.Retryable(err)
				assert.Equal(t, tc.want.retryable, retryable, "Retryable(%v)", err)
				assert.Equal(t, tc.want.after, after, "Retry-After of %v", err)
				assert.Contains(t, err.Error(), tc.want.contains)
				if tc.wantIs != nil {
					assert.ErrorIs(t, err, tc.wantIs)
				}
				if mode == "webhook" {
					assert.Contains(t, err.Error(), "<redacted>", "the webhook is named, redacted: %v", err)
				}
				assertNoSecret(t, "error", err.Error())
				assertNoSecret(t, "error %+v", fmt.Sprintf("%+v", err))
				assertNoSecret(t, "logs", logs.String())
			})
		}
	}
}

func TestNew(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    Options
		want string
	}{
		{"nothing", Options{}, "set webhook_url or token"},
		{"both", Options{WebhookURL: "https://hooks.slack.com" + testWebhookPath, Token: testToken}, "not both"},
		{"webhook without scheme", Options{WebhookURL: "hooks.slack.com" + testWebhookPath}, "webhook_url is not an absolute http(s) URL"},
		{"webhook unparsable", Options{WebhookURL: "https://hooks.slack.com/%zz" + testWebhookPath}, "webhook_url is not"},
		{"webhook ftp", Options{WebhookURL: "ftp://hooks.slack.com" + testWebhookPath}, "webhook_url is not"},
		{"bot without channel", Options{Token: testToken}, "needs a default channel"},
		{"token with a newline", Options{Token: testToken + "\n", Channel: "#a"}, "white space"},
		{"bad api url", Options{Token: testToken, Channel: "#a", APIURL: "slack.com/api"}, "api_url"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := New(tc.o)
			require.Error(t, err, "New(%s)", tc.name)
			assert.Nil(t, n)
			assert.Contains(t, err.Error(), tc.want)
			assertNoSecret(t, "New error", err.Error())
		})
	}
	for _, o := range []Options{
		{WebhookURL: "https://hooks.slack.com" + testWebhookPath},
		{Token: testToken, Channel: "#staging-alerts"},
	} {
		n, err := New(o)
		require.NoError(t, err)
		assert.Equal(t, "slack", n.Name())
	}
}

func TestNotifyRejectsBadNotifications(t *testing.T) {
	wr := &webhookReceiver{}
	n := newWebhook(t, wr, nil)
	_, err := n.Notify(context.Background(), nil)
	require.Error(t, err)
	nt := fixture(alert.Firing)
	nt.Kind = "exploded"
	_, err = n.Notify(context.Background(), nt)
	require.ErrorContains(t, err, `unknown kind "exploded"`)
	_, retry := alert.Retryable(err)
	assert.False(t, retry)
	assert.Empty(t, wr.take(), "nothing sent")
}

// The last guard: even an error that somehow carries a secret leaves the
// notifier redacted, keeping its retry classification.
func TestSafeRedactsWhateverSlipsThrough(t *testing.T) {
	n, err := New(Options{WebhookURL: "https://hooks.slack.com" + testWebhookPath})
	require.NoError(t, err)
	leaky := &alert.RetryableError{After: 3 * time.Second,
		Err: fmt.Errorf("Post %q: boom", "https://hooks.slack.com"+testWebhookPath)}
	got := n.safe(leaky)
	assertNoSecret(t, "safe()", got.Error())
	after, retry := alert.Retryable(got)
	assert.True(t, retry)
	assert.Equal(t, 3*time.Second, after)
	assert.True(t, strings.Contains(got.Error(), "<redacted>"), "got %v", got)
}
