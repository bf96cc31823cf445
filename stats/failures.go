package stats

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// Failure samples: what the target answered when a step failed, so that a
// failed verdict comes with the exchange behind it (docs/run.md, "Failure
// samples"). They are kept per kind of failure — step, error class, and the
// status for unexpected statuses or the assertion kind for other failed
// expectations — the first of each kind and the latest few, bounded in
// number and in bytes:
//
//   - at most MaxFailureKinds kinds (a map keyed by what the target
//     answers needs a bound); when the store is full, a kind quiet for a
//     minute makes room for a new one, and otherwise failures of further
//     kinds are counted in FailureReport.Overflow, never sampled;
//   - per kind, the first sample and the DefaultFailureLatest latest, a new
//     latest at most once per FailureOptions.Interval (1 s), so that a
//     failing step at thousands of requests a second builds a sample a
//     second, not thousands;
//   - per sample, bodies of at most MaxSampleBody bytes, at most
//     MaxSampleHeaders header fields of MaxSampleHeaderValue bytes, a URL
//     and texts of at most MaxSampleText bytes: under 16 KiB a sample, so
//     under 2.1 MiB for a whole store.
const (
	MaxFailureKinds       = 32
	DefaultFailureLatest  = 3
	MaxSampleBody         = 2 << 10
	MaxSampleHeaders      = 20
	MaxSampleHeaderValue  = 200
	MaxSampleText         = 1 << 10
	defaultSampleInterval = time.Second
	// armFor is how long after a failure its step's requests are traced.
	armFor = 3 * time.Second
	// staleAfter is how long a kind of failure must have been quiet before
	// a full store forgets it for a new one.
	staleAfter = time.Minute
)

// FailureSample is one failing exchange, secrets redacted (by whoever built
// it: the scenario knows its secrets) and bounded (by the store).
type FailureSample struct {
	At        time.Time `json:"at"`
	Iteration uint64    `json:"iteration"`
	Step      string    `json:"step"`
	Class     string    `json:"class"`            // the error class
	Status    int       `json:"status,omitempty"` // 0: no response
	// Error is the failure as the summary says it.
	Error     string            `json:"error"`
	Assertion *AssertionFailure `json:"assertion,omitempty"`
	Request   SampleRequest     `json:"request"`
	Response  *SampleResponse   `json:"response,omitempty"` // nil when none came
	Timing    SampleTiming      `json:"timing"`
}

// AssertionFailure is the expectation that failed and what was there.
type AssertionFailure struct {
	Kind     string `json:"kind"`             // status, max_latency, headers, body_contains, body_matches, json, expr
	Target   string `json:"target,omitempty"` // the JSON path, header name, text or expression
	Expected string `json:"expected,omitempty"`
	Actual   string `json:"actual,omitempty"`
}

// SampleHeader is one header field of a sample.
type SampleHeader struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// SampleRequest is the request of a sample.
type SampleRequest struct {
	Method  string         `json:"method"`
	URL     string         `json:"url"`
	Headers []SampleHeader `json:"headers,omitempty"`
	Body    string         `json:"body,omitempty"`
	// BodyBytes is the whole body's size; Body holds its beginning.
	BodyBytes int64 `json:"body_bytes,omitempty"`
}

// SampleResponse is what the target answered.
type SampleResponse struct {
	Status  int            `json:"status"`
	Proto   string         `json:"proto,omitempty"`
	Headers []SampleHeader `json:"headers,omitempty"`
	Body    string         `json:"body,omitempty"`
	// BodyBytes is the whole body's size; Body holds its beginning.
	BodyBytes int64 `json:"body_bytes"`
}

// SampleTiming splits a failing exchange's time, in milliseconds: the new
// connection's DNS, connect and TLS (none on a reused connection), the wait
// for the response's header section after that, and its body; Total is
// the step's service latency. A phase canary did not see is 0.
type SampleTiming struct {
	DNSMs       float64 `json:"dns_ms,omitempty"`
	ConnectMs   float64 `json:"connect_ms,omitempty"`
	TLSMs       float64 `json:"tls_ms,omitempty"`
	FirstByteMs float64 `json:"first_byte_ms,omitempty"`
	BodyMs      float64 `json:"body_ms,omitempty"`
	TotalMs     float64 `json:"total_ms"`
	// NewConnection reports that the request made its connection.
	NewConnection bool `json:"new_connection,omitempty"`
}

