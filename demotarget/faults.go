package demotarget

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Fault bounds. They keep a typo ("50s" for "50ms") from turning the demo
// into something that looks hung, and keep the knobs' JSON small.
const (
	// MaxFaultDelay bounds Latency and Jitter each.
	MaxFaultDelay = 30 * time.Second
	// MaxSlower bounds Slower: at most eleven times the delay.
	MaxSlower = 10
	// DefaultErrorStatus is the status of injected errors when none is set.
	DefaultErrorStatus = 503
	// maxPathPrefix bounds PathPrefix in bytes.
	maxPathPrefix = 256
)

// Faults are the demo target's failure knobs. The zero value injects
// nothing.
//
// Faults never apply to /health (so that a monitor can tell "the target is
// up but degraded" from "the target is down") nor to /admin/... (so that
// the knobs can always be turned off again).
type Faults struct {
	// Latency is added to every faulted request before it is served.
	Latency time.Duration
	// Jitter adds a further uniformly random delay in [0, Jitter], so that a
	// faulted request waits between Latency and Latency+Jitter.
	Jitter time.Duration
	// Slower stretches the injected delay by this fraction (0.15: every
	// faulted request waits 15 % longer than Latency and Jitter alone make
	// it), so that two demo targets can stand for a version and a slower
	// one in a comparison. It needs Latency or Jitter to stretch.
	Slower float64
	// ErrorRatio is the fraction (0..1) of faulted requests answered with
	// ErrorStatus instead of being served.
	ErrorRatio float64
	// ErrorStatus is the status of injected errors, 400..599; 0 means
	// DefaultErrorStatus.
	ErrorStatus int
	// PathPrefix limits faults to paths equal to it or below it, by whole
	// path segments: "/cart" covers /cart and /cart/items but not
	// /cartography. "" covers every route except /health and /admin/....
	PathPrefix string
}

// Active reports whether f injects anything.
func (f Faults) Active() bool {
	return f.Latency > 0 || f.Jitter > 0 || f.ErrorRatio > 0
}

// Validate reports every out-of-range field at once.
func (f Faults) Validate() error {
	var errs []error
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"latency", f.Latency}, {"jitter", f.Jitter}} {
		if d.v < 0 || d.v > MaxFaultDelay {
			errs = append(errs, fmt.Errorf("%s %s is outside 0s..%s", d.name, d.v, MaxFaultDelay))
		}
	}
	// The negated comparisons also reject NaN.
	switch {
	case !(f.Slower >= 0 && f.Slower <= MaxSlower):
		errs = append(errs, fmt.Errorf("slower %v is outside 0..%d", f.Slower, MaxSlower))
	case f.Slower > 0 && f.Latency == 0 && f.Jitter == 0:
		errs = append(errs, fmt.Errorf("slower %v stretches latency and jitter: set one of them (e.g. latency 20ms, jitter 20ms)", f.Slower))
	}
	if !(f.ErrorRatio >= 0 && f.ErrorRatio <= 1) {
		errs = append(errs, fmt.Errorf("error_ratio %v is outside 0..1", f.ErrorRatio))
	}
	if f.ErrorStatus != 0 && (f.ErrorStatus < 400 || f.ErrorStatus > 599) {
		errs = append(errs, fmt.Errorf("error_status %d is outside 400..599", f.ErrorStatus))
	}
	if err := validatePathPrefix(f.PathPrefix); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func validatePathPrefix(p string) error {
	switch {
	case p == "":
		return nil
	case len(p) > maxPathPrefix:
		return fmt.Errorf("path_prefix is longer than %d bytes", maxPathPrefix)
	case p[0] != '/':
		return fmt.Errorf("path_prefix %q does not start with /", p)
	case strings.ContainsFunc(p, func(r rune) bool { return unicode.IsControl(r) || unicode.IsSpace(r) }):
		return fmt.Errorf("path_prefix %q contains spaces or control characters", p)
	}
	return nil
}

// ParseSlower reads the slower knob from a flag: "15%" or the fraction
// "0.15" (15 % slower), 0 to 1000 %.
func ParseSlower(s string) (float64, error) {
	t := strings.TrimSpace(s)
	pct := strings.HasSuffix(t, "%")
	v, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(t, "%")), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("slower %q: want a percentage like 15%% or a fraction like 0.15", s)
	}
	if pct {
		v /= 100
	}
	if v < 0 || v > MaxSlower {
		return 0, fmt.Errorf("slower %q: must be between 0%% and %d%%", s, MaxSlower*100)
	}
	return v, nil
}

// normalized fills in defaults. f must be valid.
func (f Faults) normalized() Faults {
	if f.ErrorStatus == 0 {
		f.ErrorStatus = DefaultErrorStatus
	}
	return f
}

