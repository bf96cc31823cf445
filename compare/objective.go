package compare

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/canaryproj/canary/slo"
)

// Measure is what a relative objective compares.
type Measure int

// The measures.
const (
	// Percentile is a latency percentile (p50, p99(login)), judged by its
	// bootstrap interval.
	Percentile Measure = iota
	// Latency is the typical latency: the Hodges–Lehmann shift between the
	// two versions' latencies, judged by the rank test's interval.
	Latency
	// Errors is the share of iterations that failed (dropped ones included).
	Errors
	// Success is the share of iterations that succeeded.
	Success
)

// Unit is how an allowance is written.
type Unit int

// The units.
const (
	// Relative is a share of the baseline's value: "10%" is 0.10.
	Relative Unit = iota
	// Seconds is a latency: "5ms" is 0.005.
	Seconds
	// Points are percentage points of a rate: "0.1pp" is 0.001.
	Points
)

func (u Unit) String() string {
	switch u {
	case Relative:
		return "relative"
	case Seconds:
		return "seconds"
	}
	return "points"
}

// Objective is a relative objective: the candidate may be worse than the
// baseline by at most Allowance. Write one as
//
//	p99 not worse by more than 10%
//	p50(login) not worse by more than 5ms
//	latency(checkout, service) not worse by more than 5%
//	errors not higher by more than 0.1pp
//	success not lower by more than 0.1pp
//	p99 not worse
//
// The subjects are the SLO grammar's (pNN, a step, service latency), plus
// latency, the typical latency of every request.
type Objective struct {
	// Name is the expression as written.
	Name    string
	Measure Measure
	// Percentile (0..100), Step ("" for the whole iteration) and Service
	// (service instead of corrected latency) say which latency; for
	// Latency, Percentile is 0.
	Percentile float64
	Step       string
	Service    bool
	// Allowance is how much worse the candidate may be, in Unit: a share of
	// the baseline's value, seconds, or a rate difference (0.001 for 0.1pp).
	Allowance float64
	Unit      Unit
}

// worseWhenHigher reports the direction of "worse": up for latency and
// errors, down for success.
func (o Objective) worseWhenHigher() bool { return o.Measure != Success }

// word is the canonical direction word: "worse", "higher" or "lower".
func (o Objective) word() string {
	switch o.Measure {
	case Errors:
		return "higher"
	case Success:
		return "lower"
	}
	return "worse"
}

// latencyObjective is the slo.Objective naming o's latency series, for
// slo.LatencyHistogram.
func (o Objective) latencyObjective() slo.Objective {
	// Without a step, compare reads the whole iteration (or, for service
	// latency, every request), as it always has.
	return slo.Objective{Kind: slo.KindLatency, Stat: slo.Percentile, Percentile: o.Percentile, Step: o.Step, Service: o.Service,
		Iteration: o.Step == "" && !o.Service}
}

// Subject names what is compared: "p99(login)", "latency(service)",
// "errors".
func (o Objective) Subject() string {
	switch o.Measure {
	case Errors:
		return "errors"
	case Success:
		return "success"
	case Latency:
		// The SLO grammar prints the series' arguments; only the name differs.
		p := o.latencyObjective()
		p.Percentile, p.Iteration = 50, false
		return "latency" + strings.TrimPrefix(p.Subject(), "p50")
	}
	p := o.latencyObjective()
	p.Iteration = false // compare's own default, unwritten
	return p.Subject()
}

// String is the canonical expression: "p99(login) not worse by more than 10%".
func (o Objective) String() string {
	s := o.Subject() + " not " + o.word()
	if o.Allowance > 0 {
		s += " by more than " + o.FormatAllowance(o.Allowance)
	}
	return s
}

// FormatAllowance prints an amount in o's unit: "10%", "5ms", "0.1pp".
func (o Objective) FormatAllowance(v float64) string {
	switch o.Unit {
	case Relative:
		return strconv.FormatFloat(roundTo(v*100, 4), 'f', -1, 64) + "%"
	case Seconds:
		return slo.FormatSeconds(v)
	}
	return strconv.FormatFloat(roundTo(v*100, 4), 'f', -1, 64) + "pp"
}

func roundTo(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}

