package metrics

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/canaryproj/canary/slo"
	"github.com/canaryproj/canary/stats"
)

// DefaultLatencyBuckets are the classic buckets of the latency histograms
// (seconds). Every latency threshold of a check's SLOs is added to them, so
// that recording rules can read "share below the threshold" exactly.
var defaultLatencyBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

var lagBuckets = []float64{0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1}

// Native histogram settings: ~10% relative resolution, bounded bucket count.
const (
	nativeFactor     = 1.1
	nativeMaxBuckets = 160
	nativeMinReset   = time.Hour
)

// Quantiles are the canary_latency_seconds quantiles, as label values.
var Quantiles = []struct {
	Q     float64
	Label string
}{{0.5, "0.5"}, {0.9, "0.9"}, {0.95, "0.95"}, {0.99, "0.99"}, {0.999, "0.999"}}

// Exporter owns canary's Prometheus metrics on one registerer: global
// gauges plus one collector per check, added and removed with the check.
type Exporter struct {
	reg      prometheus.Registerer
	reloadOK prometheus.Gauge
	reloadTS prometheus.Gauge
}

// NewExporter registers the global metrics on reg.
func NewExporter(reg prometheus.Registerer) (*Exporter, error) {
	e := &Exporter{
		reg: reg,
		reloadOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: ConfigLastReloadOK, Help: "Whether the last configuration reload attempt was successful (1) or not (0).",
		}),
		reloadTS: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: ConfigLastReloadSuccessS, Help: "Timestamp of the last successful configuration reload.",
		}),
	}
	for _, c := range []prometheus.Collector{e.reloadOK, e.reloadTS} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("metrics: %w", err)
		}
	}
	return e, nil
}

// ConfigReloaded records a reload attempt.
func (e *Exporter) ConfigReloaded(ok bool, at time.Time) {
	if ok {
		e.reloadOK.Set(1)
		e.reloadTS.Set(float64(at.UnixNano()) / 1e9)
		return
	}
	e.reloadOK.Set(0)
}

// CheckOptions describe a check's label values and bucket needs.
type CheckOptions struct {
	Steps   []string // step names, by index
	Methods []string // HTTP method of each step, by index
	// Thresholds are latency thresholds (seconds) the check's SLOs use; each
	// becomes a classic bucket boundary.
	Thresholds []float64
	SLOs       []string // SLO names
	Windows    []string // burn-rate window label values ("5m", "1h")
}

// CheckOptionsFor are the options of a check that runs steps (with their
// methods, by index) and is judged by objs: every SLO gets its series, and
// every latency threshold a bucket boundary.
func CheckOptionsFor(steps, methods []string, objs []slo.Objective) CheckOptions {
	o := CheckOptions{Steps: steps, Methods: methods}
	for _, s := range objs {
		o.SLOs = append(o.SLOs, s.Name)
		if s.Kind == slo.KindLatency {
			o.Thresholds = append(o.Thresholds, s.Target)
		}
	}
	return o
}

// AddCheck registers the metrics of one check. Remove them with RemoveCheck.
func (e *Exporter) AddCheck(name string, o CheckOptions) (*Check, error) {
	c := newCheck(name, o)
	if err := e.reg.Register(c); err != nil {
		return nil, fmt.Errorf("metrics for check %q: %w", name, err)
	}
	return c, nil
}

// RemoveCheck unregisters a check's metrics: its series disappear.
func (e *Exporter) RemoveCheck(c *Check) {
	if c != nil {
		e.reg.Unregister(c)
	}
}

// LatencyBuckets returns the classic buckets for the given thresholds: the
// defaults plus each threshold, sorted, without duplicates.
func LatencyBuckets(thresholds []float64) []float64 {
	set := map[float64]bool{}
	for _, b := range defaultLatencyBuckets {
		set[b] = true
	}
	for _, t := range thresholds {
		if t > 0 && !math.IsInf(t, 0) && !math.IsNaN(t) {
			set[t] = true
		}
	}
	return slices.Sorted(maps.Keys(set))
}

