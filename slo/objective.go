// Package slo turns measurements into verdicts: the objective grammar
// (success ratio, error ratio, latency percentiles and achieved rate, per
// request, step, tag or iteration), their evaluation over a window of stats,
// the pass / fail / inconclusive rules, error-budget burn rates, and when an
// objective is lost for good. It is pure: no clocks, no I/O.
package slo

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Kind is what an objective measures.
type Kind int

// The objective kinds.
const (
	KindSuccess   Kind = iota // share of iterations that succeeded
	KindErrors                // share of iterations that failed (dropped ones included)
	KindLatency               // a latency percentile (or max/mean) of a step or the whole iteration
	KindRPS                   // achieved iterations per second
	KindTLSExpiry             // time left before the first of the served certificates expires (tls.go)
)

func (k Kind) String() string {
	switch k {
	case KindSuccess:
		return "success"
	case KindErrors:
		return "errors"
	case KindLatency:
		return "latency"
	case KindRPS:
		return "rps"
	case KindTLSExpiry:
		return "tls_expiry"
	}
	return "unknown"
}

// Op compares an observed value with the objective's target.
type Op int

// The comparison operators.
const (
	LT Op = iota
	LE
	GT
	GE
)

func (o Op) String() string { return [...]string{"<", "<=", ">", ">="}[o] }

// holds reports whether observed op target.
func (o Op) holds(observed, target float64) bool {
	switch o {
	case LT:
		return observed < target
	case LE:
		return observed <= target
	case GT:
		return observed > target
	default:
		return observed >= target
	}
}

// Negated is the operator of a failed comparison, for reasons ("412 ms > 300 ms").
func (o Op) Negated() string { return [...]string{">=", ">", "<=", "<"}[o] }

// Statistic is which latency statistic a latency objective reads.
type Statistic int

// The latency statistics.
const (
	Percentile Statistic = iota
	Max
	Mean
)

// Objective is one service-level objective.
type Objective struct {
	// Name identifies the objective: the daemon config's name, or the
	// expression text of a --slo flag.
	Name string
	Kind Kind
	Op   Op
	// Target is a ratio in 0..1 (success, errors), seconds (latency,
	// tls_expiry) or iterations (or requests) per second (rps).
	Target float64
	// Latency objectives only.
	Stat       Statistic
	Percentile float64 // 0..100 when Stat is Percentile
	Service    bool    // service latency (from the actual send) instead of corrected

	// What is measured. Unqualified, a latency objective reads every
	// request of every step (as k6's http_req_duration), and success,
	// errors and rps count whole iterations. Step names one step; Filters
	// select requests by method, status or the steps' tags; Iteration asks
	// for the whole iteration: its duration without think time, or its
	// outcome.
	Step      string
	Filters   []Filter
	Iteration bool
	// Steps are the steps Step and Filters select, once Bind has resolved
	// them against a scenario; nil before.
	Steps []string
	// Abort, when set, stops a run as soon as the objective is lost
	// (docs/run.md, "Aborting early").
	Abort *Abort
}

// Filter is one key=value argument of an objective: a step's method, the
// answer's status (a class "5xx" or a code "503"), or a step tag.
type Filter struct {
	Key, Value string
}

// The filter keys that are not tags.
const (
	FilterMethod = "method"
	FilterStatus = "status"
)

// Abort says when an objective may stop a run before its end: once it has
// MinSamples samples and the run has lasted Delay, as soon as it is lost
// for good, or once it has failed for For (docs/run.md, "Aborting early").
type Abort struct {
	MinSamples int64
	Delay      time.Duration
	For        time.Duration
}

// String is the abort clause: "abort_on_fail", "abort_on_fail(for=10s)".
func (a *Abort) String() string {
	if a == nil {
		return ""
	}
	var parts []string
	if a.MinSamples > 0 {
		parts = append(parts, "min_samples="+strconv.FormatInt(a.MinSamples, 10))
	}
	if a.Delay > 0 {
		parts = append(parts, "delay="+a.Delay.String())
	}
	if a.For > 0 {
		parts = append(parts, "for="+a.For.String())
	}
	if len(parts) == 0 {
		return "abort_on_fail"
	}
	return "abort_on_fail(" + strings.Join(parts, ", ") + ")"
}

// filter returns the value of the filter with key k, or "".
func (o Objective) filter(k string) string {
	for _, f := range o.Filters {
		if f.Key == k {
			return f.Value
		}
	}
	return ""
}

