// Package gate answers "is this version good?" for CI jobs and deployment
// controllers: from a canary daemon's verdict API (optionally waiting for
// enough data, or triggering an on-demand run), or from Prometheus, judging
// the same SLOs with PromQL over every instance of a distributed run.
package gate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/canaryproj/canary/alert/notifyhttp"
	"github.com/canaryproj/canary/internal/clock"
	"github.com/canaryproj/canary/slo"
)

// Verdict is the outcome of a gate.
type Verdict = slo.Verdict

// Result is a gate's answer with its evidence (the server's JSON body, or
// the PromQL judgement).
type Result struct {
	Verdict Verdict
	Reasons []string
	Body    json.RawMessage // what the daemon answered (verdict or run)
}

// ServerOptions ask a canary daemon.
type ServerOptions struct {
	URL        string // the daemon's base URL
	Check      string
	Token      string        // for --run (POST /api/v1/runs)
	Window     time.Duration // 0: the check's own
	Since      time.Time
	MinSamples int // -1: the check's own
	// Wait keeps asking while the verdict is inconclusive (not enough data
	// yet), up to this long; 0 asks once.
	Wait time.Duration
	// Poll is the interval between asks (default 5 s; a Retry-After wins).
	Poll time.Duration
	// Run, when set, starts an on-demand run and waits for its verdict.
	Run *RunRequest
	// RunID, when set, waits for the verdict of a run that exists already:
	// a distributed run the segments' --push assembles, or one started
	// elsewhere. Check is not needed then.
	RunID      string
	HTTPClient *http.Client
	// Progress, if set, is told about each wait.
	Progress func(msg string)
	// Clock times the waits; nil is the wall clock.
	Clock clock.Clock
}

// RunRequest is an on-demand run: a profile path (on the daemon's side) or
// an inline JSON profile, a duration, and an idempotency key.
type RunRequest struct {
	Profile  string
	Duration string
	Key      string
}

// ErrUsage marks a bad request (the daemon's 400/404): exit 2.
var ErrUsage = errors.New("usage")

// AskServer asks a daemon for a verdict (or runs a test there) and waits as
// told.
func AskServer(ctx context.Context, o ServerOptions) (*Result, error) {
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if o.Poll <= 0 {
		o.Poll = 5 * time.Second
	}
	o.Clock = clock.OrReal(o.Clock)
	base := strings.TrimRight(o.URL, "/")
	deadline := o.Clock.Now().Add(o.Wait)
	if o.Run != nil {
		return runAndWait(ctx, base, o, deadline)
	}
	if o.RunID != "" {
		loc := "/api/v1/runs/" + url.PathEscape(o.RunID)
		return waitForRun(ctx, base+loc, loc, o, deadline)
	}
	q := url.Values{}
	if o.Window > 0 {
		q.Set("window", o.Window.String())
	}
	if !o.Since.IsZero() {
		q.Set("since", o.Since.UTC().Format(time.RFC3339))
	}
	if o.MinSamples >= 0 {
		q.Set("min_samples", strconv.Itoa(o.MinSamples))
	}
	u := base + "/api/v1/checks/" + url.PathEscape(o.Check) + "/verdict"
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	for {
		body, hdr, err := call(ctx, o.HTTPClient, "GET", u, "", nil)
		if err != nil {
			return nil, err
		}
		var v struct {
			Verdict Verdict  `json:"verdict"`
			Reasons []string `json:"reasons"`
		}
		if err := json.Unmarshal(body, &v); err != nil || v.Verdict == "" {
			return nil, fmt.Errorf("%s: not a verdict: %s", u, snippet(body))
		}
		res := &Result{Verdict: v.Verdict, Reasons: v.Reasons, Body: body}
		if v.Verdict != slo.Inconclusive || !o.Clock.Now().Before(deadline) {
			return res, nil
		}
		wait := pollWait(hdr, o.Poll)
		if o.Progress != nil {
			o.Progress(fmt.Sprintf("inconclusive (%s); asking again in %v", strings.Join(v.Reasons, "; "), wait))
		}
		if err := o.waitUntil(ctx, wait, deadline); err != nil {
			return res, err
		}
	}
}

