// Package alert decides when an SLO pages someone: a multi-window,
// multi-burn-rate state machine per (check, SLO) that fires once, reminds
// after repeat_interval and resolves only once every rule has stayed quiet
// for resolve_for (hysteresis, so that a steady burn never flaps), with its
// state and undelivered notifications kept durably. Notifiers (alert/slack,
// alert/alertmanager) only deliver what it decides.
package alert

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/canaryproj/canary/stats"
)

// Kind is what a notification announces.
type Kind string

// The notification kinds.
const (
	Firing   Kind = "firing"   // the alert started
	Reminder Kind = "reminder" // still firing after repeat_interval
	Resolved Kind = "resolved" // quiet for resolve_for and resolve_after evaluations
)

// BurnWindow is one rule of a multi-window multi-burn-rate policy: the SLO's
// burn rate must exceed Factor over both the Long and the Short window.
type BurnWindow struct {
	Long, Short time.Duration
	Factor      float64
	Severity    string // "page", "ticket"
}

// Policy is the alerting policy shared by the daemon's own evaluation and
// the Prometheus rules generated for it (`canary rules`), so both agree.
type Policy struct {
	Windows        []BurnWindow
	Period         time.Duration // the error-budget period the factors refer to (slo_period)
	RepeatInterval time.Duration
	// A firing alert resolves once every rule has been quiet (see
	// docs/alerting.md) for ResolveFor and for at least ResolveAfter
	// evaluations in a row. ResolveFor 0 is the shortest short window.
	ResolveFor    time.Duration
	ResolveAfter  int
	EvaluateEvery time.Duration
}

// DefaultPolicy is the SRE workbook's: 2% of a 30-day budget in an hour and
// 5% in six hours page.
func DefaultPolicy() Policy {
	return Policy{
		Windows: []BurnWindow{
			{Long: time.Hour, Short: 5 * time.Minute, Factor: 14.4, Severity: "page"},
			{Long: 6 * time.Hour, Short: 30 * time.Minute, Factor: 6, Severity: "page"},
		},
		Period:         30 * 24 * time.Hour,
		RepeatInterval: 4 * time.Hour,
		ResolveAfter:   3,
		EvaluateEvery:  15 * time.Second,
	}
}

// Count is a labelled count, for "top error classes" and "status codes".
type Count struct {
	Name  string `json:"name"`
	Count int64  `json:"count"`
}

// Notification is one message to deliver. Everything in it is already
// redacted and bounded: notifiers print it as it is.
type Notification struct {
	// ID is unique per notification and stable across retries and restarts;
	// AlertID is shared by every notification of one alert (firing,
	// reminders, resolve), so a notifier can thread them.
	ID      string    `json:"id"`
	AlertID string    `json:"alert_id"`
	Kind    Kind      `json:"kind"`
	At      time.Time `json:"at"`

	Check    string            `json:"check"`
	SLO      string            `json:"slo"`
	Severity string            `json:"severity"`
	Labels   map[string]string `json:"labels,omitempty"`
	Channel  string            `json:"channel,omitempty"` // per-check override; "" = the notifier's default

	Objective string `json:"objective"` // "success>=99.5%", "p99(login)<800ms"
	// Observed is what the SLO measured over the windows of the rule that
	// fired, against the objective: "success 97.92% and 98.1% < 99.9% over
	// 1h and 5m" (the same windows on the resolve).
	Observed string    `json:"observed"`
	BurnRate float64   `json:"burn_rate"` // over the long window of the rule that fired
	Window   string    `json:"window"`    // "1h/5m"
	Since    time.Time `json:"since"`     // when the alert started firing
	// Threshold is set for an objective without an error budget
	// (tls_expiry): the alert fires while the objective fails, and has no
	// burn rate or window.
	Threshold bool `json:"threshold,omitempty"`

	TopErrors []Count `json:"top_errors,omitempty"` // error classes, most frequent first (≤ 5)
	TopStatus []Count `json:"top_status,omitempty"` // status codes, most frequent first (≤ 5)
	// Failure is the check's top reason lately, with one sample.
	Failure *Failure `json:"failure,omitempty"`

	StatusURL  string `json:"status_url,omitempty"`  // the check on the status page (server.external_url)
	RunbookURL string `json:"runbook_url,omitempty"` //

	// Thread is what the notifier answered for this alert's first message
	// (e.g. Slack's channel and ts in bot mode), so that reminders and the
	// resolve go to the same thread and the first message can be updated.
	Thread *Thread `json:"thread,omitempty"`
}

// Failure is why a check fails, for a notification: its most frequent kind
// of failure lately and one sample of it (bounded and redacted by the
// stats store and the daemon).
type Failure struct {
	Reason string               `json:"reason"`
	Count  int64                `json:"count"`
	Sample *stats.FailureSample `json:"sample,omitempty"`
}

// Thread locates an alert's first message.
type Thread struct {
	Channel string `json:"channel"`
	TS      string `json:"ts"`
}

// Notifier delivers notifications. Notify is called again with the same
// notification after a retryable error; it must not retry by itself.
type Notifier interface {
	// Name identifies the notifier in logs and metrics ("slack", "alertmanager").
	Name() string
	// Notify delivers n. It returns the thread of the delivered message when
	// it has one (for a Firing notification), or an error, wrapped in
	// *RetryableError when trying again later may succeed.
	Notify(ctx context.Context, n *Notification) (*Thread, error)
}

// RetryableError is a delivery failure worth retrying (429, 5xx, network).
// After, when set, is the wait the receiver asked for (Retry-After).
type RetryableError struct {
	After time.Duration
	Err   error
}

func (e *RetryableError) Error() string {
	if e.After > 0 {
		return fmt.Sprintf("%v (retry after %v)", e.Err, e.After)
	}
	return e.Err.Error()
}

func (e *RetryableError) Unwrap() error { return e.Err }

// Retryable reports whether err is worth retrying, and the wait asked for.
func Retryable(err error) (time.Duration, bool) {
	var re *RetryableError
	if errors.As(err, &re) {
		return re.After, true
	}
	return 0, false
}

// Refresher is implemented by notifiers whose receiver expires alerts that
// are not re-sent (Alertmanager's endsAt): the manager calls Refresh for
// every firing alert at each evaluation, while Notify still sees each
// firing, reminder and resolve once.
type Refresher interface {
	Refresh(ctx context.Context, n *Notification) error
}
