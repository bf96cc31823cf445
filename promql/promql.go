// Package promql builds the PromQL that canary's generated recording and
// alerting rules, its Grafana dashboard and `canary gate --prometheus`
// evaluate, from the metric names of package metrics and the objectives of
// package slo: one definition of "bad" for the alerts, the dashboard and the
// gate.
package promql

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/canaryproj/canary/metrics"
	"github.com/canaryproj/canary/slo"
	"github.com/canaryproj/canary/stats"
)

// Duration formats d the way Prometheus parses durations ("30d", "1h30m",
// "1s500ms"). Prometheus has no unit below a millisecond.
func Duration(d time.Duration) (string, error) {
	if d <= 0 {
		return "", fmt.Errorf("duration %v must be positive", d)
	}
	if d%time.Millisecond != 0 {
		return "", fmt.Errorf("duration %v is not a whole number of milliseconds", d)
	}
	var b strings.Builder
	for _, u := range []struct {
		name string
		d    time.Duration
	}{{"d", 24 * time.Hour}, {"h", time.Hour}, {"m", time.Minute}, {"s", time.Second}, {"ms", time.Millisecond}} {
		if n := d / u.d; n > 0 {
			b.WriteString(strconv.FormatInt(int64(n), 10))
			b.WriteString(u.name)
			d -= n * u.d
		}
	}
	return b.String(), nil
}

// Number prints a float for PromQL and humans: shortest exact form, but
// rounded to 12 significant digits so that 1-0.995 prints as 0.005.
func Number(v float64) string {
	r, err := strconv.ParseFloat(strconv.FormatFloat(v, 'g', 12, 64), 64)
	if err != nil {
		r = v
	}
	return strconv.FormatFloat(r, 'g', -1, 64)
}

// Quote makes a PromQL string literal (PromQL unquotes Go-style escapes).
func Quote(s string) string { return strconv.Quote(s) }

// CheckMatcher matches a check's series: check="name".
func CheckMatcher(check string) string { return metrics.LabelCheck + "=" + Quote(check) }

// SLOSelector selects one SLO's recorded series: {check="c",slo="s"}.
func SLOSelector(check, sloName string) string {
	return "{" + CheckMatcher(check) + "," + metrics.LabelSLO + "=" + Quote(sloName) + "}"
}

// Supported says why PromQL cannot evaluate o, or nil when it can. The
// metrics carry check, step, method and code labels, not a scenario's
// tags: an objective that filters by tag or method is evaluated on the
// steps those select, which only an objective bound to its scenario
// (slo.Objective.Bind) knows.
func Supported(o slo.Objective) error {
	if o.SelectsSteps() && o.Step == "" && o.Steps == nil {
		return fmt.Errorf("%s: its filters are not metric labels; PromQL reads the steps they select, which needs the check's scenario", o.Subject())
	}
	return nil
}

// LatencyHistogram names the histogram a latency objective reads (its
// native series; the classic ones add _bucket, _count and _sum): the
// requests' corrected or service latency, or the whole iteration's.
func LatencyHistogram(o slo.Objective) string {
	switch {
	case !o.OnRequests():
		return metrics.IterationDuration
	case o.Service:
		return metrics.RequestService
	}
	return metrics.RequestDuration
}

// latencyMatchers are the matchers of o's histogram series: the check, and
// the steps o selects.
func latencyMatchers(check string, o slo.Objective) string {
	return CheckMatcher(check) + stepMatcher(o)
}

// stepMatcher matches the steps o selects (",step=…"), or nothing when it
// reads every step (or whole iterations).
func stepMatcher(o slo.Objective) string {
	if !o.OnRequests() || !o.SelectsSteps() {
		return ""
	}
	steps := o.Steps
	if steps == nil && o.Step != "" {
		steps = []string{o.Step}
	}
	if len(steps) == 1 {
		return "," + metrics.LabelStep + "=" + Quote(steps[0])
	}
	quoted := make([]string, len(steps))
	for i, st := range steps {
		quoted[i] = regexp.QuoteMeta(st)
	}
	return "," + metrics.LabelStep + "=~" + Quote(strings.Join(quoted, "|"))
}

