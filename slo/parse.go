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

// The objective grammar (docs/run.md, "SLOs"), the same in --slo, in a
// scenario's and the daemon config's slos, in the generated rules and in
// the gate:
//
//	objective := subject op value [abort]
//	subject   := metric ["(" arg {"," arg} ")"]
//	metric    := pNN | median | max | mean | avg | errors | success | rps   (any case)
//	arg       := step | "iteration" | "service" | "corrected" | key "=" value
//	op        := "<" | "<=" | ">" | ">="
//	abort     := "abort_on_fail" ["(" key "=" value {"," key "=" value} ")"]
//
// A key=value argument filters by a step's method (method=POST), by the
// answer's status (status=5xx or status=503, for errors and success) or by
// one of the steps' tags (region=eu). Spaces are allowed anywhere between
// tokens and between a number and its unit.

// exprHelp is what a malformed objective is told.
const exprHelp = "want METRIC OP VALUE, e.g. p99<300ms, p95(login)<200ms, errors<1%, errors(login)<0.1%, success>=99.9%, rps>=90"

// ParseExpr parses an objective: "p99<300ms", "p95(login)<200ms",
// "p99(login, service)<50ms", "p99(checkout, region=eu)<400ms",
// "p99(iteration)<2s", "max<2s", "errors<1%", "errors(login)<0.1%",
// "errors(status=5xx)<1%", "success>=99.9%", "rps>=90", optionally followed
// by "abort_on_fail" (docs/run.md, "Aborting early").
func ParseExpr(s string) (Objective, error) {
	if o, ok, err := parseTLSExpiry(s); ok {
		return o, err
	}
	o, err := parseExpr(s)
	if err != nil {
		return Objective{}, fmt.Errorf("slo %q: %w", s, err)
	}
	return o, nil
}