// FailureGroup is one kind of failure: its count, when it was first and
// last seen, and its samples, the first one first, then the latest.
type FailureGroup struct {
	Step      string          `json:"step"`
	Class     string          `json:"class"`
	Status    int             `json:"status,omitempty"`
	Assertion string          `json:"assertion,omitempty"`
	Count     int64           `json:"count"`
	First     time.Time       `json:"first"`
	Last      time.Time       `json:"last"`
	Samples   []FailureSample `json:"samples"`
}

// Reason is the group's failure in words: its first sample's error.
func (g *FailureGroup) Reason() string {
	if len(g.Samples) > 0 && g.Samples[0].Error != "" {
		return g.Samples[0].Error
	}
	s := g.Step + ": " + g.Class
	if g.Status != 0 {
		s += " " + strconv.Itoa(g.Status)
	}
	return s
}

// FailureReport is the failure samples of a run or a check: its groups,
// most frequent first, and the failures of kinds past the bound.
type FailureReport struct {
	Groups   []FailureGroup `json:"groups"`
	Overflow int64          `json:"overflow,omitempty"`
}

// Top is the most frequent kind of failure, or nil.
func (r *FailureReport) Top() *FailureGroup {
	if r == nil || len(r.Groups) == 0 {
		return nil
	}
	return &r.Groups[0]
}

// FailureKey is what a failure is grouped by. Status counts only for an
// unexpected status (ClassHTTPStatus), Assertion only for other failed
// expectations.
type FailureKey struct {
	Step      int
	Class     ErrorClass
	Status    int
	Assertion Assertion
}

// Key normalises a step's failure into its group's key.
func Key(step, status int, class ErrorClass, assertion Assertion) FailureKey {
	k := FailureKey{Step: step, Class: class}
	switch class {
	case ClassHTTPStatus:
		k.Status = status
	case ClassAssertion:
		k.Assertion = assertion
	}
	return k
}

// FailureOptions configure a Failures store.
type FailureOptions struct {
	// Latest is how many latest samples a kind keeps besides its first;
	// default DefaultFailureLatest.
	Latest int
	// Interval is the least time between two latest samples of a kind;
	// default 1 s.
	Interval time.Duration
}

// Failures keeps a run's (or a check's) failure samples. Safe for
// concurrent use; it never reads a clock (samples carry their time).
type Failures struct {
	steps []string
	o     FailureOptions
	arm   []armed // by step

	mu       sync.Mutex
	groups   map[FailureKey]*group // at most MaxFailureKinds
	overflow int64
}

type group struct {
	g      FailureGroup
	latest []FailureSample // a ring of o.Latest, oldest first once full
	next   int
	// lastAt is the time of the newest sample kept, or of the one about
	// to be (Want said yes): the interval counts from it.
	lastAt time.Time
}

// armed is a step's request tracing while it fails: its requests are
// traced in full (see Trace) until until, at most one per gap.
type armed struct {
	until atomic.Int64 // unix ns
	next  atomic.Int64 // unix ns: no trace before
}

// NewFailures returns an empty store for a scenario's steps.
func NewFailures(steps []string, o FailureOptions) *Failures {
	if o.Latest <= 0 {
		o.Latest = DefaultFailureLatest
	}
	if o.Interval <= 0 {
		o.Interval = defaultSampleInterval
	}
	return &Failures{steps: append([]string(nil), steps...), o: o, arm: make([]armed, len(steps)), groups: map[FailureKey]*group{}}
}

