package stats

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// ReportSchema identifies the report format.
const ReportSchema = "canary.report/v1"

// MaxReportBytes bounds what ReadReport accepts.
const MaxReportBytes = 64 << 20

// Report is the machine-readable run report (docs/run.md, "The report"). Latencies are in
// milliseconds; "latency" counts from the due time (corrected), "service"
// from the actual send.
type Report struct {
	Schema     string          `json:"schema"`
	Scenario   string          `json:"scenario"`
	Profile    any             `json:"profile"`
	Start      time.Time       `json:"start"`
	End        time.Time       `json:"end"`
	DurationS  float64         `json:"duration_s"`
	Rate       RateReport      `json:"rate"`
	Iterations IterationReport `json:"iterations"`
	Generator  GeneratorReport `json:"generator"`
	Latency    LatencySummary  `json:"latency"`
	Steps      []StepReport    `json:"steps"`
	Series     []Point         `json:"series"`
	SLOs       []SLOResult     `json:"slos"`
	Verdict    string          `json:"verdict"`
	// Besides the figures: why the verdict is what it is, the iteration
	// histogram (so merged reports recompute "latency" exactly), how many
	// values were clamped into the histograms' range, and how many reports a
	// merged one is made of.
	Reasons []string `json:"reasons,omitempty"`
	HDR     string   `json:"hdr,omitempty"`
	Clamped int64    `json:"clamped,omitempty"`
	Merged  int      `json:"merged,omitempty"`
	// Aborted: the run was cut short (Ctrl-C, a signal) and covers less
	// than its profile; so is a merge with an aborted part.
	Aborted bool `json:"aborted,omitempty"`
	// AbortedBy says when and why an objective with abort_on_fail stopped
	// the run before its end (not an interruption: Aborted stays false).
	AbortedBy *AbortReport `json:"aborted_by,omitempty"`
	// Failures holds samples of the failing exchanges, per kind of
	// failure (see FailureSample); nil when nothing failed.
	Failures *FailureReport `json:"failures,omitempty"`
}

// AbortReport is why a run stopped early: which objective, when (seconds
// from the start) and why it could no longer pass.
type AbortReport struct {
	AtS       float64 `json:"at_s"`
	Objective string  `json:"objective"`
	Reason    string  `json:"reason"`
}

// RateReport is target vs achieved iterations per second.
type RateReport struct {
	Target   float64 `json:"target"`
	Achieved float64 `json:"achieved"`
}

// IterationReport counts iterations.
type IterationReport struct {
	Total   int64 `json:"total"`
	Success int64 `json:"success"`
	Failure int64 `json:"failure"`
	Dropped int64 `json:"dropped"`
}

// GeneratorReport is the load generator's own health.
type GeneratorReport struct {
	LagP99Ms  float64 `json:"lag_p99_ms"`
	BehindPct float64 `json:"behind_pct"`
	Saturated bool    `json:"saturated"`
	// CPUs is how many CPUs (Go processors) the generator ran on; a merged
	// report sums its parts'. 0 when unknown (reports of older versions).
	CPUs int `json:"cpus,omitempty"`
	// Due is how many iterations the schedule had due (behind_pct is a
	// share of them), and HDR the generator lag's histogram (µs): with
	// them a merge of segments judges the saturation rule on every
	// segment's lag, as one run would. Absent in older reports.
	Due int64  `json:"due,omitempty"`
	HDR string `json:"hdr,omitempty"`
}

