package gate

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/canaryproj/canary/config"
	"github.com/canaryproj/canary/metrics"
	"github.com/canaryproj/canary/promql"
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
	// HTTPClient asks Prometheus; nil is client_golang's default.
	HTTPClient *http.Client
}

// PromOptionsFor is how to judge check of a daemon config in Prometheus:
// its SLOs, over window (0: the check's window), with at least minSamples
// iterations (negative: the check's min_samples).
func PromOptionsFor(cfg *config.Config, url, check string, window time.Duration, minSamples int) (PromOptions, error) {
	ck := cfg.CheckByName(check)
	if ck == nil {
		return PromOptions{}, fmt.Errorf("%w: no check %q in %s", ErrUsage, check, cfg.File)
	}
	if ck.Comparison != nil {
		return PromOptions{}, fmt.Errorf("%w: check %q compares a candidate with a baseline, which its metrics do not tell apart: ask the daemon (--server)", ErrUsage, check)
	}
	o := PromOptions{URL: url, Check: check, SLOs: ck.SLOs, Window: window, MinSamples: ck.MinSamples,
		Steps: len(ck.Scenario.StepNames())}
	if o.Window <= 0 {
		o.Window = ck.Window
	}
	if minSamples >= 0 {
		o.MinSamples = int64(minSamples)
	}
	return o, nil
}

// AskPrometheus evaluates the SLOs with PromQL and applies the daemon's
// verdict rules (slo.Conclude). Success, errors and latency percentiles use
// the recording rules' own SLI expressions (canary rules), so the gate,
// the alerts and the daemon agree on what "bad" means.
func AskPrometheus(ctx context.Context, o PromOptions) (*Result, error) {
	client, err := api.NewClient(api.Config{Address: o.URL, Client: o.HTTPClient})
	if err != nil {
		return nil, fmt.Errorf("%w: --prometheus %q: %v", ErrUsage, o.URL, err)
	}
	q := &querier{api: promv1.NewAPI(client), now: o.Now}
	if q.now.IsZero() {
		q.now = time.Now()
	}
	w, err := promql.Duration(o.Window)
	if err != nil {
		return nil, fmt.Errorf("%w: window: %v", ErrUsage, err)
	}
	for _, obj := range o.SLOs {
		if err := promql.Supported(obj); err != nil {
			return nil, fmt.Errorf("%w: check %q: %v", ErrUsage, o.Check, err)
		}
	}

	samplesF, ok, err := q.scalar(ctx, promql.Iterations(o.Check, w))
	if err != nil {
		return nil, err
	}
	samples := int64(math.Round(samplesF))
	if !ok {
		samples = 0
	}
	f := slo.Facts{Samples: samples, Window: slo.FormatDuration(o.Window), MinSamples: o.MinSamples}
	// The generator's facts for the saturation rule (slo.Generator), from
	// native or classic histograms alike.
	lag, ok, err := q.scalar(ctx, promql.GeneratorLag(0.99, o.Check, w))
	if err != nil {
		return nil, err
	}
	lagN, nok, err := q.scalar(ctx, promql.Observations(metrics.GeneratorLag, promql.CheckMatcher(o.Check), w))
	if err != nil {
		return nil, err
	}
	if ok && nok {
		f.Generator = slo.Generator{LagP99: time.Duration(lag * float64(time.Second)), LagSamples: int64(math.Round(lagN))}
	}

	var results []slo.Result
	for _, obj := range o.SLOs {
		r, err := q.evaluate(ctx, o.Check, obj, w, samples)
		if err != nil {
			return nil, err
		}
		// A failing corrected latency needs its service counterpart.
		if so, ok := obj.ServiceCounterpart(o.Steps); ok && r.Evaluated && !r.Pass {
			sr, err := q.evaluate(ctx, o.Check, so, w, samples)
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

func (q *querier) evaluate(ctx context.Context, check string, o slo.Objective, w string, samples int64) (slo.Result, error) {
	r := slo.Result{Objective: o, Observed: math.NaN(), Samples: samples}
	var (
		v   float64
		ok  bool
		err error
	)
	switch {
	case o.HasBudget():
		var bad float64
		if bad, ok, err = q.scalar(ctx, promql.SLIErrorRatio(check, o, w)); err != nil || !ok {
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
			if p, pok, perr := q.scalar(ctx, promql.LatencyQuantile(check, o, w)); perr == nil && pok {
				r.Observed = p
			} else {
				r.Observed = o.Target // unknown exactly; known to be on the right side
			}
			return r, nil
		}
	case o.Kind == slo.KindRPS:
		v, ok, err = q.scalar(ctx, promql.Rate(check, o, w))
	case o.Kind == slo.KindLatency && o.Stat == slo.Mean:
		v, ok, err = q.scalar(ctx, promql.MeanLatency(check, o, w))
	case o.Kind == slo.KindTLSExpiry:
		v, ok, err = q.scalar(ctx, promql.TLSExpiry(check))
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
