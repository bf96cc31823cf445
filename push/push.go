// Package push carries a segment of a distributed run from `canary run
// --push` to the daemon that assembles the run (docs/deployment.md): the
// message both sides speak, the run id the segments share, and the client
// that delivers a message, retrying with backoff.
package push

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/canaryproj/canary/alert/notifyhttp"
	"github.com/canaryproj/canary/internal/clock"
)

// The events of a segment.
const (
	// Start: the segment is ready and waits for its start time; the daemon
	// lists the run as running from the first one.
	Start = "start"
	// Done: the segment ran; Report is its report.
	Done = "done"
	// Failed: the segment did not run (it missed its start, was
	// interrupted); Error says why.
	Failed = "failed"
)

// Message is what a segment tells the daemon, POSTed as JSON (gzip'd) to
// Path(run).
type Message struct {
	Event   string `json:"event"`
	Segment string `json:"segment"` // "2/4", as --segment counts
	// Scenario is the scenario's name: every segment of a run has the same.
	Scenario string `json:"scenario"`
	// Deadline is when the daemon stops waiting for the run's segments: a
	// segment not reported by then leaves the run inconclusive.
	Deadline time.Time `json:"deadline"`
	// StartAt is the run's start time, when it has one.
	StartAt *time.Time      `json:"start_at,omitempty"`
	Report  json.RawMessage `json:"report,omitempty"`
	Error   string          `json:"error,omitempty"`
}

// Path is where the messages of a run are POSTed, under the daemon's URL.
func Path(run string) string { return "/api/v1/runs/" + url.PathEscape(run) + "/segments" }

// MaxRunID bounds a run id's length.
const MaxRunID = 128

var runIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// CheckRunID checks a run id: letters, digits, '.', '_' and '-', starting
// with a letter or digit, at most MaxRunID characters (it is part of URLs).
func CheckRunID(id string) error {
	if len(id) > MaxRunID || !runIDRE.MatchString(id) {
		return fmt.Errorf("run id %q: want up to %d letters, digits, '.', '_' or '-', starting with a letter or digit", id, MaxRunID)
	}
	return nil
}

// RunID is the id the segments of a run share when none is given: the
// scenario's name and the start time, "checkout-20261207T100000Z".
func RunID(scenario string, startAt time.Time) string {
	at := startAt.UTC().Format("20060102T150405.999999999Z")
	return scenario[:min(len(scenario), MaxRunID-len(at)-1)] + "-" + at
}

// Answer is the part of the daemon's answer a segment reports.
type Answer struct {
	ID       string `json:"id"`
	Status   string `json:"status"`
	Segments struct {
		Expected int `json:"expected"`
		Received int `json:"received"`
	} `json:"segments"`
}

// Client delivers messages to a daemon.
type Client struct {
	// URL is the daemon's base URL; Token its bearer token (never printed).
	URL   string
	Token string
	// Retry is how long Send keeps trying (default 2 min).
	Retry time.Duration
	HTTP  *http.Client // default: 30 s per attempt
	Clock clock.Clock  // the waits between attempts; nil is the wall clock
}

// Backoff bounds the wait between attempts: it starts at MinBackoff and
// doubles up to MaxBackoff, unless the daemon asks for another wait
// (Retry-After).
const (
	MinBackoff = 500 * time.Millisecond
	MaxBackoff = 15 * time.Second
)

// refused is an answer that no retry will change.
type refused struct{ err error }

func (r refused) Error() string { return r.err.Error() }
func (r refused) Unwrap() error { return r.err }

// Send delivers m for run, retrying network failures, 5xx and 429 answers
// with backoff (a Retry-After wins) until it is accepted, refused (any
// other answer), ctx ends or Retry has passed.
func (c *Client) Send(ctx context.Context, run string, m Message) (*Answer, error) {
	clk := clock.OrReal(c.Clock)
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	retry := c.Retry
	if retry <= 0 {
		retry = 2 * time.Minute
	}
	where := fmt.Sprintf("push segment %s of run %s to %s", m.Segment, run, Redact(c.URL))
	body, err := encode(m)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	endpoint := strings.TrimRight(c.URL, "/") + Path(run)
	giveUp := clk.Now().Add(retry)
	wait := MinBackoff
	for attempt := 1; ; attempt++ {
		a, after, err := c.post(ctx, hc, endpoint, body)
		if err == nil {
			return a, nil
		}
		var r refused
		if errors.As(err, &r) {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		if after > 0 {
			wait = after
		}
		if left := giveUp.Sub(clk.Now()); wait > left {
			return nil, fmt.Errorf("%s: giving up after %d attempts in %v: %w", where, attempt, retry, err)
		}
		if serr := clock.Sleep(ctx, clk, wait); serr != nil {
			return nil, fmt.Errorf("%s: %w after %d attempts (the last: %v)", where, serr, attempt, err)
		}
		wait = min(2*wait, MaxBackoff)
	}
}

// post makes one attempt; after is the wait a 429 or 503 asked for.
func (c *Client) post(ctx context.Context, hc *http.Client, endpoint string, body []byte) (a *Answer, after time.Duration, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, 0, refused{notifyhttp.UnwrapURLError(err)}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Content-Encoding", "gzip")
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		// *url.Error prints the URL; its user-info may be a secret.
		return nil, 0, notifyhttp.UnwrapURLError(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, 0, err
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		a = &Answer{}
		if err := json.Unmarshal(raw, a); err != nil {
			return nil, 0, refused{fmt.Errorf("HTTP %d: not a run: %w", resp.StatusCode, err)}
		}
		return a, 0, nil
	}
	var e struct {
		Error string `json:"error"`
	}
	msg := ""
	if json.Unmarshal(raw, &e) == nil && e.Error != "" {
		msg = ": " + e.Error
	}
	err = fmt.Errorf("HTTP %d%s", resp.StatusCode, msg)
	switch {
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return nil, notifyhttp.RetryAfter(resp.Header), err
	}
	return nil, 0, refused{err}
}

func encode(m Message) ([]byte, error) {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if err := json.NewEncoder(zw).Encode(m); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Redact is a daemon URL as errors and logs print it: scheme and host,
// never user-info, path or query.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "the daemon"
	}
	return u.Scheme + "://" + u.Host
}