func runAndWait(ctx context.Context, base string, o ServerOptions, deadline time.Time) (*Result, error) {
	req := map[string]any{"check": o.Check}
	if p := strings.TrimSpace(o.Run.Profile); p != "" {
		if strings.HasPrefix(p, "{") {
			req["profile"] = json.RawMessage(p)
		} else {
			req["profile"] = p
		}
	}
	if o.Run.Duration != "" {
		req["duration"] = o.Run.Duration
	}
	if o.Run.Key != "" {
		req["key"] = o.Run.Key
	}
	payload, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("%w: --run profile: %v", ErrUsage, err)
	}
	body, hdr, err := call(ctx, o.HTTPClient, "POST", base+"/api/v1/runs", o.Token, payload)
	if err != nil {
		return nil, err
	}
	loc := hdr.Get("Location")
	if loc == "" {
		return nil, fmt.Errorf("POST /api/v1/runs: no Location in the answer: %s", snippet(body))
	}
	// The daemon's Location is an absolute URL (Spinnaker needs one); an
	// older daemon's was a path under the server's URL.
	u := base + loc
	if ref, err := url.Parse(loc); err == nil && ref.IsAbs() {
		u = loc
	}
	return waitForRun(ctx, u, loc, o, deadline)
}

// waitForRun asks for the run at u until it has a verdict or the deadline
// passes; loc names it in messages.
func waitForRun(ctx context.Context, u, loc string, o ServerOptions, deadline time.Time) (*Result, error) {
	for {
		body, hdr, err := call(ctx, o.HTTPClient, "GET", u, "", nil)
		if err != nil {
			return nil, err
		}
		var run struct {
			Status  string   `json:"status"`
			Verdict Verdict  `json:"verdict"`
			Reasons []string `json:"reasons"`
			Error   string   `json:"error"`
		}
		if err := json.Unmarshal(body, &run); err != nil || run.Status == "" {
			return nil, fmt.Errorf("%s: not a run: %s", u, snippet(body))
		}
		switch run.Status {
		case "passed":
			return &Result{Verdict: slo.Pass, Reasons: run.Reasons, Body: body}, nil
		case "failed":
			return &Result{Verdict: slo.Fail, Reasons: run.Reasons, Body: body}, nil
		case "inconclusive":
			reasons := run.Reasons
			if run.Error != "" {
				reasons = append(reasons, run.Error)
			}
			return &Result{Verdict: slo.Inconclusive, Reasons: reasons, Body: body}, nil
		}
		if !o.Clock.Now().Before(deadline) {
			return &Result{Verdict: slo.Inconclusive, Reasons: []string{fmt.Sprintf("the run %s was still running when --wait ran out", loc)}, Body: body}, nil
		}
		wait := pollWait(hdr, o.Poll)
		if o.Progress != nil {
			o.Progress(fmt.Sprintf("run %s is %s; asking again in %v", loc, run.Status, wait))
		}
		if err := o.waitUntil(ctx, wait, deadline); err != nil {
			return nil, err
		}
	}
}

// call makes one request; a 4xx is ErrUsage (with the daemon's message),
// anything else unexpected an error.
func call(ctx context.Context, c *http.Client, method, u, token string, body []byte) ([]byte, http.Header, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrUsage, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: %w", method, redactURL(u), err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: %w", method, redactURL(u), err)
	}
	switch {
	case resp.StatusCode == 401 || resp.StatusCode == 403:
		return nil, nil, fmt.Errorf("%s %s: %s: %s (give --token or $CANARY_TOKEN)", method, redactURL(u), resp.Status, apiMessage(data))
	case resp.StatusCode == 400 || resp.StatusCode == 404:
		return nil, nil, fmt.Errorf("%w: %s %s: %s", ErrUsage, method, redactURL(u), apiMessage(data))
	case resp.StatusCode >= 300 && resp.StatusCode != 412 && resp.StatusCode != 503:
		return nil, nil, fmt.Errorf("%s %s: %s: %s", method, redactURL(u), resp.Status, apiMessage(data))
	}
	return data, resp.Header, nil
}

func apiMessage(b []byte) string {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(b, &e) == nil && e.Error != "" {
		return e.Error
	}
	return snippet(b)
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

func redactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "<url>"
	}
	p.User = nil
	return p.String()
}

// pollWait is how long to wait before asking again: the daemon's
// Retry-After when it gives a sensible one (under an hour), else the poll
// interval.
func pollWait(h http.Header, poll time.Duration) time.Duration {
	if d := notifyhttp.RetryAfter(h); d > 0 && d < notifyhttp.MaxRetryAfter {
		return d
	}
	return poll
}

// waitUntil waits d, but no later than just past the deadline, so that the
// last ask comes after it.
func (o *ServerOptions) waitUntil(ctx context.Context, d time.Duration, deadline time.Time) error {
	return clock.Sleep(ctx, o.Clock, min(d, deadline.Sub(o.Clock.Now())+time.Millisecond))
}
