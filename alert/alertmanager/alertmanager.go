// Package alertmanager delivers alert notifications to a Prometheus
// Alertmanager through its v2 API, for teams whose paging already routes
// there. Alertmanager expires an alert at its endsAt, so a firing alert is
// re-posted (Refresh) at every evaluation and the resolve is an endsAt of now.
// One delivery attempt per call; retrying is the alert manager's job.
package alertmanager

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/canaryproj/canary/alert"
	"github.com/canaryproj/canary/alert/notifyhttp"
	"github.com/canaryproj/canary/redact"
)

const (
	// AlertName is the alertname label of the burn-rate alerts canary
	// sends; ThresholdAlertName that of an objective without an error
	// budget (tls_expiry), which fires while it fails.
	AlertName          = "CanarySLOBurnRate"
	ThresholdAlertName = "CanarySLOFailing"

	// DefaultResolveTimeout is how long a firing alert stays active in
	// Alertmanager without a refresh. It must outlast a few evaluation
	// intervals, so that a slow or failed refresh does not resolve it.
	DefaultResolveTimeout = 5 * time.Minute
	// DefaultTimeout bounds one delivery attempt when Options.HTTPClient is nil.
	DefaultTimeout = 10 * time.Second

	maxValue = 1024 // bound of one label or annotation value, in bytes
)

// Options configure a Notifier.
type Options struct {
	// URL is Alertmanager's base URL ("http://alertmanager:9093", with the
	// route prefix if it has one). User-info, if any, is sent as basic auth.
	URL        string
	HTTPClient *http.Client // default: a client with DefaultTimeout
	Logger     *slog.Logger
	// ResolveTimeout is how far ahead a firing alert's endsAt is set:
	// default DefaultResolveTimeout.
	ResolveTimeout time.Duration
	Now            func() time.Time // default time.Now
	// GeneratorURL is the alerts' link back when a notification has no
	// StatusURL (e.g. the daemon's status page).
	GeneratorURL string
}

// Notifier posts alerts to Alertmanager. It is safe for concurrent use.
type Notifier struct {
	endpoint       string // .../api/v2/alerts
	safeEndpoint   string // the same, user-info redacted, for errors and logs
	client         *http.Client
	logger         *slog.Logger
	resolveTimeout time.Duration
	now            func() time.Time
	generatorURL   string
}

var (
	_ alert.Notifier  = (*Notifier)(nil)
	_ alert.Refresher = (*Notifier)(nil)
)

// New checks o and returns a Notifier.
func New(o Options) (*Notifier, error) {
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("alertmanager: url %q is not an absolute http(s) URL", redact.UserInfo(o.URL))
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("alertmanager: url %s: a query or fragment has no place in a base URL", u.Redacted())
	}
	if o.ResolveTimeout < 0 {
		return nil, fmt.Errorf("alertmanager: resolve timeout %v is negative", o.ResolveTimeout)
	}
	ep := u.JoinPath("api", "v2", "alerts")
	n := &Notifier{
		endpoint:       ep.String(),
		safeEndpoint:   ep.Redacted(),
		client:         o.HTTPClient,
		logger:         o.Logger,
		resolveTimeout: o.ResolveTimeout,
		now:            o.Now,
		generatorURL:   o.GeneratorURL,
	}
	if n.client == nil {
		n.client = &http.Client{Timeout: DefaultTimeout}
	}
	if n.logger == nil {
		n.logger = slog.New(slog.DiscardHandler)
	}
	n.logger = n.logger.With("notifier", "alertmanager")
	if n.resolveTimeout == 0 {
		n.resolveTimeout = DefaultResolveTimeout
	}
	if n.now == nil {
		n.now = time.Now
	}
	return n, nil
}

// Name identifies the notifier in logs and metrics.
func (n *Notifier) Name() string { return "alertmanager" }