// covers reports whether a request for path is subject to f. Callers have
// already excluded /health and /admin/....
func (f Faults) covers(path string) bool {
	p := f.PathPrefix
	if p == "" || p == "/" {
		return true
	}
	if !strings.HasPrefix(path, p) {
		return false
	}
	// A prefix ending in "/" already marks a segment boundary.
	return len(path) == len(p) || p[len(p)-1] == '/' || path[len(p)] == '/'
}

// faultsJSON is the wire form of Faults (GET/PUT /admin/faults). Pointers
// tell "absent" from "zero" only for error messages' sake: an absent field
// means zero, because PUT replaces all knobs at once.
type faultsJSON struct {
	Latency     *string  `json:"latency,omitempty"`
	Jitter      *string  `json:"jitter,omitempty"`
	Slower      *float64 `json:"slower,omitempty"`
	ErrorRatio  *float64 `json:"error_ratio,omitempty"`
	ErrorStatus *int     `json:"error_status,omitempty"`
	PathPrefix  *string  `json:"path_prefix,omitempty"`
}

// MarshalJSON writes f in the form PUT /admin/faults accepts, durations as
// Go duration strings ("50ms"), so that GET's answer can be edited and PUT
// back.
func (f Faults) MarshalJSON() ([]byte, error) {
	lat, jit := f.Latency.String(), f.Jitter.String()
	status := f.normalized().ErrorStatus
	return json.Marshal(faultsJSON{
		Latency:     &lat,
		Jitter:      &jit,
		Slower:      &f.Slower,
		ErrorRatio:  &f.ErrorRatio,
		ErrorStatus: &status,
		PathPrefix:  &f.PathPrefix,
	})
}

// UnmarshalJSON is ParseFaults, so that Faults embedded in other JSON
// documents are validated the same way.
func (f *Faults) UnmarshalJSON(data []byte) error {
	v, err := ParseFaults(data)
	if err != nil {
		return err
	}
	*f = v
	return nil
}

// ParseFaults decodes one JSON object of fault knobs, e.g.
//
//	{"latency":"50ms","jitter":"10ms","slower":0.15,"error_ratio":0.2,"error_status":503,"path_prefix":"/cart"}
//
// Unknown keys, wrong types, trailing data and out-of-range values are
// errors; every problem found is reported. Absent keys are zero (no fault),
// so the result replaces the current knobs as a whole. The result is
// normalized: ErrorStatus is never 0.
func ParseFaults(data []byte) (Faults, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var doc faultsJSON
	if err := dec.Decode(&doc); err != nil {
		return Faults{}, describeJSONError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Faults{}, errors.New("unexpected data after the JSON object")
	}
	if bytes.TrimSpace(data)[0] != '{' {
		// null decodes into the zero struct without complaint.
		return Faults{}, errors.New("want a JSON object")
	}

	var f Faults
	var errs []error
	parseDelay := func(name string, s *string, dst *time.Duration) {
		if s == nil {
			return
		}
		d, err := time.ParseDuration(*s)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %q is not a duration (want e.g. \"50ms\")", name, *s))
			return
		}
		*dst = d
	}
	parseDelay("latency", doc.Latency, &f.Latency)
	parseDelay("jitter", doc.Jitter, &f.Jitter)
	if doc.Slower != nil {
		f.Slower = *doc.Slower
	}
	if doc.ErrorRatio != nil {
		f.ErrorRatio = *doc.ErrorRatio
	}
	if doc.ErrorStatus != nil {
		f.ErrorStatus = *doc.ErrorStatus
	}
	if doc.PathPrefix != nil {
		f.PathPrefix = *doc.PathPrefix
	}
	if err := f.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return Faults{}, err
	}
	return f.normalized(), nil
}

// describeJSONError turns encoding/json's errors into messages that name
// the offending key in the wire vocabulary.
func describeJSONError(err error) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr) && typeErr.Field != "":
		want := map[string]string{
			"latency":      `a duration string like "50ms"`,
			"jitter":       `a duration string like "10ms"`,
			"slower":       "a number from 0 to 10 (0.15 = 15 % slower)",
			"error_ratio":  "a number from 0 to 1",
			"error_status": "an integer status from 400 to 599",
			"path_prefix":  `a path like "/cart"`,
		}[typeErr.Field]
		if want == "" {
			want = typeErr.Type.String()
		}
		return fmt.Errorf("%s: got a JSON %s, want %s", typeErr.Field, typeErr.Value, want)
	case errors.As(err, &typeErr):
		return fmt.Errorf("want a JSON object, got a JSON %s", typeErr.Value)
	case errors.As(err, &syntaxErr):
		return fmt.Errorf("invalid JSON at byte %d: %w", syntaxErr.Offset, err)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("want a JSON object, got an empty or truncated body")
	}
	// Unknown fields: encoding/json's message (json: unknown field "x")
	// already names the key.
	return errors.New(strings.TrimPrefix(err.Error(), "json: "))
}