// Check is one check's metrics. Its methods are safe for concurrent use and
// cheap enough for the per-request path.
type Check struct {
	name string
	opts CheckOptions

	requests     *prometheus.CounterVec // step, method, code, error
	duration     *prometheus.HistogramVec
	service      *prometheus.HistogramVec
	lag          prometheus.Histogram
	iterations   *prometheus.CounterVec // result
	iterDuration prometheus.Histogram
	assertions   *prometheus.CounterVec // step, assertion
	latency      *windowQuantiles       // step, quantile
	targetRate   prometheus.Gauge
	achievedRate prometheus.Gauge
	inflight     prometheus.Gauge
	dropped      prometheus.Counter
	sloObjective *prometheus.GaugeVec // slo
	sloObserved  *prometheus.GaugeVec // slo
	sloBurn      *prometheus.GaugeVec // slo, window
	verdict      prometheus.Gauge
	tlsNotAfter  *prometheus.GaugeVec // step, host
	tlsDropped   prometheus.Counter

	collectors []prometheus.Collector

	steps      []stepMetrics
	success    prometheus.Counter
	failure    prometheus.Counter
	droppedIts prometheus.Counter
}

type stepMetrics struct {
	duration, service prometheus.Observer
	// Counter children created on first use, keyed by status<<8|class for
	// requests and assertKey|kind for assertion failures: bounded by 600
	// codes × 13 classes (+ 8 assertion kinds) per step.
	counters sync.Map // uint32 → prometheus.Counter
}

const assertKey = 1 << 31

func newCheck(name string, o CheckOptions) *Check {
	cl := prometheus.Labels{LabelCheck: name}
	buckets := LatencyBuckets(o.Thresholds)
	hist := func(metric, help string, labels ...string) *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: metric, Help: help, ConstLabels: cl, Buckets: buckets,
			NativeHistogramBucketFactor: nativeFactor, NativeHistogramMaxBucketNumber: nativeMaxBuckets,
			NativeHistogramMinResetDuration: nativeMinReset,
		}, labels)
	}
	gauge := func(metric, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Name: metric, Help: help, ConstLabels: cl})
	}
	c := &Check{
		name: name,
		opts: o,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: RequestsTotal, Help: "Requests sent, by step, method, status code (0: no response) and error class.", ConstLabels: cl,
		}, []string{LabelStep, LabelMethod, LabelCode, LabelError}),
		duration: hist(RequestDuration, "Step latency from when the request was due (corrected for coordinated omission).", LabelStep),
		service:  hist(RequestService, "Step latency from when the request was actually sent.", LabelStep),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: GeneratorLag, Help: "Delay between an iteration's due time and its start while a slot was free (the load generator's own lag).",
			ConstLabels: cl, Buckets: lagBuckets,
			NativeHistogramBucketFactor: nativeFactor, NativeHistogramMaxBucketNumber: nativeMaxBuckets, NativeHistogramMinResetDuration: nativeMinReset,
		}),
		iterations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: IterationsTotal, Help: "Scenario iterations by result (success, failure, dropped).", ConstLabels: cl,
		}, []string{LabelResult}),
		iterDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: IterationDuration, Help: "Whole-iteration latency from the iteration's due time.", ConstLabels: cl, Buckets: buckets,
			NativeHistogramBucketFactor: nativeFactor, NativeHistogramMaxBucketNumber: nativeMaxBuckets, NativeHistogramMinResetDuration: nativeMinReset,
		}),
		assertions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: AssertionFailuresTotal, Help: "Failed expectations by step and kind of assertion.", ConstLabels: cl,
		}, []string{LabelStep, LabelAssertion}),
		latency: newWindowQuantiles(prometheus.NewDesc(Latency,
			"Exact latency quantiles (HdrHistogram) over the check's verdict window; step \"_iteration\" is the whole iteration.",
			[]string{LabelStep}, cl)),
		targetRate:   gauge(TargetRate, "Iterations per second the load profile asks for now."),
		achievedRate: gauge(AchievedRate, "Iterations per second started over the last second."),
		inflight:     gauge(InflightIterations, "Iterations running now."),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: DroppedIterationsTotal, Help: "Iterations dropped for being more than max_lag late.", ConstLabels: cl,
		}),
		sloObjective: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: SLOObjective, Help: "The SLO's target (a ratio for success/errors, seconds for latency, iterations/s for rps).", ConstLabels: cl,
		}, []string{LabelSLO}),
		sloObserved: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: SLOObserved, Help: "The SLO's observed value over the verdict window, in the objective's unit.", ConstLabels: cl,
		}, []string{LabelSLO}),
		sloBurn: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: SLOBurnRate, Help: "Error-budget burn rate over a window (1 = spending exactly the budget).", ConstLabels: cl,
		}, []string{LabelSLO, LabelWindow}),
		verdict: gauge(Verdict, "The check's verdict over its window: 1 pass, 0 fail, -1 inconclusive."),
		tlsNotAfter: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: TLSCertNotAfter, Help: "When the leaf certificate a step was last served by the host expires (Unix seconds).", ConstLabels: cl,
		}, []string{LabelStep, LabelHost}),
		tlsDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: TLSHostsDropped, Help: "Certificates seen for a (step, host) past the check's bound of tracked hosts, and not exported.", ConstLabels: cl,
		}),
	}
	c.collectors = []prometheus.Collector{
		c.requests, c.duration, c.service, c.lag, c.iterations, c.iterDuration, c.assertions, c.latency,
		c.targetRate, c.achievedRate, c.inflight, c.dropped, c.sloObjective, c.sloObserved, c.sloBurn, c.verdict,
		c.tlsNotAfter, c.tlsDropped,
	}
	// Series that rules divide by exist from the start, at 0, so that the
	// first failure is a visible increase.
	c.success = c.iterations.WithLabelValues(ResultSuccess)
	c.failure = c.iterations.WithLabelValues(ResultFailure)
	c.droppedIts = c.iterations.WithLabelValues(ResultDropped)
	c.verdict.Set(-1)
	c.steps = make([]stepMetrics, len(o.Steps))
	for i, s := range o.Steps {
		c.steps[i].duration = c.duration.WithLabelValues(s)
		c.steps[i].service = c.service.WithLabelValues(s)
	}
	return c
}

