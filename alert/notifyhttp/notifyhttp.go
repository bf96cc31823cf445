// Package notifyhttp is the HTTP plumbing the notifiers share: one POST of a
// JSON body, its answer classified for the alert manager's retries (a 429
// with the wait it asks for, a 5xx or a network failure worth trying again,
// anything else final), and error texts that say where without printing a
// URL whose path or user-info is a secret.
//
// It never retries by itself: the alert manager owns retries and their
// pacing, and a hidden second attempt would break both.
package notifyhttp

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
	"unicode"
	"unicode/utf8"

	"github.com/canaryproj/canary/alert"
)

const (
	// MaxRetryAfter caps the wait a Retry-After asks for. Receivers ask for
	// seconds to a minute; a larger value is a broken header, and the
	// manager's own backoff is a better guide than a wait of days.
	MaxRetryAfter = time.Hour

	// maxErrorBody is how much of an error answer is read for its message.
	maxErrorBody = 1 << 10
	// maxDrain is how much of any answer is read (and discarded) so that the
	// connection can be reused; a larger body closes the connection instead.
	maxDrain = 64 << 10
	// maxMessage bounds the receiver's message quoted in an error, in
	// characters.
	maxMessage = 200
)

// PostJSON makes one attempt to POST body (JSON) to endpoint. where names
// the receiver in errors ("slack webhook https://hooks.slack.com/services/…");
// endpoint itself is never printed. A 2xx answer is success; a 429 is an
// *alert.RetryableError carrying its Retry-After, a 5xx or a failure to get
// an answer is an *alert.RetryableError, anything else a plain error with
// the first line of the receiver's message.
func PostJSON(ctx context.Context, client *http.Client, endpoint, where string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%s: %w", where, UnwrapURLError(err))
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		// *url.Error prints the request URL: keep only what went wrong.
		return &alert.RetryableError{Err: fmt.Errorf("%s: %w", where, UnwrapURLError(err))}
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
		_ = resp.Body.Close()
	}()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	err = fmt.Errorf("%s: HTTP %d%s", where, resp.StatusCode, errorMessage(resp.Body))
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		return &alert.RetryableError{After: RetryAfter(resp.Header), Err: err}
	case resp.StatusCode >= 500:
		return &alert.RetryableError{Err: err}
	}
	return err
}

// RetryAfter is the wait a Retry-After header asks for in seconds, capped at
// MaxRetryAfter. An HTTP date (which neither Slack nor Alertmanager send),
// a bad value or none is 0: no wait asked, the caller's own pacing applies.
func RetryAfter(h http.Header) time.Duration {
	secs, err := strconv.ParseInt(strings.TrimSpace(h.Get("Retry-After")), 10, 64)
	if err != nil || secs <= 0 {
		return 0
	}
	if secs > int64(MaxRetryAfter/time.Second) {
		return MaxRetryAfter
	}
	return time.Duration(secs) * time.Second
}

// CapRetryAfter bounds a wait asked for by other means (a client library's
// rate-limit error) like RetryAfter does.
func CapRetryAfter(d time.Duration) time.Duration {
	return min(max(d, 0), MaxRetryAfter)
}

// UnwrapURLError drops the URL that *url.Error (from http.Client.Do and
// url.Parse) prints, keeping the cause: a Slack webhook's path and an
// Alertmanager URL's user-info are secrets.
func UnwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// errorMessage is ": <message>" from an error answer, or "": the first line
// of the body (Alertmanager's JSON string unquoted), printable, valid UTF-8
// and at most maxMessage characters.
func errorMessage(r io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(r, maxErrorBody))
	s := strings.TrimSpace(string(b))
	var msg string
	if json.Unmarshal([]byte(s), &msg) == nil {
		s = msg
	}
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
	if utf8.RuneCountInString(s) > maxMessage {
		s = string([]rune(s)[:maxMessage-1]) + "…"
	}
	if s == "" {
		return ""
	}
	return ": " + s
}