// statusMatcher matches the code label of o's status filter: ",code=~\"5..\""
// for a class, ",code=\"503\"" for a code.
func statusMatcher(o slo.Objective) (string, bool) {
	lo, hi, ok := o.StatusFilter()
	if !ok {
		return "", false
	}
	if lo == hi {
		return "," + metrics.LabelCode + "=" + Quote(strconv.Itoa(lo)), true
	}
	return "," + metrics.LabelCode + "=~" + Quote(strconv.Itoa(lo/100)+".."), true
}

// SLIErrorRatio is the ratio of bad events to all events of o over window
// (a PromQL duration), summed over instances (a distributed run's pods add
// up). No traffic in the window gives no sample rather than NaN. Only an
// objective with an error budget (slo.Objective.HasBudget) has one.
//
// A latency objective's bad events are the observations above its
// threshold. Prometheus stores a histogram either as native samples (the
// feature flag on; 2.x then drops the classic series) or as classic
// buckets, so the expression reads both: histogram_fraction of the native
// histogram, or else the classic bucket at the threshold (every threshold is
// a bucket boundary, see metrics.LatencyBuckets) over the count.
func SLIErrorRatio(check string, o slo.Objective, window string) string {
	c := CheckMatcher(check)
	by := "sum by (" + metrics.LabelCheck + ") "
	if o.Kind != slo.KindLatency {
		var all, bad string
		if o.OnRequests() {
			sel := c + stepMatcher(o)
			badSel, byStatus := statusMatcher(o)
			if !byStatus {
				badSel = "," + metrics.LabelError + "!=" + Quote(stats.ClassNone.String())
			}
			all = fmt.Sprintf("%s(rate(%s{%s}[%s]))", by, metrics.RequestsTotal, sel, window)
			bad = fmt.Sprintf("%s(rate(%s{%s%s}[%s]))", by, metrics.RequestsTotal, sel, badSel, window)
		} else {
			all = fmt.Sprintf("%s(rate(%s{%s}[%s]))", by, metrics.IterationsTotal, c, window)
			bad = fmt.Sprintf("%s(rate(%s{%s,%s!=%s}[%s]))", by, metrics.IterationsTotal, c, metrics.LabelResult, Quote(metrics.ResultSuccess), window)
		}
		// Before the first failure there is no failure series at all: the
		// "or 0 *" branch records a clean 0 instead of nothing.
		return fmt.Sprintf("(\n  %s\n  or\n  0 * %s\n)\n/\n(%s > 0)", bad, all, all)
	}
	hist, sel := LatencyHistogram(o), latencyMatchers(check, o)
	native := fmt.Sprintf("%s(rate(%s{%s}[%s]))", by, hist, sel, window)
	// histogram_fraction of a histogram without observations is NaN: the
	// "and" keeps a window without traffic from recording it.
	return fmt.Sprintf("1 - (\n  (\n    histogram_fraction(0, %s, %s)\n    and\n    histogram_count(%s) > 0\n  )\n  or\n"+
		"  %s(rate(%s_bucket{%s,%s}[%s]))\n  /\n  (%s(rate(%s_count{%s}[%s])) > 0)\n)",
		Number(o.Target), native, native,
		by, hist, sel, leMatcher(o.Target), window, by, hist, sel, window)
}

// leMatcher matches the classic-histogram bucket whose upper bound is v.
// Prometheus 2.x stores an integer bound as le="1" when it scrapes the text
// format but as le="1.0" when it scrapes protobuf (native histograms on), so
// integer bounds match both spellings. Others print as client_golang does.
func leMatcher(v float64) string {
	s := strconv.FormatFloat(v, 'g', -1, 64)
	if v == math.Trunc(v) && !strings.ContainsAny(s, "e") {
		return `le=~"` + s + `|` + s + `\\.0"`
	}
	return `le="` + s + `"`
}