// Describe implements prometheus.Collector.
func (c *Check) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range c.collectors {
		m.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (c *Check) Collect(ch chan<- prometheus.Metric) {
	for _, m := range c.collectors {
		m.Collect(ch)
	}
}

// Name is the check's name.
func (c *Check) Name() string { return c.name }

// codeLabels are the code label values, computed once.
var codeLabels = func() [600]string {
	var out [600]string
	for i := range out {
		out[i] = strconv.Itoa(i)
	}
	return out
}()

var _ stats.Recorder = (*Check)(nil)

// RecordStep records one executed step.
func (c *Check) RecordStep(step, status int, class stats.ErrorClass, assertion stats.Assertion, corrected, service time.Duration) {
	if step < 0 || step >= len(c.steps) {
		return
	}
	sm := &c.steps[step]
	sm.duration.Observe(corrected.Seconds())
	sm.service.Observe(service.Seconds())
	if status < 0 || status >= len(codeLabels) {
		status = 0
	}
	key := uint32(status)<<8 | uint32(class)
	ctr, ok := sm.counters.Load(key)
	if !ok {
		method := ""
		if step < len(c.opts.Methods) {
			method = c.opts.Methods[step]
		}
		ctr, _ = sm.counters.LoadOrStore(key, c.requests.WithLabelValues(c.opts.Steps[step], method, codeLabels[status], class.String()))
	}
	ctr.(prometheus.Counter).Inc()
	if assertion != stats.AssertNone && assertion < stats.NumAssertions {
		key := assertKey | uint32(assertion)
		a, ok := sm.counters.Load(key)
		if !ok {
			a, _ = sm.counters.LoadOrStore(key, c.assertions.WithLabelValues(c.opts.Steps[step], assertion.String()))
		}
		a.(prometheus.Counter).Inc()
	}
}

// RecordIteration records one finished iteration; a Dropped outcome counts
// one dropped iteration, like RecordDropped.
func (c *Check) RecordIteration(o stats.Outcome, _ stats.ErrorClass, d time.Duration) {
	switch o {
	case stats.Success:
		c.success.Inc()
	case stats.Failure:
		c.failure.Inc()
	default:
		c.RecordDropped(1)
		return
	}
	c.iterDuration.Observe(d.Seconds())
}

// RecordLag records generator lag.
func (c *Check) RecordLag(d time.Duration) { c.lag.Observe(d.Seconds()) }

// RecordDropped records n iterations dropped for lateness.
func (c *Check) RecordDropped(n uint64) {
	c.dropped.Add(float64(n))
	c.droppedIts.Add(float64(n))
}

// SetRates sets the target and achieved rates and the in-flight count.
func (c *Check) SetRates(target, achieved float64, inflight int64) {
	c.targetRate.Set(target)
	c.achievedRate.Set(achieved)
	c.inflight.Set(float64(inflight))
}

// SetLatency sets the exact quantiles of a step (or StepIteration) over the
// verdict window: count samples summing to sum seconds, and q mapping a
// quantile (0.99) to seconds. count 0 removes the step's series.
func (c *Check) SetLatency(step string, count uint64, sum float64, q func(quantile float64) float64) {
	c.latency.set(step, count, sum, q)
}

// windowQuantiles exports canary_latency_seconds. It was designed as a gauge
// with a quantile label; Prometheus' conventions (and promlint) reserve the
// quantile label for summaries, and a summary is what it is — exact
// quantiles, with the window's count and sum — so it is exposed as one,
// under the same name and labels.
type windowQuantiles struct {
	desc *prometheus.Desc
	mu   sync.Mutex
	vals map[string]windowValue // by step; bounded by the scenario's steps
}

type windowValue struct {
	count     uint64
	sum       float64
	quantiles map[float64]float64
}

func newWindowQuantiles(d *prometheus.Desc) *windowQuantiles {
	return &windowQuantiles{desc: d, vals: map[string]windowValue{}}
}

func (w *windowQuantiles) set(step string, count uint64, sum float64, q func(float64) float64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if count == 0 {
		delete(w.vals, step)
		return
	}
	v := windowValue{count: count, sum: sum, quantiles: make(map[float64]float64, len(Quantiles))}
	for _, qq := range Quantiles {
		v.quantiles[qq.Q] = q(qq.Q)
	}
	w.vals[step] = v
}

func (w *windowQuantiles) Describe(ch chan<- *prometheus.Desc) { ch <- w.desc }

func (w *windowQuantiles) Collect(ch chan<- prometheus.Metric) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for step, v := range w.vals {
		m, err := prometheus.NewConstSummary(w.desc, v.count, v.sum, v.quantiles, step)
		if err != nil {
			ch <- prometheus.NewInvalidMetric(w.desc, err)
			continue
		}
		ch <- m
	}
}

