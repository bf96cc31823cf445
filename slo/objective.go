// Package slo turns measurements into verdicts: objectives (success ratio,
// error ratio, latency percentiles per step or iteration, achieved rate), their
// evaluation over a window of stats, the pass / fail / inconclusive rules, and
// error-budget burn rates. It is pure: no clocks, no I/O.
package slo

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Kind is what an objective measures.
type Kind int

// The objective kinds.
const (
	KindSuccess Kind = iota // share of iterations that succeeded
	KindErrors              // share of iterations that failed (dropped ones included)
	KindLatency             // a latency percentile (or max/mean) of a step or the whole iteration
	KindRPS                 // achieved iterations per second
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
	// Target is a ratio in 0..1 (success, errors), seconds (latency) or
	// iterations per second (rps).
	Target float64
	// Latency objectives only.
	Stat       Statistic
	Percentile float64 // 0..100 when Stat is Percentile
	Step       string  // "" = the whole iteration
	Service    bool    // service latency (from the actual send) instead of corrected
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

// Subject names what is measured: "p99(login)", "success", "max".
func (o Objective) Subject() string {
	switch o.Kind {
	case KindSuccess, KindErrors, KindRPS:
		return o.Kind.String()
	}
	s := o.statName()
	switch {
	case o.Step != "" && o.Service:
		s += "(" + o.Step + ", service)"
	case o.Step != "":
		s += "(" + o.Step + ")"
	case o.Service:
		s += "(service)"
	}
	return s
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
	}
	return strconv.FormatFloat(round(v, 2), 'f', -1, 64)
}

// String is the canonical expression: "p99(login)<300ms", "success>=99.5%".
func (o Objective) String() string {
	return o.Subject() + o.Op.String() + o.FormatValue(o.Target)
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

// The metric may be written in any case (P99, Errors), and the value may
// have spaces between its number and its unit ("300 ms", "99.9 %").
var exprRE = regexp.MustCompile(`^\s*([A-Za-z][A-Za-z0-9.]*)\s*(?:\(\s*([^)]*?)\s*\))?\s*(<=|>=|<|>)\s*(\S.*?)\s*$`)

// ParseExpr parses a --slo expression: "p99<300ms", "p95(login)<200ms",
// "p99(login, service)<50ms", "max<2s", "mean<100ms", "errors<1%",
// "success>=99.9%", "rps>=90".
func ParseExpr(s string) (Objective, error) {
	m := exprRE.FindStringSubmatch(s)
	if m == nil {
		return Objective{}, fmt.Errorf("slo %q: want METRIC OP VALUE, e.g. p99<300ms, p95(login)<200ms, errors<1%%, success>=99.9%%, rps>=90", s)
	}
	metric, args, opText := strings.ToLower(m[1]), m[2], m[3]
	value := strings.Join(strings.Fields(m[4]), "")
	o := Objective{Name: strings.TrimSpace(s), Op: parseOp(opText)}
	var err error
	switch metric {
	case "success", "errors":
		o.Kind = KindSuccess
		if metric == "errors" {
			o.Kind = KindErrors
		}
		if args != "" {
			return Objective{}, fmt.Errorf("slo %q: %s takes no step (it counts whole iterations)", s, metric)
		}
		o.Target, err = ParseRatio(value)
	case "rps":
		o.Kind = KindRPS
		if args != "" {
			return Objective{}, fmt.Errorf("slo %q: rps takes no step", s)
		}
		o.Target, err = strconv.ParseFloat(value, 64)
		if err == nil && (o.Target < 0 || math.IsInf(o.Target, 0) || math.IsNaN(o.Target)) {
			err = errors.New("must be a non-negative number")
		}
	default:
		o.Kind = KindLatency
		if err := parseLatencyMetric(&o, metric, args); err != nil {
			return Objective{}, fmt.Errorf("slo %q: %w", s, err)
		}
		var d time.Duration
		d, err = parseLatency(value)
		o.Target = d.Seconds()
	}
	if err != nil {
		return Objective{}, fmt.Errorf("slo %q: value %q: %w", s, value, err)
	}
	return o, nil
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

func parseLatencyMetric(o *Objective, metric, args string) error {
	switch {
	case metric == "max":
		o.Stat = Max
	case metric == "mean" || metric == "avg":
		o.Stat = Mean
	case metric == "median":
		o.Stat, o.Percentile = Percentile, 50
	case strings.HasPrefix(metric, "p"):
		p, err := strconv.ParseFloat(metric[1:], 64)
		if err == nil {
			p = normalizePercentile(metric[1:], p)
		}
		if err != nil || p <= 0 || p >= 100 {
			return fmt.Errorf("unknown metric %q (want pNN with 0 < NN < 100, max, mean, errors, success or rps)", metric)
		}
		o.Stat, o.Percentile = Percentile, p
	default:
		return fmt.Errorf("unknown metric %q (want pNN, max, mean, errors, success or rps)", metric)
	}
	if args == "" {
		return nil
	}
	parts := strings.Split(args, ",")
	if len(parts) > 2 {
		return fmt.Errorf("too many arguments %q (want STEP or STEP, service)", args)
	}
	for i, p := range parts {
		p = strings.TrimSpace(p)
		switch {
		case p == "service" && (i == 1 || len(parts) == 1):
			o.Service = true
		case p == "corrected" && (i == 1 || len(parts) == 1):
		case i == 0 && p != "":
			o.Step = p
		default:
			return fmt.Errorf("bad argument %q (want a step name, then optionally service or corrected)", p)
		}
	}
	return nil
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

var subjectRE = regexp.MustCompile(`^\s*([a-z][a-z0-9.]*)\s*(?:\(\s*([^)]*?)\s*\))?\s*$`)

// ParseSubject parses what an objective measures, without an operator or a
// threshold: "p99", "p95(login)", "p99(login, service)", "max", "errors",
// "success", "rps" — the left-hand side of a --slo expression, for grammars
// that judge it another way (canary compare's relative objectives). Op and
// Target are left zero; errors do not repeat s.
func ParseSubject(s string) (Objective, error) {
	m := subjectRE.FindStringSubmatch(s)
	if m == nil {
		return Objective{}, errors.New("want a metric like p99, p95(login), p99(login, service), errors or success")
	}
	metric, args := m[1], m[2]
	o := Objective{Name: strings.TrimSpace(s)}
	switch metric {
	case "success", "errors":
		o.Kind = KindSuccess
		if metric == "errors" {
			o.Kind = KindErrors
		}
		if args != "" {
			return Objective{}, fmt.Errorf("%s takes no step (it counts whole iterations)", metric)
		}
	case "rps":
		o.Kind = KindRPS
		if args != "" {
			return Objective{}, errors.New("rps takes no step")
		}
	default:
		o.Kind = KindLatency
		if err := parseLatencyMetric(&o, metric, args); err != nil {
			return Objective{}, err
		}
	}
	return o, nil
}
