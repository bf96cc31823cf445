package gate

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/canaryproj/canary/dashboards"
	"github.com/canaryproj/canary/metrics"
	"github.com/canaryproj/canary/slo"
)

// PromOptions judge a check from Prometheus: the SLOs of the daemon config,
// over every instance that exports the check's metrics (the daemon, or the
// pods of a distributed `canary run --segment … --metrics-addr`).
type PromOptions struct {
	URL        string
	Check      string
	SLOs       []slo.Objective
	Window     time.Duration
	MinSamples int64
	// Steps is the number of steps of the check's scenario: a whole
	// iteration's latency has a service counterpart only when it is one.
	Steps int
	Now   time.Time // evaluation time; default now
}

// AskPrometheus evaluates the SLOs with PromQL and applies the daemon's
// verdict rules (slo.Conclude). Success, errors and latency percentiles use
// the recording rules' own SLI expressions (canary rules), so the gate,
// the alerts and the daemon agree on what "bad" means.
func AskPrometheus(ctx context.Context, o PromOptions) (*Result, error) {
	client, err := api.NewClient(api.Config{Address: o.URL})
	if err != nil {
		return nil, fmt.Errorf("%w: --prometheus %q: %v", ErrUsage, o.URL, err)
	}
	q := &querier{api: promv1.NewAPI(client), now: o.Now}
	if q.now.IsZero() {
		q.now = time.Now()
	}
	w, err := dashboards.PromDuration(o.Window)
	if err != nil {
		return nil, fmt.Errorf("%w: window: %v", ErrUsage, err)
	}
	check := metrics.LabelCheck + "=" + strconv.Quote(o.Check)

	samplesF, ok, err := q.scalar(ctx, fmt.Sprintf("sum(increase(%s{%s}[%s]))", metrics.IterationsTotal, check, w))
	if err != nil {
		return nil, err
	}
	samples := int64(math.Round(samplesF))
	if !ok {
		samples = 0
	}
	f := slo.Facts{Samples: samples, Window: slo.FormatDuration(o.Window), MinSamples: o.MinSamples}
	// The generator's facts for the saturation rule (slo.Generator).
	lag, ok, err := q.scalar(ctx, fmt.Sprintf("histogram_quantile(0.99, sum by (le) (rate(%s_bucket{%s}[%s])))", metrics.GeneratorLag, check, w))
	if err != nil {
		return nil, err
	}
	lagN, nok, err := q.scalar(ctx, fmt.Sprintf("sum(increase(%s_count{%s}[%s]))", metrics.GeneratorLag, check, w))
	if err != nil {
		return nil, err
	}
	if ok && nok {
		f.Generator = slo.Generator{LagP99: time.Duration(lag * float64(time.Second)), LagSamples: int64(math.Round(lagN))}
	}

	var results []slo.Result
	for _, obj := range o.SLOs {
		r, err := q.evaluate(ctx, o.Check, obj, o.Window, w, samples)
		if err != nil {
			return nil, err
		}
		// A failing corrected latency needs its service counterpart.
		if so, ok := obj.ServiceCounterpart(o.Steps); ok && r.Evaluated && !r.Pass {
			sr, err := q.evaluate(ctx, o.Check, so, o.Window, w, samples)
			if err != nil {
				return nil, err
			}
			r.HasService, r.Service, r.ServicePass = sr.Evaluated, sr.Observed, sr.Pass
		}
		results = append(results, r)
	}
	j := slo.Conclude(results, f)
	return &Result{Verdict: j.Verdict, Reasons: j.Reasons}, nil
}

type querier struct {
	api promv1.API
	now time.Time
}

// scalar runs an instant query that yields at most one sample; ok is false
// when it yields none (no data), or NaN.
func (q *querier) scalar(ctx context.Context, expr string) (float64, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, _, _, err := q.api.Query(ctx, expr, q.now)
	if err != nil {
		return 0, false, fmt.Errorf("query %s: %w", expr, err)
	}
	vec, ok := v.(model.Vector)
	if !ok {
		return 0, false, fmt.Errorf("query %s: want a vector, got %s", expr, v.Type())
	}
	switch len(vec) {
	case 0:
		return 0, false, nil
	case 1:
		f := float64(vec[0].Value)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return 0, false, nil
		}
		return f, true, nil
	}
	return 0, false, fmt.Errorf("query %s: %d series, want one", expr, len(vec))
}

func (q *querier) evaluate(ctx context.Context, check string, o slo.Objective, window time.Duration, w string, samples int64) (slo.Result, error) {
	r := slo.Result{Objective: o, Observed: math.NaN(), Samples: samples}
	sel := metrics.LabelCheck + "=" + strconv.Quote(check)
	var (
		v   float64
		ok  bool
		err error
	)
	switch {
	case o.HasBudget():
		expr, e := dashboards.SLIErrorExpr(check, o, window)
		if e != nil {
			return r, e
		}
		var bad float64
		if bad, ok, err = q.scalar(ctx, expr); err != nil || !ok {
			return r, err
		}
		switch o.Kind {
		case slo.KindSuccess:
			v = 1 - bad
		case slo.KindErrors:
			v = bad
		default:
			// A percentile below a threshold holds when no more than the
			// budget's share is above it; show the interpolated percentile.
			r.Evaluated = true
			r.Pass = bad <= o.Budget()+1e-12
			if p, pok, perr := q.scalar(ctx, quantileExpr(o, sel, w)); perr == nil && pok {
				r.Observed = p
			} else {
				r.Observed = o.Target // unknown exactly; known to be on the right side
			}
			return r, nil
		}
	case o.Kind == slo.KindRPS:
		v, ok, err = q.scalar(ctx, fmt.Sprintf("sum(rate(%s{%s,%s!=%q}[%s]))", metrics.IterationsTotal, sel, metrics.LabelResult, metrics.ResultDropped, w))
	case o.Kind == slo.KindLatency && o.Stat == slo.Mean:
		h, s := dashboards.LatencyHistogram(o), sel
		if o.Step != "" {
			s += "," + metrics.LabelStep + "=" + strconv.Quote(o.Step)
		}
		v, ok, err = q.scalar(ctx, fmt.Sprintf("sum(rate(%s_sum{%s}[%s])) / sum(rate(%s_count{%s}[%s]))", h, s, w, h, s, w))
	default:
		// max and percentiles above a threshold cannot be read from buckets.
		return r, nil
	}
	if err != nil || !ok {
		return r, err
	}
	r.Observed, r.Evaluated = v, true
	r.Pass = holds(o, v)
	return r, nil
}

func quantileExpr(o slo.Objective, sel, w string) string {
	if o.Step != "" {
		sel += "," + metrics.LabelStep + "=" + strconv.Quote(o.Step)
	}
	return fmt.Sprintf("histogram_quantile(%s, sum by (le) (rate(%s_bucket{%s}[%s])))",
		strconv.FormatFloat(o.Percentile/100, 'g', -1, 64), dashboards.LatencyHistogram(o), sel, w)
}

func holds(o slo.Objective, v float64) bool {
	switch o.Op {
	case slo.LT:
		return v < o.Target
	case slo.LE:
		return v <= o.Target
	case slo.GT:
		return v > o.Target
	}
	return v >= o.Target
}