// OnRequests reports whether the objective counts requests (of the steps
// it selects) rather than whole iterations: every latency objective but
// the iteration's, and success, errors and rps with a step or a filter.
func (o Objective) OnRequests() bool {
	if o.Iteration {
		return false
	}
	return o.Kind == KindLatency || o.Step != "" || len(o.Filters) > 0
}

// StatusFilter is the status range a status= filter selects.
func (o Objective) StatusFilter() (lo, hi int, ok bool) {
	v := o.filter(FilterStatus)
	if v == "" {
		return 0, 0, false
	}
	return statusRange(v)
}

// SelectsSteps reports whether the objective reads only some steps: it
// names one, or filters them by method or tag.
func (o Objective) SelectsSteps() bool {
	if o.Step != "" {
		return true
	}
	for _, f := range o.Filters {
		if f.Key != FilterStatus {
			return true
		}
	}
	return false
}

// needsBind reports whether only Bind can tell which steps o reads: it
// filters them by method or tag.
func (o Objective) needsBind() bool {
	for _, f := range o.Filters {
		if f.Key != FilterStatus {
			return true
		}
	}
	return false
}

// StepInfo is what an objective's arguments select a step by.
type StepInfo struct {
	Name   string
	Method string
	Tags   map[string]string
}

// Bind resolves the steps o selects among a scenario's (Steps). It fails,
// saying why, when a named step does not exist or no step passes the
// filters.
func (o *Objective) Bind(steps []StepInfo) error {
	o.Steps = nil
	if o.Iteration || !o.OnRequests() {
		return nil
	}
	names := make([]string, len(steps))
	for i, st := range steps {
		names[i] = st.Name
	}
	if o.Step != "" && !slices.Contains(names, o.Step) {
		return fmt.Errorf("the scenario has no step %q (steps: %s)", o.Step, strings.Join(names, ", "))
	}
	sel := []string{}
	for _, st := range steps {
		if o.selects(st) {
			sel = append(sel, st.Name)
		}
	}
	if len(sel) == 0 {
		return fmt.Errorf("no step has %s (%s)", o.filterText(), describeSteps(steps))
	}
	o.Steps = sel
	return nil
}

// selects reports whether st passes o's step and filters.
func (o Objective) selects(st StepInfo) bool {
	if o.Step != "" && st.Name != o.Step {
		return false
	}
	for _, f := range o.Filters {
		switch f.Key {
		case FilterStatus:
		case FilterMethod:
			if !strings.EqualFold(st.Method, f.Value) {
				return false
			}
		default:
			if v, ok := st.Tags[f.Key]; !ok || v != f.Value {
				return false
			}
		}
	}
	return true
}

// filterText is the step-selecting filters: "method=POST, region=eu".
func (o Objective) filterText() string {
	var parts []string
	if o.Step != "" {
		parts = append(parts, "step="+o.Step)
	}
	for _, f := range o.Filters {
		if f.Key != FilterStatus {
			parts = append(parts, f.Key+"="+f.Value)
		}
	}
	return strings.Join(parts, ", ")
}

// describeSteps lists steps with their methods and tags, for errors.
func describeSteps(steps []StepInfo) string {
	parts := make([]string, 0, len(steps))
	for _, st := range steps {
		p := st.Name + ": method=" + st.Method
		for _, k := range slices.Sorted(maps.Keys(st.Tags)) {
			p += ", " + k + "=" + st.Tags[k]
		}
		parts = append(parts, p)
	}
	return "steps " + strings.Join(parts, "; ")
}

// Budget is the share of events allowed to be bad: 1 − 99.5% for a success
// objective, 1% for errors<1%, the share above the percentile for a latency
// percentile. Zero when the objective has no error budget (rps, max, mean).
func (o Objective) Budget() float64 {
	switch o.Kind {
	case KindSuccess:
		return 1 - o.Target
	case KindErrors:
		return o.Target
	case KindLatency:
		if o.Stat == Percentile && (o.Op == LT || o.Op == LE) {
			return (100 - o.Percentile) / 100
		}
	}
	return 0
}

// HasBudget reports whether burn rates apply to the objective.
func (o Objective) HasBudget() bool { return o.Budget() > 0 }