// ParseError is a relative objective that does not parse, with where: Col
// counts characters from 1, so that a caller that knows where the
// expression starts in a file can point at the offending word.
type ParseError struct {
	Expr string
	Col  int
	Msg  string
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("objective %q: col %d: %s", e.Expr, e.Col, e.Msg)
}

// example is shown with errors about the expression's shape.
const example = "e.g. p99 not worse by more than 10%, errors not higher by more than 0.1pp"

// token is a word of an expression and its byte offset. A parenthesised
// group is part of the word it follows, spaces and all.
type token struct {
	text string
	off  int
}

func tokenize(s string) []token {
	var toks []token
	depth, start := 0, -1
	for i, r := range s {
		switch {
		case r == '(':
			depth++
		case r == ')' && depth > 0:
			depth--
		case unicode.IsSpace(r) && depth == 0:
			if start >= 0 {
				toks = append(toks, token{s[start:i], start})
				start = -1
			}
			continue
		}
		if start < 0 {
			start = i
		}
	}
	if start >= 0 {
		toks = append(toks, token{s[start:], start})
	}
	return toks
}

// ParseObjective parses a relative objective (see Objective).
func ParseObjective(s string) (Objective, error) {
	fail := func(off int, format string, args ...any) (Objective, error) {
		return Objective{}, &ParseError{Expr: s, Col: utf8.RuneCountInString(s[:off]) + 1, Msg: fmt.Sprintf(format, args...)}
	}
	toks := tokenize(s)
	not := -1
	for i, t := range toks {
		if t.text == "not" {
			not = i
			break
		}
	}
	switch {
	case len(toks) == 0:
		return fail(0, "want SUBJECT not worse by more than AMOUNT, %s", example)
	case not == 0:
		return fail(toks[0].off, "want a subject before \"not\" (p99, p50(login), latency, errors or success)")
	case not < 0 && len(toks) == 1:
		return fail(len(s), "want \"not worse\" after %q, %s", toks[0].text, example)
	case not < 0:
		return fail(toks[1].off, "want \"not worse\" after the subject, got %q; %s", toks[1].text, example)
	}
	subjectEnd := toks[not-1].off + len(toks[not-1].text)
	o := Objective{Name: strings.TrimSpace(s)}
	if err := parseComparedSubject(&o, s[toks[0].off:subjectEnd]); err != nil {
		return fail(toks[0].off, "%v", err)
	}

	rest := toks[not+1:]
	if len(rest) == 0 {
		return fail(len(s), "want %q after \"not\"", o.word())
	}
	if msg := checkDirection(o, rest[0].text); msg != "" {
		return fail(rest[0].off, "%s", msg)
	}
	rest = rest[1:]
	if len(rest) == 0 {
		return o, nil // no allowance: any worsening beyond the minimum effect counts
	}
	for _, w := range []string{"by", "more", "than"} {
		if len(rest) == 0 {
			return fail(len(s), "want \"by more than AMOUNT\", %s", example)
		}
		if rest[0].text != w {
			return fail(rest[0].off, "want \"by more than AMOUNT\", got %q; %s", rest[0].text, example)
		}
		rest = rest[1:]
	}
	if len(rest) == 0 {
		return fail(len(s), "want an amount after \"by more than\": %s", amountHint(o))
	}
	// "10 %" and "0.1 pp": a unit may stand apart from its number.
	amount, end := rest[0].text, 1
	if len(rest) > 1 && isUnit(rest[1].text) {
		amount, end = amount+rest[1].text, 2
	}
	if len(rest) > end {
		return fail(rest[end].off, "unexpected %q after the amount", rest[end].text)
	}
	v, unit, msg := parseAmount(o, amount)
	if msg != "" {
		return fail(rest[0].off, "%s", msg)
	}
	o.Allowance, o.Unit = v, unit
	return o, nil
}

