package alert

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/canaryproj/canary/slo"
	"github.com/canaryproj/canary/stats"
)

// Burn is an SLO's error-budget spend over one window.
type Burn struct {
	// Rate is the share of bad events divided by the budget: 1 spends
	// exactly the budget over the SLO period.
	Rate float64
	// Span is how far back the window's data reaches, at most the window's
	// length: less while the check is younger than the window (it just
	// started, or the daemon restarted and its windows are in memory).
	Span time.Duration
}

// Measure is an SLO's burn over each window, from a check's snapshots of
// those windows keyed by their length — what the daemon feeds Evaluate
// every evaluate_every. A window without events is absent: it neither
// fires nor resolves anything. Objectives without an error budget give an
// empty map.
func Measure(o slo.Objective, snaps map[time.Duration]*stats.Snapshot) map[time.Duration]Burn {
	out := make(map[time.Duration]Burn, len(snaps))
	if !o.HasBudget() {
		return out
	}
	for w, snap := range snaps {
		ratio, _, ok := slo.BadRatio(o, snap)
		if !ok {
			continue
		}
		out[w] = Burn{Rate: ratio / o.Budget(), Span: max(0, min(w, snap.End.Sub(snap.Start)))}
	}
	return out
}

// covered reports whether a window's data reaches back over its length, to
// within max(1 s, 2 %): the flush period and the windows' granularity.
func covered(b Burn, w time.Duration) bool {
	return b.Span >= w-max(time.Second, w/50)
}

// verdict is what one evaluation says about one alert.
type verdict int

const (
	// noData: some rule cannot be judged (a window without events, or a
	// short window not covered yet) and no judged rule says otherwise.
	noData verdict = iota
	// quiet: every rule is judged and quiet (see ruleQuiet).
	quiet
	// burning: no rule is exceeded, but some rule is not quiet. It keeps
	// a firing alert firing without paging anew.
	burning
	// bad: some rule is exceeded over both its windows.
	bad
)

// judge applies the multi-window, multi-burn-rate policy. The first rule
// exceeded over both of its windows decides the severity: the policy lists
// the most urgent first. A rule is judged only once its short window is
// covered: right after a start both windows hold the same few seconds, and
// a burn rate over a few events is noise that would page.
func judge(p *Policy, burn map[time.Duration]Burn) (verdict, BurnWindow) {
	complete, allQuiet := len(p.Windows) > 0, true
	for _, w := range p.Windows {
		long, okL := burn[w.Long]
		short, okS := burn[w.Short]
		if !okL || !okS || !covered(short, w.Short) {
			complete = false
			continue
		}
		if long.Rate > w.Factor && short.Rate > w.Factor {
			return bad, w
		}
		allQuiet = allQuiet && ruleQuiet(w, long, short)
	}
	switch {
	case !allQuiet:
		return burning, BurnWindow{}
	case !complete:
		return noData, BurnWindow{}
	}
	return quiet, BurnWindow{}
}

// ruleQuiet is the level half of the hysteresis: a rule is quiet when its
// short window is back within the objective itself (a burn rate of at most
// 1), or when neither of its windows burns above the factor any more.
//
// A firing alert resolves only after every rule has been quiet for a while
// (see Manager.step). Under a steady burn above the factor the long window
// stays above it — it holds twelve times the short window's events, so
// noise hardly moves it — and the short window would have to fall all the
// way to the objective, not just under the factor, to count: a noisy short
// window dipping under the factor for an evaluation or three, which is
// what made alerts flap, no longer resolves anything. Once the burn stops,
// the short window empties of bad events within its length, and the alert
// resolves without waiting for the long window to forget the incident.
func ruleQuiet(w BurnWindow, long, short Burn) bool {
	return short.Rate <= min(1, w.Factor) || (long.Rate <= w.Factor && short.Rate <= w.Factor)
}