var (
	metricRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.]*`)
	// StepNameRE is what a step name (and so a positional argument) looks like.
	stepNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)
	tagKeyRE   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

func parseExpr(s string) (Objective, error) {
	o := Objective{Name: strings.TrimSpace(s)}
	rest, err := parseSubject(&o, s)
	if err != nil {
		return Objective{}, err
	}
	rest = strings.TrimSpace(rest)
	opText := ""
	for _, op := range []string{"<=", ">=", "<", ">"} {
		if strings.HasPrefix(rest, op) {
			opText = op
			break
		}
	}
	if opText == "" {
		if strings.HasPrefix(rest, "=") || strings.HasPrefix(rest, "!") {
			return Objective{}, fmt.Errorf("operator %q: want <, <=, > or >=", strings.TrimRight(rest[:min(len(rest), 2)], " 0123456789"))
		}
		return Objective{}, errors.New(exprHelp)
	}
	o.Op = parseOp(opText)
	value, abortText := splitAbort(strings.TrimSpace(rest[len(opText):]))
	if value == "" {
		return Objective{}, errors.New(exprHelp)
	}
	if err := parseTarget(&o, value); err != nil {
		return Objective{}, err
	}
	if abortText != "" {
		a, err := ParseAbort(abortText)
		if err != nil {
			return Objective{}, err
		}
		o.Abort = a
	}
	return o, nil
}

// splitAbort separates a value from an "abort_on_fail" suffix.
func splitAbort(s string) (value, abort string) {
	// Searched in s itself: strings.ToLower(s) may be longer than s (an
	// invalid byte becomes the 3-byte U+FFFD), and an index into it could
	// fall outside s (found by FuzzParseExpr).
	const word = "abort_on_fail"
	for i := 0; i+len(word) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(word)], word) {
			return strings.TrimSpace(s[:i]), strings.TrimSpace(s[i:])
		}
	}
	return s, ""
}

// parseTarget reads the threshold in the objective's unit.
func parseTarget(o *Objective, value string) error {
	// "300 ms", "99.9 %": a unit may stand apart from its number.
	text := strings.Join(strings.Fields(value), "")
	var err error
	switch o.Kind {
	case KindSuccess, KindErrors:
		o.Target, err = parseExprRatio(o, text)
	case KindRPS:
		o.Target, err = strconv.ParseFloat(strings.TrimSuffix(text, "/s"), 64)
		if err != nil || o.Target < 0 || math.IsInf(o.Target, 0) || math.IsNaN(o.Target) {
			err = errors.New("must be a non-negative number of iterations (or requests) per second")
		}
	default:
		var d time.Duration
		d, err = parseLatency(text)
		o.Target = d.Seconds()
	}
	if err != nil {
		return fmt.Errorf("value %q: %w", value, err)
	}
	return nil
}

// parseExprRatio reads a ratio of an objective: a percentage. A bare
// number is refused — "errors<1" reads as 1 % to some and as 100 % to
// others — with the expression to write instead.
func parseExprRatio(o *Objective, text string) (float64, error) {
	if strings.HasSuffix(text, "%") {
		return ParseRatio(text)
	}
	v, err := strconv.ParseFloat(text, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, errors.New("want a percentage like 99.5% or 0.1%")
	}
	s := o.Subject() + o.Op.String()
	if v <= 1 {
		return 0, fmt.Errorf("a ratio needs a %%: %s%s%% is %s percent, %s%s%% is the fraction %s",
			s, text, text, s, strconv.FormatFloat(round(v*100, 6), 'f', -1, 64), text)
	}
	return 0, fmt.Errorf("a ratio needs a %%: write %s%s%%", s, text)
}

// ParseSubject parses what an objective measures, without an operator or a
// threshold: "p99", "p95(login)", "p99(login, service)", "max", "errors",
// "errors(login)", "success", "rps" — the left-hand side of an objective,
// for grammars that judge it another way (canary compare's relative
// objectives). Op and Target are left zero; errors do not repeat s.
func ParseSubject(s string) (Objective, error) {
	o := Objective{Name: strings.TrimSpace(s)}
	rest, err := parseSubject(&o, s)
	if err != nil {
		return Objective{}, err
	}
	if strings.TrimSpace(rest) != "" {
		return Objective{}, errors.New("want a metric like p99, p95(login), p99(login, service), errors or success")
	}
	return o, nil
}

// parseSubject reads the metric and its arguments into o and returns what
// follows them.
func parseSubject(o *Objective, s string) (rest string, err error) {
	t := strings.TrimLeft(s, " \t")
	name := metricRE.FindString(t)
	if name == "" {
		if strings.TrimSpace(s) == "" || strings.ContainsAny(t[:1], "<>=") {
			return "", errors.New(exprHelp)
		}
		return "", fmt.Errorf("%s (not %q)", exprHelp, clipText(t, 20))
	}
	t = strings.TrimLeft(t[len(name):], " \t")
	if err := parseMetric(o, strings.ToLower(name)); err != nil {
		return "", err
	}
	if strings.HasPrefix(t, "(") {
		end := strings.IndexByte(t, ')')
		if end < 0 {
			return "", fmt.Errorf("%s(…: the arguments have no closing ')'", name)
		}
		if err := parseArgs(o, t[1:end]); err != nil {
			return "", err
		}
		t = t[end+1:]
	}
	if err := checkScope(o); err != nil {
		return "", err
	}
	return t, nil
}

func parseMetric(o *Objective, metric string) error {
	switch {
	case metric == "success":
		o.Kind = KindSuccess
	case metric == "errors":
		o.Kind = KindErrors
	case metric == "rps":
		o.Kind = KindRPS
	case metric == "max":
		o.Kind, o.Stat = KindLatency, Max
	case metric == "mean" || metric == "avg":
		o.Kind, o.Stat = KindLatency, Mean
	case metric == "median":
		o.Kind, o.Stat, o.Percentile = KindLatency, Percentile, 50
	case strings.HasPrefix(metric, "p") && len(metric) > 1 && metric[1] >= '0' && metric[1] <= '9':
		p, err := strconv.ParseFloat(metric[1:], 64)
		if err == nil {
			p = normalizePercentile(metric[1:], p)
		}
		if err != nil || p <= 0 || p >= 100 {
			return fmt.Errorf("unknown metric %q (want pNN with 0 < NN < 100, max, mean, errors, success or rps)", metric)
		}
		o.Kind, o.Stat, o.Percentile = KindLatency, Percentile, p
	case strings.HasPrefix(metric, "iteration_") || strings.HasPrefix(metric, "iteration."):
		stat := metric[len("iteration_"):]
		return fmt.Errorf("unknown metric %q: for the whole iteration's duration write %s(iteration)", metric, stat)
	default:
		return fmt.Errorf("unknown metric %q (want pNN, max, mean, errors, success or rps)", metric)
	}
	return nil
}

// parseArgs reads the arguments between the parentheses: a step, the
// keywords iteration, service and corrected, and key=value filters.
func parseArgs(o *Objective, args string) error {
	if strings.TrimSpace(args) == "" {
		return errors.New("empty parentheses: name a step, a filter like method=POST, or iteration")
	}
	seen := map[string]bool{}
	for _, a := range strings.Split(args, ",") {
		a = strings.TrimSpace(a)
		if k, v, ok := strings.Cut(a, "="); ok {
			if err := addFilter(o, strings.TrimSpace(k), strings.TrimSpace(v), seen); err != nil {
				return err
			}
			continue
		}
		switch strings.ToLower(a) {
		case "":
			return fmt.Errorf("empty argument in %q", strings.TrimSpace(args))
		case "service":
			o.Service = true
			continue
		case "corrected":
			o.Service = false
			continue
		case "iteration":
			o.Iteration = true
			continue
		}
		if !stepNameRE.MatchString(a) {
			return fmt.Errorf("bad argument %q (want a step name, iteration, service, or a filter like method=POST, status=5xx or region=eu)", a)
		}
		if o.Step != "" {
			return fmt.Errorf("two steps %q and %q: an objective names at most one (or select several by a tag, like region=eu)", o.Step, a)
		}
		o.Step = a
	}
	return nil
}

// addFilter adds one key=value argument.
func addFilter(o *Objective, k, v string, seen map[string]bool) error {
	if v == "" {
		return fmt.Errorf("filter %s= has no value", k)
	}
	switch strings.ToLower(k) {
	case "step":
		if o.Step != "" {
			return fmt.Errorf("two steps %q and %q: an objective names at most one", o.Step, v)
		}
		if !stepNameRE.MatchString(v) {
			return fmt.Errorf("step=%s: not a step name", v)
		}
		o.Step = v
		return nil
	case FilterMethod:
		if !methodRE.MatchString(strings.ToUpper(v)) {
			return fmt.Errorf("method=%s: want an HTTP method like GET or POST", v)
		}
		k, v = FilterMethod, strings.ToUpper(v)
	case FilterStatus:
		if _, _, ok := statusRange(v); !ok {
			return fmt.Errorf("status=%s: want a status class like 5xx or a code like 503", v)
		}
		k, v = FilterStatus, strings.ToLower(v)
	default:
		if !tagKeyRE.MatchString(k) {
			return fmt.Errorf("filter %q: want a tag name (letters, digits, '_'), method or status", k)
		}
	}
	if seen[k] {
		return fmt.Errorf("filter %s given twice", k)
	}
	seen[k] = true
	o.Filters = append(o.Filters, Filter{Key: k, Value: v})
	return nil
}

var methodRE = regexp.MustCompile(`^[A-Z]{1,20}$`)

// statusRange reads a status filter: "5xx" (500–599) or "503".
func statusRange(v string) (lo, hi int, ok bool) {
	v = strings.ToLower(v)
	if len(v) == 3 && v[1:] == "xx" && v[0] >= '1' && v[0] <= '5' {
		lo = int(v[0]-'0') * 100
		return lo, lo + 99, true
	}
	code, err := strconv.Atoi(v)
	if err != nil || code < 100 || code > 599 || strconv.Itoa(code) != v {
		return 0, 0, false
	}
	return code, code, true
}

// checkScope refuses combinations that measure nothing.
func checkScope(o *Objective) error {
	status := o.filter(FilterStatus) != ""
	selects := o.Step != "" || len(o.Filters) > 0
	switch o.Kind {
	case KindLatency:
		if status {
			return errors.New("latency is kept per step, not per status: status= filters errors and success (e.g. errors(status=5xx)<1%)")
		}
		if o.Iteration && (selects || o.Service) {
			return errors.New("iteration is the whole iteration: it takes no step, filter or service")
		}
	default:
		if o.Service {
			return fmt.Errorf("service applies to latency, not %s", o.Kind)
		}
		if o.Iteration && selects {
			return fmt.Errorf("%s(iteration) counts whole iterations: it takes no step or filter", o.Kind)
		}
		if !selects {
			// Unqualified, success, errors and rps count iterations.
			o.Iteration = false
		}
	}
	return nil
}

// ParseAbort reads an "abort_on_fail" clause: "abort_on_fail" alone, or
// with settings: "abort_on_fail(min_samples=100, delay=30s, for=10s)".
func ParseAbort(s string) (*Abort, error) {
	t := strings.TrimSpace(s)
	const kw = "abort_on_fail"
	if len(t) < len(kw) || !strings.EqualFold(t[:len(kw)], kw) {
		return nil, fmt.Errorf("%q: want abort_on_fail or abort_on_fail(min_samples=N, delay=D, for=D)", s)
	}
	t = strings.TrimSpace(t[len(kw):])
	a := &Abort{}
	if t == "" {
		return a, nil
	}
	if !strings.HasPrefix(t, "(") || !strings.HasSuffix(t, ")") {
		return nil, fmt.Errorf("%q after abort_on_fail: want (min_samples=N, delay=D, for=D)", t)
	}
	for _, kv := range strings.Split(t[1:len(t)-1], ",") {
		k, v, ok := strings.Cut(kv, "=")
		k, v = strings.ToLower(strings.TrimSpace(k)), strings.TrimSpace(v)
		if !ok || v == "" {
			return nil, fmt.Errorf("abort_on_fail: %q: want key=value (min_samples, delay, for)", strings.TrimSpace(kv))
		}
		if err := a.set(k, v); err != nil {
			return nil, fmt.Errorf("abort_on_fail: %w", err)
		}
	}
	return a, nil
}

// set sets one abort setting from its text.
func (a *Abort) set(k, v string) error {
	switch k {
	case "min_samples":
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("min_samples=%s: want a whole number of samples", v)
		}
		a.MinSamples = n
	case "delay", "for":
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return fmt.Errorf("%s=%s: want a duration like 30s", k, v)
		}
		if k == "delay" {
			a.Delay = d
		} else {
			a.For = d
		}
	default:
		return fmt.Errorf("unknown setting %q (want min_samples, delay or for)", k)
	}
	return nil
}

func clipText(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