// LatencySummary summarises a histogram in milliseconds.
type LatencySummary struct {
	Count int64   `json:"count"`
	Min   float64 `json:"min"`
	Mean  float64 `json:"mean"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P95   float64 `json:"p95"`
	P99   float64 `json:"p99"`
	P999  float64 `json:"p999"`
	Max   float64 `json:"max"`
}

// StepReport is one step's part of the report.
type StepReport struct {
	Name string `json:"name"`
	// Method and Tags are what objectives select the step by
	// (p99(method=POST), p99(region=eu)); absent from older reports.
	Method      string            `json:"method,omitempty"`
	Tags        map[string]string `json:"tags,omitempty"`
	Count       int64             `json:"count"`
	Latency     LatencySummary    `json:"latency"`
	Service     LatencySummary    `json:"service"`
	StatusCodes map[string]int64  `json:"status_codes"`
	Errors      map[string]int64  `json:"errors"`
	Assertions  map[string]int64  `json:"assertions,omitempty"`
	HDR         StepHDR           `json:"hdr"`
}

// StepHDR holds a step's HdrHistograms (µs) in the standard compressed
// base64 encoding, readable by HdrHistogram's own tools.
type StepHDR struct {
	Latency string `json:"latency"`
	Service string `json:"service"`
}

// SLOResult is one --slo expression's outcome. Observed is in the
// expression's display unit: milliseconds for latencies, percent for
// success and errors, iterations/s for rps.
type SLOResult struct {
	Expr     string  `json:"expr"`
	Observed float64 `json:"observed"`
	Pass     bool    `json:"pass"`
}

// ReportMeta is what a report needs besides the measurements.
type ReportMeta struct {
	Scenario   string
	Profile    any
	TargetRate float64 // mean target rate over the run (open model); 0 otherwise
	LagP99Ms   float64
	BehindPct  float64
	Saturated  bool
	CPUs       int       // the generator's Go processors (GOMAXPROCS)
	Due        int64     // iterations the schedule had due (BehindPct's whole)
	End        time.Time // default snap.End
	// RateSpan is the span the achieved rate is measured over: the
	// profile's active duration, not the drain after it (default: the
	// whole run).
	RateSpan time.Duration
}

// Summarize summarises a histogram (µs) in milliseconds.
func Summarize(h *hdrhistogram.Histogram) LatencySummary {
	if h == nil || h.TotalCount() == 0 {
		return LatencySummary{}
	}
	q := func(p float64) float64 { return Millis(h.ValueAtQuantile(p)) }
	return LatencySummary{
		Count: h.TotalCount(), Min: Millis(h.Min()), Mean: round(h.Mean()/1000, 3),
		P50: q(50), P90: q(90), P95: q(95), P99: q(99), P999: q(99.9), Max: Millis(h.Max()),
	}
}

// EncodeHistogram encodes h in HdrHistogram's V2 compressed base64 form
// ("HISTF…"), which HdrHistogram's own tools read.
func EncodeHistogram(h *hdrhistogram.Histogram) (string, error) {
	b, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		return "", fmt.Errorf("encode histogram: %w", err)
	}
	return string(b), nil
}

// MaxHistogramBytes bounds one encoded histogram. A full histogram with
// canary's bounds encodes to well under 100 KB.
const MaxHistogramBytes = 1 << 20

// DecodeHistogram decodes a V2 compressed histogram (EncodeHistogram's
// form, or any HdrHistogram tool's) into canary's bounds, so that decoded
// histograms merge exactly. One with other bounds or precision is
// re-recorded bucket by bucket, values outside 1 µs .. 1 h clamped.
func DecodeHistogram(s string) (*hdrhistogram.Histogram, error) {
	p, _, err := decodePacked(s)
	if err != nil {
		return nil, err
	}
	h := NewHistogram()
	if dropped := p.MergeInto(h); dropped > 0 {
		return nil, fmt.Errorf("histogram: %d values do not fit", dropped)
	}
	return h, nil
}

// decodePacked decodes s sparsely: memory follows the populated buckets,
// never a geometry the input declares (a hostile header could declare a
// dense array of gigabytes). clamped counts values re-recorded into range.
func decodePacked(s string) (p *hdrhistogram.PackedHistogram, clamped int64, err error) {
	if s == "" {
		return newPacked(), 0, nil
	}
	if len(s) > MaxHistogramBytes {
		return nil, 0, fmt.Errorf("histogram: encoding of %d bytes, more than %d", len(s), MaxHistogramBytes)
	}
	in, err := hdrhistogram.DecodePacked([]byte(s))
	if err != nil {
		return nil, 0, fmt.Errorf("histogram: %w", err)
	}
	if in.TotalCount() == math.MaxInt64 {
		return nil, 0, errors.New("histogram: counts overflow")
	}
	if in.LowestTrackableValue() == MinValue && in.HighestTrackableValue() == MaxValue && in.SignificantFigures() == SigDigits {
		return in, 0, nil
	}
	out := newPacked()
	for v, n := range in.ForEachBucket {
		if w := min(max(v, MinValue), MaxValue); w != v {
			v = w
			clamped += n
		}
		if err := out.RecordValues(v, n); err != nil {
			return nil, 0, fmt.Errorf("histogram: %w", err)
		}
	}
	return out, clamped, nil
}

// NewReport builds the report of a run from its cumulative snapshot.
func NewReport(snap *Snapshot, series []Point, meta ReportMeta) (*Report, error) {
	end := meta.End
	if end.IsZero() {
		end = snap.End
	}
	r := &Report{
		Schema: ReportSchema, Scenario: meta.Scenario, Profile: meta.Profile,
		Start: snap.Start.UTC(), End: end.UTC(), Series: series, SLOs: []SLOResult{},
		Generator: GeneratorReport{LagP99Ms: round(meta.LagP99Ms, 3), BehindPct: round(meta.BehindPct, 3), Saturated: meta.Saturated, CPUs: meta.CPUs, Due: meta.Due},
		Rate:      RateReport{Target: round(meta.TargetRate, 3)},
		Clamped:   snap.Clamped,
	}
	if r.Series == nil {
		r.Series = []Point{}
	}
	if r.Profile == nil {
		r.Profile = map[string]any{}
	}
	r.DurationS = round(end.Sub(snap.Start).Seconds(), 3)
	span := r.DurationS
	if meta.RateSpan > 0 {
		span = meta.RateSpan.Seconds()
	}
	if err := r.fill(snap, span); err != nil {
		return nil, err
	}
	return r, nil
}

// fill sets everything that derives from the measurements.
func (r *Report) fill(snap *Snapshot, span float64) error {
	it := snap.Iterations
	r.Iterations = IterationReport{Total: it.Total(), Success: it.Success, Failure: it.Failure, Dropped: it.Dropped}
	if span > 0 {
		r.Rate.Achieved = round(float64(it.Success+it.Failure)/span, 3)
	}
	r.Latency = Summarize(snap.Iteration)
	var err error
	if r.HDR, err = EncodeHistogram(snap.Iteration); err != nil {
		return err
	}
	if snap.Lag != nil && snap.Lag.TotalCount() > 0 {
		if r.Generator.HDR, err = EncodeHistogram(snap.Lag); err != nil {
			return err
		}
	}
	r.Steps = make([]StepReport, len(snap.Steps))
	for i := range snap.Steps {
		st := &snap.Steps[i]
		sr := StepReport{
			Name: st.Name, Count: st.Count(), Latency: Summarize(st.Latency), Service: Summarize(st.Service),
			StatusCodes: map[string]int64{}, Errors: map[string]int64{},
		}
		for code, n := range st.Status {
			if n > 0 {
				sr.StatusCodes[statusKey(code)] = n
			}
		}
		for c, n := range st.Errors {
			if n > 0 && ErrorClass(c) != ClassNone {
				sr.Errors[ErrorClass(c).String()] = n
			}
		}
		for a, n := range st.Assertions {
			if n > 0 {
				if sr.Assertions == nil {
					sr.Assertions = map[string]int64{}
				}
				sr.Assertions[Assertion(a).String()] = n
			}
		}
		if sr.HDR.Latency, err = EncodeHistogram(st.Latency); err != nil {
			return err
		}
		if sr.HDR.Service, err = EncodeHistogram(st.Service); err != nil {
			return err
		}
		r.Steps[i] = sr
	}
	return nil
}

// statusKey is a status code's key in status_codes: "200", or "none" for
// requests that got no response.
func statusKey(code int) string {
	if code == 0 {
		return "none"
	}
	return strconv.Itoa(code)
}

// MaxReportSteps bounds the steps of a report read from a file: a report
// is of one scenario, which has at most 100 steps. Each step costs about a
// dozen dense histograms (188 KB each) on the way through a merge, so this
// bound is what keeps a small hostile file from costing gigabytes: 1,000
// empty steps, 16 KB of JSON, made MergeReports allocate 2.4 GB.
const MaxReportSteps = 100

// Snapshot rebuilds the measurements a report holds (from its encoded
// histograms and counters), for merging or judging.
func (r *Report) Snapshot() (*Snapshot, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	s := NewSnapshot(r.stepNames())
	s.Start, s.End = r.Start, r.End
	s.Iterations = IterationCounts{Success: r.Iterations.Success, Failure: r.Iterations.Failure, Dropped: r.Iterations.Dropped}
	s.Clamped = r.Clamped
	h, cl, err := decodePacked(r.HDR)
	if err != nil {
		return nil, fmt.Errorf("hdr: %w", err)
	}
	h.MergeInto(s.Iteration)
	s.Clamped += cl
	lag, _, err := decodePacked(r.Generator.HDR)
	if err != nil {
		return nil, fmt.Errorf("generator hdr: %w", err)
	}
	lag.MergeInto(s.Lag)
	for i := range r.Steps {
		sr, st := &r.Steps[i], &s.Steps[i]
		for _, x := range []struct {
			enc string
			dst *hdrhistogram.Histogram
		}{{sr.HDR.Latency, st.Latency}, {sr.HDR.Service, st.Service}} {
			h, cl, err := decodePacked(x.enc)
			if err != nil {
				return nil, fmt.Errorf("step %q: %w", sr.Name, err)
			}
			h.MergeInto(x.dst)
			s.Clamped += cl
		}
		for k, n := range sr.StatusCodes {
			code, _ := parseStatus(k)
			st.Status[code] += n
		}
		var bad int64
		for k, n := range sr.Errors {
			c, _ := ParseErrorClass(k)
			st.Errors[c] += n
			bad += n
		}
		st.Errors[ClassNone] += sr.Count - bad
		for k, n := range sr.Assertions {
			a, _ := parseAssertion(k)
			st.Assertions[a] += n
		}
	}
	return s, nil
}

func (r *Report) stepNames() []string {
	names := make([]string, len(r.Steps))
	for i, s := range r.Steps {
		names[i] = s.Name
	}
	return names
}

// check validates what Snapshot relies on, decoding every histogram
// sparsely: the counters are consistent with each other and with the
// histograms, so a merge of valid reports is valid.
func (r *Report) check() error {
	if r.Schema != ReportSchema {
		return fmt.Errorf("schema %q: want %q", r.Schema, ReportSchema)
	}
	it := r.Iterations
	if it.Success < 0 || it.Failure < 0 || it.Dropped < 0 || it.Total != it.Success+it.Failure+it.Dropped || it.Total < 0 {
		return fmt.Errorf("iterations: total %d is not success %d + failure %d + dropped %d", it.Total, it.Success, it.Failure, it.Dropped)
	}
	if err := checkHistogram(r.HDR, it.Success+it.Failure); err != nil {
		return fmt.Errorf("hdr: %w (want the success and failure iterations' latencies)", err)
	}
	// Lag is measured for the iterations started while a slot was free:
	// at most every one started.
	if lag, _, err := decodePacked(r.Generator.HDR); err != nil {
		return fmt.Errorf("generator hdr: %w", err)
	} else if lag.TotalCount() > it.Success+it.Failure {
		return fmt.Errorf("generator hdr: holds %d values, more than the %d iterations", lag.TotalCount(), it.Success+it.Failure)
	}
	if r.Generator.Due < 0 {
		return fmt.Errorf("generator due: %d", r.Generator.Due)
	}
	if len(r.Steps) > MaxReportSteps {
		return fmt.Errorf("%d steps: at most %d", len(r.Steps), MaxReportSteps)
	}
	seen := make(map[string]bool, len(r.Steps))
	for i := range r.Steps {
		sr := &r.Steps[i]
		if seen[sr.Name] {
			return fmt.Errorf("step %q appears twice", sr.Name)
		}
		seen[sr.Name] = true
		if err := sr.check(); err != nil {
			return fmt.Errorf("step %q: %w", sr.Name, err)
		}
	}
	if f := r.Failures; f != nil {
		if len(f.Groups) > MaxFailureKinds {
			return fmt.Errorf("failures: %d kinds, at most %d", len(f.Groups), MaxFailureKinds)
		}
		for _, g := range f.Groups {
			if len(g.Samples) > 1+DefaultFailureLatest {
				return fmt.Errorf("failures: %d samples of %s %s, at most %d", len(g.Samples), g.Step, g.Class, 1+DefaultFailureLatest)
			}
		}
	}
	return r.checkSeries()
}

// checkSeries validates what readers of the series rely on: known error
// classes (so its maps stay as small as the set of classes) and no more
// step points than the report has steps.
func (r *Report) checkSeries() error {
	steps := min(len(r.Steps), MaxSeriesSteps)
	for i, p := range r.Series {
		for k, v := range p.ErrorsByClass {
			if c, ok := ParseErrorClass(k); !ok || c == ClassNone {
				return fmt.Errorf("series point %d (t=%v): unknown error class %q", i, p.T, k)
			}
			if v < 0 {
				return fmt.Errorf("series point %d (t=%v): %s at %v/s", i, p.T, k, v)
			}
		}
		if len(p.Steps) > steps {
			return fmt.Errorf("series point %d (t=%v): %d steps, want at most %d", i, p.T, len(p.Steps), steps)
		}
	}
	return nil
}

func (sr *StepReport) check() error {
	if sr.Count < 0 {
		return fmt.Errorf("count %d", sr.Count)
	}
	if err := checkHistogram(sr.HDR.Latency, sr.Count); err != nil {
		return fmt.Errorf("hdr latency: %w", err)
	}
	if err := checkHistogram(sr.HDR.Service, sr.Count); err != nil {
		return fmt.Errorf("hdr service: %w", err)
	}
	var sum int64
	for k, n := range sr.StatusCodes {
		if _, ok := parseStatus(k); !ok {
			return fmt.Errorf("status code %q: want 100–599 or \"none\"", k)
		}
		if n < 0 || n > sr.Count-sum {
			return fmt.Errorf("status codes count more requests than the step's %d", sr.Count)
		}
		sum += n
	}
	sum = 0
	for k, n := range sr.Errors {
		if c, ok := ParseErrorClass(k); !ok || c == ClassNone {
			return fmt.Errorf("unknown error class %q", k)
		}
		if n < 0 || n > sr.Count-sum {
			return fmt.Errorf("errors count more requests than the step's %d", sr.Count)
		}
		sum += n
	}
	for k, n := range sr.Assertions {
		if _, ok := parseAssertion(k); !ok {
			return fmt.Errorf("unknown assertion kind %q", k)
		}
		if n < 0 || n > sr.Count {
			return fmt.Errorf("assertions: %d %s failures out of %d requests", n, k, sr.Count)
		}
	}
	return nil
}

// checkHistogram decodes s and checks that it holds want values.
func checkHistogram(s string, want int64) error {
	h, _, err := decodePacked(s)
	if err != nil {
		return err
	}
	if h.TotalCount() != want {
		return fmt.Errorf("holds %d values, want %d", h.TotalCount(), want)
	}
	return nil
}

// parseStatus reads a status_codes key: "100".."599", or "none" (0).
func parseStatus(k string) (int, bool) {
	if k == "none" {
		return 0, true
	}
	code, err := strconv.Atoi(k)
	if err != nil || code < 100 || code >= MaxStatus || strconv.Itoa(code) != k {
		return 0, false
	}
	return code, true
}

func parseAssertion(k string) (Assertion, bool) {
	for a := AssertNone + 1; a < NumAssertions; a++ {
		if a.String() == k {
			return a, true
		}
	}
	return AssertNone, false
}

// ReadReport reads and validates a report (at most MaxReportBytes): the
// schema, that the counters add up, and that every histogram decodes and
// agrees with its counters.
func ReadReport(rd io.Reader) (*Report, error) {
	data, err := io.ReadAll(io.LimitReader(rd, MaxReportBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read report: %w", err)
	}
	if len(data) > MaxReportBytes {
		return nil, fmt.Errorf("report larger than %d MiB", MaxReportBytes>>20)
	}
	var probe struct {
		Schema *string `json:"schema"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return nil, fmt.Errorf("not a canary report: %w", err)
	}
	if probe.Schema == nil {
		return nil, fmt.Errorf("not a canary report: no \"schema\" (want %q)", ReportSchema)
	}
	if *probe.Schema != ReportSchema {
		return nil, fmt.Errorf("schema %q: want %q", *probe.Schema, ReportSchema)
	}
	var r Report
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	if err := r.check(); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	return &r, nil
}

