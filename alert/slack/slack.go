// Package slack delivers alert notifications to Slack, through an incoming
// webhook (one message per notification) or a bot token (the firing message
// starts a thread that reminders and the resolve answer, and the resolve
// updates the first message). It makes one delivery attempt per call and
// classifies failures; retrying is the alert manager's job.
package slack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	goslack "github.com/slack-go/slack"

	"github.com/canaryproj/canary/alert"
	"github.com/canaryproj/canary/alert/notifyhttp"
	"github.com/canaryproj/canary/redact"
)

// DefaultTimeout bounds one delivery attempt when Options.HTTPClient is nil.
const DefaultTimeout = 10 * time.Second

// retryableAPIErrors are the Web API's "ok": false errors worth trying
// again: Slack's own trouble, not the request's
// (https://api.slack.com/methods/chat.postMessage#errors).
var retryableAPIErrors = map[string]bool{
	"internal_error":      true,
	"fatal_error":         true,
	"service_unavailable": true,
	"request_timeout":     true,
	"ratelimited":         true,
	"rate_limited":        true,
}

// Options configure a Notifier. Exactly one of WebhookURL and Token is set.
type Options struct {
	WebhookURL string // incoming-webhook mode, or:
	Token      string // bot-token mode (chat.postMessage, chat.update)
	// Channel is the default channel ("#staging-alerts"); a notification's
	// Channel overrides it. Required in bot mode; in webhook mode it is sent
	// along, and only legacy webhooks honour it (app webhooks post to the
	// channel they were created for).
	Channel string
	// APIURL is the Web API's base URL (bot mode); default Slack's.
	APIURL string
	// HTTPClient makes the requests; default a client with DefaultTimeout.
	HTTPClient *http.Client
	Logger     *slog.Logger
}

// Notifier delivers notifications to Slack. It is safe for concurrent use.
type Notifier struct {
	webhookURL  string // webhook mode; its path is a credential
	webhookSafe string // what may be printed of it
	api         *goslack.Client
	channel     string
	client      *http.Client
	logger      *slog.Logger
	secrets     *redact.Set // the webhook URL, its path and the token
}

var _ alert.Notifier = (*Notifier)(nil)

// New checks o and returns a Notifier. Its errors never contain the
// webhook URL or the token.
func New(o Options) (*Notifier, error) {
	switch {
	case o.WebhookURL == "" && o.Token == "":
		return nil, errors.New("slack: set webhook_url or token")
	case o.WebhookURL != "" && o.Token != "":
		return nil, errors.New("slack: set either webhook_url or token, not both")
	}
	n := &Notifier{
		channel: o.Channel,
		client:  o.HTTPClient,
		logger:  o.Logger,
		secrets: &redact.Set{},
	}
	if n.client == nil {
		n.client = &http.Client{Timeout: DefaultTimeout}
	}
	if n.logger == nil {
		n.logger = slog.New(slog.DiscardHandler)
	}
	n.logger = n.logger.With("notifier", "slack")

	if o.WebhookURL != "" {
		u, err := url.Parse(o.WebhookURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			// Not even the host: a malformed URL may have the secret anywhere.
			return nil, errors.New("slack: webhook_url is not an absolute http(s) URL")
		}
		n.webhookURL = o.WebhookURL
		n.webhookSafe = redact.WebhookURL(o.WebhookURL)
		n.secrets.Add(o.WebhookURL)
		n.secrets.Add(u.EscapedPath())
		n.secrets.Add(u.Path)
		n.secrets.Add(u.RawQuery)
		return n, nil
	}

	if strings.ContainsAny(o.Token, " \t\r\n") {
		return nil, errors.New("slack: token contains white space")
	}
	if o.Channel == "" {
		return nil, errors.New("slack: a bot token needs a default channel")
	}
	apiURL := o.APIURL
	if apiURL == "" {
		apiURL = goslack.APIURL
	}
	u, err := url.Parse(apiURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("slack: api_url %q is not an absolute http(s) URL", redact.UserInfo(apiURL))
	}
	if !strings.HasSuffix(apiURL, "/") {
		apiURL += "/" // slack-go appends method names to it
	}
	n.secrets.Add(o.Token)
	n.api = goslack.New(o.Token,
		goslack.OptionAPIURL(apiURL),
		// No OptionRetry: slack-go then retries nothing, as it must not
		// (the manager owns retries; a hidden attempt would break its pacing).
		goslack.OptionHTTPClient(n.client),
	)
	return n, nil
}

// Name identifies the notifier in logs and metrics.
func (n *Notifier) Name() string { return "slack" }

// Notify makes one attempt to deliver nt. In bot mode a Firing notification
// returns the thread of the message it posted; reminders and the resolve
// return the thread they answered. A failure worth retrying is an
// *alert.RetryableError.
func (n *Notifier) Notify(ctx context.Context, nt *alert.Notification) (*alert.Thread, error) {
	if nt == nil {
		return nil, errors.New("slack: nil notification")
	}
	switch nt.Kind {
	case alert.Firing, alert.Reminder, alert.Resolved:
	default:
		return nil, fmt.Errorf("slack: notification %s: unknown kind %q", nt.ID, nt.Kind)
	}
	if n.api == nil {
		return nil, n.safe(n.postWebhook(ctx, nt))
	}
	th, err := n.postBot(ctx, nt)
	return th, n.safe(err)
}

// channelFor is where a new message for nt goes.
func (n *Notifier) channelFor(nt *alert.Notification) string {
	if nt.Channel != "" {
		return nt.Channel
	}
	return n.channel
}