// Want counts one failure of kind k at at, and reports whether its sample
// would be kept: the kind's first, or a latest one once the interval has
// passed since the last. A caller that hears yes builds the sample and
// Adds it; one that hears no builds nothing.
func (f *Failures) Want(k FailureKey, at time.Time) bool {
	if k.Step < 0 || k.Step >= len(f.steps) {
		return false
	}
	// The step fails: trace its next requests in full for a while, so
	// that its later samples have the whole exchange.
	f.arm[k.Step].until.Store(at.Add(armFor).UnixNano())
	f.mu.Lock()
	defer f.mu.Unlock()
	gr := f.groups[k]
	if gr == nil {
		if len(f.groups) >= MaxFailureKinds && !f.evictStale(at) {
			f.overflow++
			return false
		}
		gr = &group{g: FailureGroup{Step: f.steps[k.Step], Class: k.Class.String(), Status: k.Status, First: at}}
		if k.Assertion != AssertNone {
			gr.g.Assertion = k.Assertion.String()
		}
		f.groups[k] = gr
	}
	gr.g.Count++
	if at.After(gr.g.Last) {
		gr.g.Last = at
	}
	if gr.lastAt.IsZero() || at.Sub(gr.lastAt) >= f.o.Interval {
		gr.lastAt = at
		return true
	}
	return false
}

// evictStale makes room in a full store (a daemon check's, which lives for
// weeks) by forgetting the kind seen least recently, if that was more
// than a minute before at. The caller holds mu.
func (f *Failures) evictStale(at time.Time) bool {
	var oldest FailureKey
	var seen time.Time
	for k, gr := range f.groups {
		if seen.IsZero() || gr.g.Last.Before(seen) {
			oldest, seen = k, gr.g.Last
		}
	}
	if seen.IsZero() || at.Sub(seen) < staleAfter {
		return false
	}
	delete(f.groups, oldest)
	return true
}

// Add keeps s as a sample of kind k (after Want said yes): as its first,
// or as its newest latest, dropping the oldest latest. s is bounded first.
func (f *Failures) Add(k FailureKey, s FailureSample) {
	s.bound()
	f.mu.Lock()
	defer f.mu.Unlock()
	gr := f.groups[k]
	if gr == nil {
		return
	}
	if len(gr.g.Samples) == 0 {
		gr.g.Samples = append(gr.g.Samples, s)
		return
	}
	if len(gr.latest) < f.o.Latest {
		gr.latest = append(gr.latest, s)
		return
	}
	gr.latest[gr.next] = s
	gr.next = (gr.next + 1) % len(gr.latest)
}

// Trace reports whether step's request due at now should be traced in
// full: the step failed within the last 3 s, and no request of it was
// traced in the last tenth of the interval. It costs one atomic load while
// the step does not fail.
func (f *Failures) Trace(step int, now time.Time) bool {
	if step < 0 || step >= len(f.arm) {
		return false
	}
	a := &f.arm[step]
	ns := now.UnixNano()
	if ns >= a.until.Load() {
		return false
	}
	next := a.next.Load()
	return ns >= next && a.next.CompareAndSwap(next, ns+int64(f.o.Interval/10))
}

// Report returns a copy of the samples, most frequent kind first.
func (f *Failures) Report() *FailureReport {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := &FailureReport{Groups: make([]FailureGroup, 0, len(f.groups)), Overflow: f.overflow}
	for _, gr := range f.groups {
		g := gr.g
		g.Samples = make([]FailureSample, 0, len(gr.g.Samples)+len(gr.latest))
		for _, s := range gr.g.Samples {
			g.Samples = append(g.Samples, s.clone())
		}
		// The latest, oldest first.
		for i := range gr.latest {
			g.Samples = append(g.Samples, gr.latest[(gr.next+i)%len(gr.latest)].clone())
		}
		r.Groups = append(r.Groups, g)
	}
	sortGroups(r.Groups)
	return r
}

// clone is a copy of s that shares nothing with it: a report's caller may
// redact its samples in place while the recorder goes on.
func (s FailureSample) clone() FailureSample {
	if s.Assertion != nil {
		a := *s.Assertion
		s.Assertion = &a
	}
	s.Request.Headers = slices.Clone(s.Request.Headers)
	if s.Response != nil {
		r := *s.Response
		r.Headers = slices.Clone(r.Headers)
		s.Response = &r
	}
	return s
}