// Notify posts nt: a firing or reminder notification as an alert active
// until now+ResolveTimeout, a resolve as an alert that ended now.
// Alertmanager has no threads: the Thread returned is always nil.
func (n *Notifier) Notify(ctx context.Context, nt *alert.Notification) (*alert.Thread, error) {
	return nil, n.post(ctx, nt)
}

// Refresh re-posts a firing alert with its endsAt moved to
// now+ResolveTimeout, so Alertmanager keeps it active. Refreshing a resolve
// posts the resolve again, which is harmless: it cannot revive the alert.
func (n *Notifier) Refresh(ctx context.Context, nt *alert.Notification) error {
	return n.post(ctx, nt)
}

func (n *Notifier) post(ctx context.Context, nt *alert.Notification) error {
	if nt == nil {
		return errors.New("alertmanager: nil notification")
	}
	a, err := n.Alert(nt)
	if err != nil {
		return err
	}
	body, err := json.Marshal([]PostableAlert{a})
	if err != nil {
		return fmt.Errorf("alertmanager: encoding alert %s: %w", nt.ID, err)
	}
	if err := notifyhttp.PostJSON(ctx, n.client, n.endpoint, "alertmanager POST "+n.safeEndpoint, body); err != nil {
		return err
	}
	n.logger.Debug("alert posted", "check", nt.Check, "slo", nt.SLO, "kind", string(nt.Kind),
		"notification", nt.ID, "ends_at", a.EndsAt)
	return nil
}