// resolveFor is how long every rule must stay quiet before a firing alert
// resolves: the policy's ResolveFor, by default its shortest short window.
func resolveFor(p *Policy) time.Duration {
	if p.ResolveFor > 0 {
		return p.ResolveFor
	}
	var d time.Duration
	for _, w := range p.Windows {
		if d == 0 || w.Short < d {
			d = w.Short
		}
	}
	return d
}

// windowsText says what the SLO measured over a rule's two windows against
// its objective, long window first: "success 97.92% and 98.1% < 99.9% over
// 1h and 5m", or, when the windows disagree, "success 99.21% < 99.9% over
// 1h, 99.97% ≥ 99.9% over 5m". A window without data reads "n/a".
func windowsText(o slo.Objective, rule BurnWindow, burn map[time.Duration]Burn) string {
	name, value, target, meets, misses := sli(o)
	if name == "" {
		return ""
	}
	type part struct{ v, cmp, over string }
	var parts []part
	for _, w := range []time.Duration{rule.Long, rule.Short} {
		b, ok := burn[w]
		if !ok {
			parts = append(parts, part{"n/a", "", slo.FormatDuration(w)})
			continue
		}
		cmp := misses
		if b.Rate <= 1 {
			cmp = meets
		}
		parts = append(parts, part{value(b.Rate), cmp, slo.FormatDuration(w)})
	}
	l, s := parts[0], parts[1]
	if l.cmp != "" && l.cmp == s.cmp {
		return name + " " + l.v + " and " + s.v + " " + l.cmp + " " + target + " over " + l.over + " and " + s.over
	}
	text := func(p part) string {
		if p.cmp == "" {
			return p.v + " over " + p.over
		}
		return p.v + " " + p.cmp + " " + target + " over " + p.over
	}
	return name + " " + text(l) + ", " + text(s)
}

// sli names what an objective with an error budget measures and how to
// print it from a burn rate: the success ratio, the error ratio, or the
// share of requests within a latency threshold. meets and misses are the
// comparisons with the target when the objective is met or missed.
func sli(o slo.Objective) (name string, value func(rate float64) string, target, meets, misses string) {
	budget := o.Budget()
	if budget <= 0 {
		return "", nil, "", "", ""
	}
	var goal float64
	bad := false
	switch o.Kind {
	case slo.KindSuccess:
		name, goal = "success", o.Target
	case slo.KindErrors:
		name, goal, bad = "errors", o.Target, true
	case slo.KindLatency:
		who := o.Step
		switch {
		case !o.OnRequests():
			who = "iterations"
		case who == "":
			who = "requests"
		}
		var filters []string
		for _, f := range o.Filters {
			filters = append(filters, f.Key+"="+f.Value)
		}
		if len(filters) > 0 {
			who += " (" + strings.Join(filters, ", ") + ")"
		}
		if o.Service {
			who += " (service)"
		}
		name, goal = who+" within "+slo.FormatSeconds(o.Target), 1-budget
	default:
		return "", nil, "", "", ""
	}
	digits := percentDigits(goal)
	value = func(rate float64) string {
		v := rate * budget // the bad share
		if !bad {
			v = 1 - v
		}
		return percent(v, digits)
	}
	if bad {
		return name, value, percent(goal, digits-1), "≤", ">"
	}
	return name, value, percent(goal, digits-1), "≥", "<"
}

// percentDigits is how many decimals tell values apart near a target: one
// more than the target itself has (99.9% → 2: "99.95%"), 1 to 4.
func percentDigits(target float64) int {
	s := strconv.FormatFloat(math.Round(target*1e6)/1e4, 'f', -1, 64)
	d := 0
	if _, frac, ok := strings.Cut(s, "."); ok {
		d = len(frac)
	}
	return min(max(d+1, 1), 4)
}

func percent(v float64, digits int) string {
	s := strconv.FormatFloat(v*100, 'f', max(digits, 0), 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s + "%"
}