// postBot delivers nt with the Web API.
func (n *Notifier) postBot(ctx context.Context, nt *alert.Notification) (*alert.Thread, error) {
	text, blocks := Message(nt)
	msg := []goslack.MsgOption{
		goslack.MsgOptionText(text, false), // Message escaped it already
		goslack.MsgOptionBlocks(blocks...),
		goslack.MsgOptionDisableLinkUnfurl(),
	}
	log := n.logger.With("check", nt.Check, "slo", nt.SLO, "kind", string(nt.Kind), "notification", nt.ID)

	// A Firing notification starts a thread. So do a reminder or a resolve
	// without one (their alert fired in webhook mode, or its first post's
	// answer was lost): a new message is better than none, and the thread
	// returned makes the next ones answer it.
	if nt.Kind == alert.Firing || nt.Thread == nil || nt.Thread.TS == "" || nt.Thread.Channel == "" {
		ch, ts, err := n.api.PostMessageContext(ctx, n.channelFor(nt), msg...)
		if err != nil {
			return nil, classify("chat.postMessage", err)
		}
		log.Debug("slack message posted", "channel", ch, "ts", ts)
		if ts == "" {
			return nil, nil
		}
		return &alert.Thread{Channel: ch, TS: ts}, nil
	}

	th := nt.Thread
	reply := []goslack.MsgOption{goslack.MsgOptionCompose(msg...), goslack.MsgOptionTS(th.TS)}
	_, ts, err := n.api.PostMessageContext(ctx, th.Channel, reply...)
	if err != nil {
		return nil, classify("chat.postMessage", err)
	}
	log.Debug("slack thread reply posted", "channel", th.Channel, "thread_ts", th.TS, "ts", ts)
	if nt.Kind != alert.Resolved {
		return th, nil
	}

	// The resolve is delivered: it is in the thread. Updating the first
	// message to its resolved form is cosmetic, so its failure is logged and
	// the resolve still reported delivered: returning an error here would
	// make the manager retry the whole resolve and post a second "resolved"
	// reply, which is worse than a stale header on the first message.
	update := []goslack.MsgOption{
		goslack.MsgOptionText(text, false),
		goslack.MsgOptionBlocks(blocks...),
	}
	if _, _, _, err := n.api.UpdateMessageContext(ctx, th.Channel, th.TS, update...); err != nil {
		log.Warn("slack resolve posted, but updating the first message failed",
			"channel", th.Channel, "ts", th.TS, "err", n.safe(classify("chat.update", err)).Error())
	}
	return th, nil
}

// postWebhook delivers nt to the incoming webhook. It does not use
// slack-go's PostWebhook: that one discards the response body, which is
// Slack's only explanation of a failure ("no_service", "channel_not_found",
// "invalid_blocks"), and turns a 429 whose Retry-After is not a number into
// a strconv error that no longer says 429.
func (n *Notifier) postWebhook(ctx context.Context, nt *alert.Notification) error {
	text, blocks := Message(nt)
	body, err := json.Marshal(&goslack.WebhookMessage{
		Channel: n.channelFor(nt),
		Text:    text,
		Blocks:  &goslack.Blocks{BlockSet: blocks},
	})
	if err != nil {
		return fmt.Errorf("slack webhook: encoding the message: %w", err)
	}
	if err := notifyhttp.PostJSON(ctx, n.client, n.webhookURL, "slack webhook "+n.webhookSafe, body); err != nil {
		return err
	}
	n.logger.Debug("slack webhook message posted", "check", nt.Check, "slo", nt.SLO,
		"kind", string(nt.Kind), "notification", nt.ID)
	return nil
}

// classify turns a slack-go error into a permanent error or an
// *alert.RetryableError, naming the Web API method.
func classify(method string, err error) error {
	where := "slack " + method
	var (
		rateLimited *goslack.RateLimitedError
		status      goslack.StatusCodeError
		apiErr      goslack.SlackErrorResponse
		urlErr      *url.Error
		numErr      *strconv.NumError
	)
	switch {
	case errors.As(err, &rateLimited):
		return &alert.RetryableError{After: notifyhttp.CapRetryAfter(rateLimited.RetryAfter),
			Err: fmt.Errorf("%s: rate limited (HTTP 429)", where)}
	case errors.As(err, &status):
		e := fmt.Errorf("%s: HTTP %s", where, status.Status)
		if status.Retryable() {
			return &alert.RetryableError{Err: e}
		}
		return e
	case errors.As(err, &apiErr):
		e := fmt.Errorf("%s: %s", where, apiErr.Err)
		if retryableAPIErrors[apiErr.Err] {
			return &alert.RetryableError{Err: e}
		}
		return e
	case errors.As(err, &numErr):
		// slack-go's only number parsing on this path: a 429 whose
		// Retry-After is not a number of seconds.
		return &alert.RetryableError{Err: fmt.Errorf("%s: rate limited (HTTP 429, unreadable Retry-After)", where)}
	case errors.As(err, &urlErr):
		return &alert.RetryableError{Err: fmt.Errorf("%s: %w", where, urlErr.Err)}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		// Cut off mid-way: the message may not have arrived.
		return &alert.RetryableError{Err: fmt.Errorf("%s: %w", where, err)}
	default:
		// An answer that is not the Web API's (a proxy's HTML page with a
		// 200): trying again would get the same.
		return fmt.Errorf("%s: %w", where, err)
	}
}

// safe is the last guard on what leaves the notifier: an error whose text
// holds a secret is replaced by its redacted text. Errors are built so that
// this never triggers; if it does, the error chain is the price.
func (n *Notifier) safe(err error) error {
	if err == nil {
		return nil
	}
	s := err.Error()
	if r := n.secrets.String(s); r != s {
		if after, ok := alert.Retryable(err); ok {
			return &alert.RetryableError{After: after, Err: errors.New(r)}
		}
		return errors.New(r)
	}
	return err
}