// SetSLO sets an SLO's objective and observed value (observed NaN: no data,
// the series is removed) and its burn rate per window (absent: removed).
func (c *Check) SetSLO(slo string, objective, observed float64, burn map[string]float64) {
	c.sloObjective.WithLabelValues(slo).Set(objective)
	if math.IsNaN(observed) {
		c.sloObserved.DeleteLabelValues(slo)
	} else {
		c.sloObserved.WithLabelValues(slo).Set(observed)
	}
	for _, w := range c.opts.Windows {
		if b, ok := burn[w]; ok && !math.IsNaN(b) {
			c.sloBurn.WithLabelValues(slo, w).Set(b)
		} else {
			c.sloBurn.DeleteLabelValues(slo, w)
		}
	}
}

// SetVerdict sets canary_verdict: 1 pass, 0 fail, -1 inconclusive.
func (c *Check) SetVerdict(v float64) { c.verdict.Set(v) }

// SetCertExpiry sets when the leaf certificate a step was last served by
// host expires. The caller bounds the (step, host) pairs it sets.
func (c *Check) SetCertExpiry(step, host string, notAfter time.Time) {
	c.tlsNotAfter.WithLabelValues(step, host).Set(float64(notAfter.Unix()))
}

// RemoveCertExpiry removes a (step, host)'s series.
func (c *Check) RemoveCertExpiry(step, host string) { c.tlsNotAfter.DeleteLabelValues(step, host) }

// CertDropped counts a certificate not tracked: its (step, host) was past
// the bound.
func (c *Check) CertDropped() { c.tlsDropped.Inc() }