// parseComparedSubject fills o's measure and latency series from the
// subject, the SLO grammar's left-hand side or "latency".
func parseComparedSubject(o *Objective, subject string) error {
	if rest, ok := strings.CutPrefix(subject, "latency"); ok && (rest == "" || strings.HasPrefix(strings.TrimSpace(rest), "(")) {
		// latency(login, service): the SLO grammar's arguments, read off a
		// percentile so that they mean the same.
		so, err := slo.ParseSubject("p50" + rest)
		if err != nil {
			return err
		}
		if len(so.Filters) > 0 || so.Iteration {
			return fmt.Errorf("latency%s: compare judges latency per step, without filters", rest)
		}
		o.Measure, o.Step, o.Service = Latency, so.Step, so.Service
		o.Unit = Relative
		return nil
	}
	so, err := slo.ParseSubject(subject)
	if err != nil {
		return fmt.Errorf("%w; or latency, the typical latency", err)
	}
	if len(so.Filters) > 0 || so.Iteration || so.Kind != slo.KindLatency && so.Step != "" {
		return fmt.Errorf("%s: compare judges errors and success over whole iterations and latency per step, without filters", so.Subject())
	}
	switch {
	case so.Kind == slo.KindErrors:
		o.Measure, o.Unit = Errors, Points
	case so.Kind == slo.KindSuccess:
		o.Measure, o.Unit = Success, Points
	case so.Kind == slo.KindRPS:
		return fmt.Errorf("rps cannot be compared: one schedule drives both versions at the same rate; compare latency or errors")
	case so.Stat == slo.Max:
		return fmt.Errorf("%s cannot be compared statistically: it is one request, the slowest; compare p99 or p99.9", so.Subject())
	case so.Stat == slo.Mean:
		return fmt.Errorf("%s is not compared: one slow outlier moves it; compare latency (the typical shift) or a percentile", so.Subject())
	default:
		o.Measure, o.Percentile, o.Step, o.Service, o.Unit = Percentile, so.Percentile, so.Step, so.Service, Relative
	}
	return nil
}

// checkDirection accepts "worse", or the direction word that means worse
// for o's measure: "higher" for latency and errors, "lower" for success. It
// returns why not otherwise.
func checkDirection(o Objective, w string) string {
	worse := "higher"
	if !o.worseWhenHigher() {
		worse = "lower"
	}
	switch {
	case w == "worse" || w == worse:
		return ""
	case w == "higher" || w == "lower":
		return fmt.Sprintf("%s is worse when %s: write %q", o.Subject(), worse, o.Subject()+" not "+o.word())
	}
	return fmt.Sprintf("want \"worse\" or %q after \"not\", got %q", worse, w)
}

func isUnit(s string) bool {
	switch s {
	case "%", "pp", "ns", "us", "µs", "ms", "s", "m":
		return true
	}
	return false
}

func amountHint(o Objective) string {
	if o.Measure == Errors || o.Measure == Success {
		return "percentage points like 0.1pp"
	}
	return "a share of the baseline like 10%, or a latency like 5ms"
}

// parseAmount reads an allowance for o: a share or a latency for latency
// measures, percentage points for rates. msg says what is wrong.
func parseAmount(o Objective, s string) (v float64, u Unit, msg string) {
	rate := o.Measure == Errors || o.Measure == Success
	number := func(text string) (float64, bool) {
		f, err := strconv.ParseFloat(text, 64)
		return f, err == nil && f >= 0 && !math.IsInf(f, 0) && !math.IsNaN(f)
	}
	switch {
	case strings.HasSuffix(s, "pp"):
		f, ok := number(strings.TrimSuffix(s, "pp"))
		switch {
		case !rate:
			return 0, 0, fmt.Sprintf("%q: percentage points are for errors and success; %s takes %s", s, o.Subject(), amountHint(o))
		case !ok || f > 100:
			return 0, 0, fmt.Sprintf("%q: want percentage points from 0pp to 100pp, like 0.1pp", s)
		}
		return f / 100, Points, ""
	case strings.HasSuffix(s, "%"):
		f, ok := number(strings.TrimSuffix(s, "%"))
		switch {
		case rate:
			return 0, 0, fmt.Sprintf("%q: write the allowance of a rate in percentage points, like 0.1pp (%s of a rate near zero means little)", s, s)
		case !ok || f > 1000:
			return 0, 0, fmt.Sprintf("%q: want a share of the baseline from 0%% to 1000%%, like 10%%", s)
		}
		return f / 100, Relative, ""
	}
	if rate {
		return 0, 0, fmt.Sprintf("%q: want %s", s, amountHint(o))
	}
	d, err := time.ParseDuration(strings.ReplaceAll(s, "µs", "us"))
	if err != nil || d < 0 || d > time.Hour {
		return 0, 0, fmt.Sprintf("%q: want %s (a latency up to 1h)", s, amountHint(o))
	}
	return d.Seconds(), Seconds, ""
}