// MergeReports merges the reports of one distributed run (the slices of
// `canary run --segment`) exactly: histograms are merged from their
// encodings and every summary recomputed from them; counters add up; the
// slices ran side by side, so target and achieved rates add up; the
// generator's lag p99 is over every segment's lag and its behind_pct over
// all that was due (for reports older than these figures, the worst
// segment's); the worst verdict (inconclusive, then fail) wins, and an
// aborted part makes the merge aborted. SLOs are not re-evaluated here
// (run.Merge does that): the merged report lists none, and its reasons are
// the slices' own. The profile is the first report's, its segment "merged
// k/n" when the reports are k segments of n. Series are aligned on
// wall-clock time (each report's t is from its own start) at the coarsest
// resolution among them: rates add up, p50 is the rate-weighted mean, p99
// the worst.
func MergeReports(rs ...*Report) (*Report, error) {
	if len(rs) == 0 {
		return nil, errors.New("nothing to merge")
	}
	var snap *Snapshot
	out := &Report{Schema: ReportSchema, Scenario: rs[0].Scenario, Profile: mergedProfile(rs), SLOs: []SLOResult{}}
	var achieved, behind float64
	allDue := true
	for i, r := range rs {
		if r.Scenario != out.Scenario {
			return nil, fmt.Errorf("report %d is of scenario %q, not %q", i+1, r.Scenario, out.Scenario)
		}
		s, err := r.Snapshot()
		if err != nil {
			return nil, fmt.Errorf("report %d: %w", i+1, err)
		}
		if snap == nil {
			snap = s
		} else if err := snap.Merge(s); err != nil {
			return nil, fmt.Errorf("report %d: %w", i+1, err)
		}
		out.Rate.Target += r.Rate.Target
		achieved += r.Rate.Achieved
		out.Generator.LagP99Ms = math.Max(out.Generator.LagP99Ms, r.Generator.LagP99Ms)
		out.Generator.BehindPct = math.Max(out.Generator.BehindPct, r.Generator.BehindPct)
		out.Generator.Due += r.Generator.Due
		behind += r.Generator.BehindPct * float64(r.Generator.Due)
		allDue = allDue && r.Generator.Due > 0
		out.Generator.Saturated = out.Generator.Saturated || r.Generator.Saturated
		out.Generator.CPUs += r.Generator.CPUs
		out.Verdict = worseVerdict(out.Verdict, r.Verdict)
		for _, why := range r.Reasons {
			out.Reasons = append(out.Reasons, fmt.Sprintf("report %d: %s", i+1, why))
		}
		if a := r.AbortedBy; a != nil && (out.AbortedBy == nil || a.AtS < out.AbortedBy.AtS) {
			// The slices started together: the first to stop says why.
			c := *a
			out.AbortedBy = &c
		}
		out.Merged += max(r.Merged, 1)
		out.Aborted = out.Aborted || r.Aborted
	}
	out.Start, out.End = snap.Start.UTC(), snap.End.UTC()
	out.DurationS = round(out.End.Sub(out.Start).Seconds(), 3)
	out.Clamped = snap.Clamped
	if err := out.fill(snap, out.DurationS); err != nil {
		return nil, err
	}
	for i := range out.Steps {
		// The reports are of one scenario: its steps' methods and tags.
		out.Steps[i].Method, out.Steps[i].Tags = rs[0].Steps[i].Method, rs[0].Steps[i].Tags
	}
	out.Rate.Target = round(out.Rate.Target, 3)
	out.Rate.Achieved = round(achieved, 3)
	// The generator's figures over every segment when their reports carry
	// them, else the worst segment's.
	if snap.Lag.TotalCount() > 0 {
		out.Generator.LagP99Ms = Millis(snap.Lag.ValueAtQuantile(99))
	}
	if allDue {
		out.Generator.BehindPct = round(behind/float64(out.Generator.Due), 3)
	} else {
		out.Generator.Due = 0
	}
	out.Series = mergeSeries(out.Start, rs)
	fs := make([]*FailureReport, len(rs))
	for i, r := range rs {
		fs[i] = r.Failures
	}
	out.Failures = MergeFailures(fs...)
	return out, nil
}