// sortGroups orders groups most frequent first, then by step, class,
// status and assertion: deterministic output.
func sortGroups(gs []FailureGroup) {
	slices.SortFunc(gs, func(a, b FailureGroup) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Step, b.Step), cmp.Compare(a.Class, b.Class),
			cmp.Compare(a.Status, b.Status), cmp.Compare(a.Assertion, b.Assertion))
	})
}

// MergeFailures merges the failure samples of several reports (the slices
// of one run): counts add up, and each kind keeps the earliest first sample
// and the latest of the rest, within the same bounds.
func MergeFailures(rs ...*FailureReport) *FailureReport {
	type key struct {
		step, class, assertion string
		status                 int
	}
	byKey := map[key]*FailureGroup{}
	var order []key
	out := &FailureReport{}
	for _, r := range rs {
		if r == nil {
			continue
		}
		out.Overflow += r.Overflow
		for _, g := range r.Groups {
			k := key{g.Step, g.Class, g.Assertion, g.Status}
			m := byKey[k]
			if m == nil {
				if len(byKey) >= MaxFailureKinds {
					out.Overflow += g.Count
					continue
				}
				c := g
				c.Samples = append([]FailureSample(nil), g.Samples...)
				byKey[k] = &c
				order = append(order, k)
				continue
			}
			m.Count += g.Count
			if g.First.Before(m.First) {
				m.First = g.First
			}
			if g.Last.After(m.Last) {
				m.Last = g.Last
			}
			m.Samples = append(m.Samples, g.Samples...)
		}
	}
	for _, k := range order {
		g := byKey[k]
		slices.SortStableFunc(g.Samples, func(a, b FailureSample) int { return a.At.Compare(b.At) })
		if n := len(g.Samples); n > 1+DefaultFailureLatest {
			g.Samples = append(g.Samples[:1], g.Samples[n-DefaultFailureLatest:]...)
		}
		for i := range g.Samples {
			g.Samples[i].bound()
		}
		out.Groups = append(out.Groups, *g)
	}
	sortGroups(out.Groups)
	if len(out.Groups) == 0 && out.Overflow == 0 {
		return nil
	}
	return out
}

// bound cuts a sample to the store's bounds, whoever built it (a report
// read from a file included).
func (s *FailureSample) bound() {
	s.Step = clipText(s.Step, MaxSampleText)
	s.Class = clipText(s.Class, 64)
	s.Error = clipText(s.Error, MaxSampleText)
	if a := s.Assertion; a != nil {
		c := AssertionFailure{Kind: clipText(a.Kind, 64), Target: clipText(a.Target, MaxSampleText),
			Expected: clipText(a.Expected, MaxSampleText), Actual: clipText(a.Actual, MaxSampleText)}
		s.Assertion = &c
	}
	s.Request.Method = clipText(s.Request.Method, 32)
	s.Request.URL = clipText(s.Request.URL, MaxSampleText)
	s.Request.Headers = boundHeaders(s.Request.Headers)
	s.Request.Body = clipText(s.Request.Body, MaxSampleBody)
	if r := s.Response; r != nil {
		c := *r
		c.Proto = clipText(c.Proto, 16)
		c.Headers = boundHeaders(c.Headers)
		c.Body = clipText(c.Body, MaxSampleBody)
		s.Response = &c
	}
}

func boundHeaders(hs []SampleHeader) []SampleHeader {
	if len(hs) == 0 {
		return nil
	}
	out := make([]SampleHeader, 0, min(len(hs), MaxSampleHeaders))
	for _, h := range hs[:min(len(hs), MaxSampleHeaders)] {
		out = append(out, SampleHeader{Name: clipText(h.Name, 64), Value: clipText(h.Value, MaxSampleHeaderValue)})
	}
	return out
}

// clipText bounds s to max bytes of valid UTF-8 (a body may be binary:
// JSON can only carry it as text), marking a cut with "…".
func clipText(s string, max int) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if len(s) <= max {
		return s
	}
	cut := max - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