// Quantile is the q-quantile (0.99) of a histogram's series matching
// matchers, over window, per the labels in by ("" for one series in all).
// It reads the native histogram where Prometheus stores one, and the
// classic buckets otherwise. The two never meet inside one
// histogram_quantile: a call given both kinds answers nothing since
// Prometheus 3.5. Both branches carry the same labels (by), so "or" keeps
// the native answer of a group that has one.
func Quantile(q float64, hist, matchers, by, window string) string {
	le := "le"
	if by != "" {
		le = by + ", le"
	}
	return fmt.Sprintf("histogram_quantile(%s, %s) or histogram_quantile(%s, sum by (%s) (rate(%s_bucket{%s}[%s])))",
		Number(q), sumBy(by, fmt.Sprintf("rate(%s{%s}[%s])", hist, matchers, window)),
		Number(q), le, hist, matchers, window)
}

// sumBy is sum by (by) (expr), or sum(expr) for by "".
func sumBy(by, expr string) string {
	if by == "" {
		return "sum(" + expr + ")"
	}
	return "sum by (" + by + ") (" + expr + ")"
}

// Iterations is how many iterations of check completed over window, on all
// instances.
func Iterations(check, window string) string {
	return fmt.Sprintf("sum(increase(%s{%s}[%s]))", metrics.IterationsTotal, CheckMatcher(check), window)
}

// Throughput is check's completed (not dropped) iterations per second over
// window, on all instances.
func Throughput(check, window string) string {
	return fmt.Sprintf("sum(rate(%s{%s,%s!=%q}[%s]))", metrics.IterationsTotal, CheckMatcher(check), metrics.LabelResult, metrics.ResultDropped, window)
}

// TLSExpiry is how many seconds are left before the first of the
// certificates a check's steps were served expires, on all instances: a
// tls_expiry objective's observed value.
func TLSExpiry(check string) string {
	return fmt.Sprintf("min(%s{%s}) - time()", metrics.TLSCertNotAfter, CheckMatcher(check))
}

// Rate is what an rps objective reads over window, on all instances: the
// check's completed iterations per second, or the requests per second of
// the steps it selects.
func Rate(check string, o slo.Objective, window string) string {
	if !o.OnRequests() {
		return Throughput(check, window)
	}
	sel := CheckMatcher(check) + stepMatcher(o)
	if m, ok := statusMatcher(o); ok {
		sel += m
	}
	return fmt.Sprintf("sum(rate(%s{%s}[%s]))", metrics.RequestsTotal, sel, window)
}

// MeanLatency is the mean of the histogram a latency objective reads, over
// window, on all instances: from the native histogram where Prometheus
// stores one, else from the classic _sum and _count.
func MeanLatency(check string, o slo.Objective, window string) string {
	h, s := LatencyHistogram(o), latencyMatchers(check, o)
	native := fmt.Sprintf("sum(rate(%s{%s}[%s]))", h, s, window)
	return fmt.Sprintf("(histogram_sum(%s) / histogram_count(%s)) or (sum(rate(%s_sum{%s}[%s])) / sum(rate(%s_count{%s}[%s])))",
		native, native, h, s, window, h, s, window)
}

// LatencyQuantile is a percentile objective's percentile, interpolated from
// its histogram's buckets (native or classic), over window, on all
// instances.
func LatencyQuantile(check string, o slo.Objective, window string) string {
	return Quantile(o.Percentile/100, LatencyHistogram(o), latencyMatchers(check, o), "", window)
}

// Observations is how many observations a histogram's series matching
// matchers counted over window, on all instances: histogram_count of the
// native histogram, or else the classic _count.
func Observations(hist, matchers, window string) string {
	return fmt.Sprintf("histogram_count(sum(increase(%s{%s}[%s]))) or sum(increase(%s_count{%s}[%s]))",
		hist, matchers, window, hist, matchers, window)
}

// GeneratorLag is the q-quantile of check's generator lag over window, on
// all instances.
func GeneratorLag(q float64, check, window string) string {
	return Quantile(q, metrics.GeneratorLag, CheckMatcher(check), "", window)
}