// Segment is the slice of a distributed run a report is of, from its
// profile's "segment" ("2/4", as `canary run --segment` counts: 1-based):
// ok is false for a whole run or a merge.
func (r *Report) Segment() (i, n int, ok bool) {
	m, _ := r.Profile.(map[string]any)
	s, _ := m["segment"].(string)
	if _, err := fmt.Sscanf(s, "%d/%d", &i, &n); err != nil || fmt.Sprintf("%d/%d", i, n) != s || i < 1 || i > n {
		return 0, 0, false
	}
	return i, n, true
}

// mergedProfile is the first report's profile, its segment saying what the
// merge is made of: "merged 3/4" when every report is a segment of 4 (3 of
// them here), nothing otherwise.
func mergedProfile(rs []*Report) any {
	m, ok := rs[0].Profile.(map[string]any)
	if !ok {
		return rs[0].Profile
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	delete(out, "segment")
	_, n, ok := rs[0].Segment()
	for _, r := range rs[1:] {
		_, rn, rok := r.Segment()
		ok = ok && rok && rn == n
	}
	if ok {
		out["segment"] = fmt.Sprintf("merged %d/%d", len(rs), n)
	}
	return out
}

// worseVerdict orders verdicts: inconclusive (the generator could not
// keep up, so nothing is known), then fail, then anything else.
func worseVerdict(a, b string) string {
	rank := func(v string) int {
		switch v {
		case "inconclusive":
			return 3
		case "fail":
			return 2
		case "":
			return 0
		}
		return 1
	}
	if rank(b) > rank(a) {
		return b
	}
	return a
}

// mergeSeries aligns the reports' series on wall-clock time, in buckets as
// wide as the coarsest series' spacing (a series is per second until it is
// downsampled). Rates (of iterations, of each class of failure, of each
// step's requests) add up; a p50 is the rate-weighted mean, a p99 the worst.
// The reports have the same steps (MergeReports checks), so their points'
// steps line up by index.
func mergeSeries(start time.Time, rs []*Report) []Point {
	width := 1.0
	for _, r := range rs {
		if len(r.Series) > 1 {
			width = math.Max(width, math.Round((r.Series[len(r.Series)-1].T-r.Series[0].T)/float64(len(r.Series)-1)))
		}
	}
	type stepAcc struct{ rate, p50w, p99 float64 }
	type acc struct {
		rate, errs, p50w, p99 float64
		classes               [NumErrorClasses]float64
		steps                 []stepAcc
		n                     int
	}
	buckets := map[int64][]acc{} // bucket → per report
	for i, r := range rs {
		offset := r.Start.Sub(start).Seconds()
		for _, p := range r.Series {
			// A point's t is where its span starts: to the nearest second
			// (flushes jitter), then the bucket that second falls in.
			k := int64(math.Floor(math.Round(p.T+offset) / width))
			b := buckets[k]
			if b == nil {
				b = make([]acc, len(rs))
				buckets[k] = b
			}
			a := &b[i]
			a.rate += p.Rate
			a.errs += p.Errors
			a.p50w += p.P50 * p.Rate
			a.p99 = math.Max(a.p99, p.P99)
			for name, v := range p.ErrorsByClass {
				if c, ok := ParseErrorClass(name); ok && c != ClassNone {
					a.classes[c] += v
				}
			}
			if len(p.Steps) > len(a.steps) {
				a.steps = append(a.steps, make([]stepAcc, len(p.Steps)-len(a.steps))...)
			}
			for j, sp := range p.Steps {
				s := &a.steps[j]
				s.rate += sp.Rate
				s.p50w += sp.P50 * sp.Rate
				s.p99 = math.Max(s.p99, sp.P99)
			}
			a.n++
		}
	}
	out := make([]Point, 0, len(buckets))
	for k, b := range buckets {
		p := Point{T: round(float64(k)*width, 3)}
		var classes [NumErrorClasses]float64
		var steps []stepAcc
		for _, a := range b {
			if a.n == 0 {
				continue
			}
			// Points of one report in one bucket cover equal spans: average them.
			n := float64(a.n)
			p.Rate += a.rate / n
			p.Errors += a.errs / n
			p.P50 += a.p50w / n
			p.P99 = math.Max(p.P99, a.p99)
			for c, v := range a.classes {
				classes[c] += v / n
			}
			if len(a.steps) > len(steps) {
				steps = append(steps, make([]stepAcc, len(a.steps)-len(steps))...)
			}
			for j, s := range a.steps {
				steps[j].rate += s.rate / n
				steps[j].p50w += s.p50w / n
				steps[j].p99 = math.Max(steps[j].p99, s.p99)
			}
		}
		p.P50 = ratio(p.P50, p.Rate)
		p.Rate, p.Errors, p.P50 = round(p.Rate, 3), round(p.Errors, 3), round(p.P50, 3)
		for c, v := range classes {
			if v > 0 {
				if p.ErrorsByClass == nil {
					p.ErrorsByClass = map[string]float64{}
				}
				p.ErrorsByClass[ErrorClass(c).String()] = round(v, 3)
			}
		}
		for _, s := range steps {
			p.Steps = append(p.Steps, StepPoint{Rate: round(s.rate, 3), P50: round(ratio(s.p50w, s.rate), 3), P99: s.p99})
		}
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b Point) int { return cmp.Compare(a.T, b.T) })
	return out
}

// ratio is a/b, or 0 when b is not positive.
func ratio(a, b float64) float64 {
	if b > 0 {
		return a / b
	}
	return 0
}