// Subject names what is measured: "p99(login)", "success",
// "errors(status=5xx)", "p99(checkout, region=eu)", "p99(iteration)".
func (o Objective) Subject() string {
	s := o.Kind.String()
	if o.Kind == KindLatency {
		s = o.statName()
	}
	var args []string
	switch {
	case o.Iteration && o.Kind == KindLatency:
		args = append(args, "iteration")
	case isKeyword(o.Step):
		// A step named like a keyword is named by key.
		args = append(args, "step="+o.Step)
	case o.Step != "":
		args = append(args, o.Step)
	}
	for _, f := range o.Filters {
		args = append(args, f.Key+"="+f.Value)
	}
	if o.Service {
		args = append(args, "service")
	}
	if len(args) > 0 {
		s += "(" + strings.Join(args, ", ") + ")"
	}
	return s
}

// isKeyword reports whether s is one of the grammar's keyword arguments.
func isKeyword(s string) bool {
	return s == "iteration" || s == "service" || s == "corrected"
}

// statName is a latency objective's statistic: "p99", "max", "mean".
func (o Objective) statName() string {
	switch o.Stat {
	case Max:
		return "max"
	case Mean:
		return "mean"
	}
	return "p" + strconv.FormatFloat(o.Percentile, 'f', -1, 64)
}

// FormatValue prints a value in the objective's unit: "300ms", "99.5%", "90".
func (o Objective) FormatValue(v float64) string {
	switch o.Kind {
	case KindSuccess, KindErrors:
		return strconv.FormatFloat(round(v*100, 4), 'f', -1, 64) + "%"
	case KindLatency:
		return FormatSeconds(v)
	case KindTLSExpiry:
		return formatExpiry(v)
	}
	return strconv.FormatFloat(round(v, 2), 'f', -1, 64)
}

// String is the canonical expression: "p99(login)<300ms", "success>=99.5%"
// (without an abort clause: see Spec).
func (o Objective) String() string {
	return o.Subject() + o.Op.String() + o.FormatValue(o.Target)
}

// Spec is the canonical expression with its abort clause, if any:
// "errors<1% abort_on_fail(for=10s)".
func (o Objective) Spec() string {
	if o.Abort == nil {
		return o.String()
	}
	return o.String() + " " + o.Abort.String()
}

// FormatSeconds prints a latency compactly: "850µs", "412ms", "1.25s".
func FormatSeconds(s float64) string {
	switch {
	case s < 0.001:
		return strconv.FormatFloat(round(s*1e6, 1), 'f', -1, 64) + "µs"
	case s < 1:
		return strconv.FormatFloat(round(s*1e3, 2), 'f', -1, 64) + "ms"
	}
	return strconv.FormatFloat(round(s, 3), 'f', -1, 64) + "s"
}

func round(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}

func parseOp(s string) Op {
	switch s {
	case "<":
		return LT
	case "<=":
		return LE
	case ">":
		return GT
	}
	return GE
}

// normalizePercentile reads "999" as 99.9 and "9999" as 99.99 (the k6 and
// HdrHistogram habit of writing p999), keeping "99.9" as written.
func normalizePercentile(text string, p float64) float64 {
	if !strings.Contains(text, ".") && len(text) > 2 && strings.HasPrefix(text, "99") {
		p, _ = strconv.ParseFloat(text[:2]+"."+text[2:], 64)
	}
	return p
}

// ParseRatio reads "99.9%", "1%" or a plain fraction "0.01" into 0..1.
func ParseRatio(s string) (float64, error) {
	t := strings.TrimSpace(s)
	pct := strings.HasSuffix(t, "%")
	v, err := strconv.ParseFloat(strings.TrimSuffix(t, "%"), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("want a percentage like 99.5%% or a fraction like 0.995")
	}
	if pct {
		v /= 100
	}
	if v < 0 || v > 1 {
		return 0, fmt.Errorf("must be between 0%% and 100%%")
	}
	return v, nil
}

// parseLatency reads "300ms", "1.5s", "850us"; a bare number means milliseconds.
func parseLatency(s string) (time.Duration, error) {
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if f < 0 || math.IsNaN(f) || math.IsInf(f, 0) || f > 3.6e6 {
			return 0, errors.New("must be a latency between 0 and 1h")
		}
		return time.Duration(f * float64(time.Millisecond)), nil
	}
	d, err := time.ParseDuration(strings.ReplaceAll(s, "µs", "us"))
	if err != nil || d < 0 {
		return 0, errors.New("want a latency like 300ms or 1.5s")
	}
	return d, nil
}