// PostableAlert is one alert of Alertmanager's v2 API (POST /api/v2/alerts).
type PostableAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	StartsAt     string            `json:"startsAt,omitempty"`
	EndsAt       string            `json:"endsAt,omitempty"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// Alert is the alert posted for nt at the notifier's current time. The
// labels identify the alert to Alertmanager (its fingerprint): they depend
// only on the check, the SLO, the severity and the check's labels, so the
// firing post, its refreshes and the resolve all address the same alert.
func (n *Notifier) Alert(nt *alert.Notification) (PostableAlert, error) {
	switch nt.Kind {
	case alert.Firing, alert.Reminder, alert.Resolved:
	default:
		return PostableAlert{}, fmt.Errorf("alertmanager: notification %s: unknown kind %q", nt.ID, nt.Kind)
	}
	if nt.Check == "" || nt.SLO == "" {
		return PostableAlert{}, fmt.Errorf("alertmanager: notification %s: check and SLO are required", nt.ID)
	}
	now := n.now().UTC()
	ends := now.Add(n.resolveTimeout)
	if nt.Kind == alert.Resolved {
		ends = now
	}
	a := PostableAlert{
		Labels:       labels(nt),
		Annotations:  annotations(nt),
		EndsAt:       ends.Format(time.RFC3339Nano),
		GeneratorURL: nt.StatusURL,
	}
	if a.GeneratorURL == "" {
		a.GeneratorURL = n.generatorURL
	}
	if !nt.Since.IsZero() {
		// Alertmanager refuses an alert that ends before it starts; with a
		// clock behind the manager's, say it started when it ends.
		start := nt.Since.UTC()
		if start.After(ends) {
			start = ends
		}
		a.StartsAt = start.Format(time.RFC3339Nano)
	}
	return a, nil
}

// labels are the alert's identity: alertname, check, slo, severity, and the
// check's own labels under valid Prometheus label names. The four fixed
// labels win over a check label of the same name.
func labels(nt *alert.Notification) map[string]string {
	name := AlertName
	if nt.Threshold {
		name = ThresholdAlertName
	}
	ls := map[string]string{
		"alertname": name,
		"check":     value(nt.Check),
		"slo":       value(nt.SLO),
	}
	if nt.Severity != "" {
		ls["severity"] = value(nt.Severity)
	}
	names := make([]string, 0, len(nt.Labels))
	for k := range nt.Labels {
		names = append(names, k)
	}
	// Sorted, so that when two names sanitise alike ("team-name" and
	// "team_name") the same one wins every time.
	sort.Strings(names)
	for _, k := range names {
		name, v := labelName(k), value(nt.Labels[k])
		if name == "" || v == "" {
			continue // Alertmanager treats an empty value as no label
		}
		if _, taken := ls[name]; !taken {
			ls[name] = v
		}
	}
	return ls
}

// labelName makes s a valid Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*,
// not starting with the reserved "__"): other characters become '_', a
// leading digit gets a '_' before it. "" stays "" (no label).
func labelName(s string) string {
	if s == "" {
		return ""
	}
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z'):
			b.WriteRune(r)
		case r >= '0' && r <= '9':
			if i == 0 {
				b.WriteByte('_')
			}
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	name := b.String()
	if strings.HasPrefix(name, "__") {
		name = "label" + name
	}
	return name
}

// annotations describe the alert for people: summary, description and the
// runbook.
func annotations(nt *alert.Notification) map[string]string {
	check, slo := value(nt.Check), value(nt.SLO)
	var summary string
	switch {
	case nt.Threshold && nt.Kind == alert.Resolved:
		summary = fmt.Sprintf("%s: SLO %s is met again", check, slo)
	case nt.Threshold:
		summary = fmt.Sprintf("%s: SLO %s fails", check, slo)
	case nt.Kind == alert.Resolved:
		summary = fmt.Sprintf("%s: SLO %s is back within its error budget", check, slo)
	default:
		summary = fmt.Sprintf("%s: SLO %s is burning its error budget %s too fast", check, slo, burnRate(nt.BurnRate))
		if nt.Window != "" {
			summary += " over " + nt.Window
		}
	}

	var d []string
	if nt.Objective != "" {
		d = append(d, "Objective: "+nt.Objective+".")
	}
	if nt.Observed != "" {
		d = append(d, "Observed: "+nt.Observed+".")
	}
	if !nt.Threshold {
		burn := "Burn rate: " + burnRate(nt.BurnRate)
		if nt.Window != "" {
			burn += " over " + nt.Window
		}
		d = append(d, burn+".")
	}
	switch {
	case nt.Since.IsZero():
	case nt.Kind == alert.Resolved && !nt.At.Before(nt.Since):
		d = append(d, "Fired from "+nt.Since.UTC().Format(time.RFC3339)+" to "+nt.At.UTC().Format(time.RFC3339)+".")
	default:
		d = append(d, "Firing since "+nt.Since.UTC().Format(time.RFC3339)+".")
	}
	if s := counts(nt.TopErrors); s != "" {
		d = append(d, "Top error classes: "+s+".")
	}
	if s := counts(nt.TopStatus); s != "" {
		d = append(d, "Status codes: "+s+".")
	}
	as := map[string]string{
		"summary":     value(summary),
		"description": value(strings.Join(d, " ")),
	}
	if nt.RunbookURL != "" {
		as["runbook_url"] = value(nt.RunbookURL)
	}
	return as
}

func counts(cs []alert.Count) string {
	if len(cs) > 5 {
		cs = cs[:5]
	}
	parts := make([]string, 0, len(cs))
	for _, c := range cs {
		parts = append(parts, c.Name+" "+strconv.FormatInt(c.Count, 10))
	}
	return strings.Join(parts, ", ")
}

// burnRate prints a burn rate as a multiple ("14.4×") with up to two
// decimals.
func burnRate(f float64) string {
	switch {
	case math.IsNaN(f):
		return "n/a"
	case math.IsInf(f, 0):
		return strconv.FormatFloat(f, 'f', -1, 64) + "×" // "+Inf×"
	}
	return strconv.FormatFloat(math.Round(f*100)/100, 'f', -1, 64) + "×"
}

// value makes s valid UTF-8 (Alertmanager rejects anything else) and bounds
// it, without cutting a character in two.
func value(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= maxValue {
		return s
	}
	cut := maxValue - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
