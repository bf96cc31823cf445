package metrics

import (
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canaryproj/canary/slo"
	"github.com/canaryproj/canary/stats"
)

func newTestCheck(t testing.TB, reg *prometheus.Registry, name string) (*Exporter, *Check) {
	t.Helper()
	e, err := NewExporter(reg)
	require.NoError(t, err)
	c, err := e.AddCheck(name, CheckOptions{
		Steps: []string{"login", "cart"}, Methods: []string{"POST", "GET"},
		Thresholds: []float64{0.8, 0.3, 1}, SLOs: []string{"availability"}, Windows: []string{"5m", "1h"},
	})
	require.NoError(t, err)
	return e, c
}

func TestExpositionIsLintCleanAndHasEverySeries(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	e, c := newTestCheck(t, reg, "checkout")
	c.RecordStep(0, 200, stats.ClassNone, stats.AssertNone, 12*time.Millisecond, 2*time.Millisecond)
	c.RecordStep(1, 503, stats.ClassHTTPStatus, stats.AssertStatus, 40*time.Millisecond, 40*time.Millisecond)
	c.RecordStep(1, 0, stats.ClassConnectionRefused, stats.AssertNone, time.Millisecond, time.Millisecond)
	c.RecordStep(0, 200, stats.ClassAssertion, stats.AssertJSON, time.Millisecond, time.Millisecond)
	c.RecordIteration(stats.Success, stats.ClassNone, 50*time.Millisecond)
	c.RecordIteration(stats.Failure, stats.ClassHTTPStatus, 70*time.Millisecond)
	c.RecordDropped(2)
	c.RecordIteration(stats.Dropped, stats.ClassDropped, time.Second) // one more, without a latency
	c.RecordLag(300 * time.Microsecond)
	c.SetRates(5, 4.9, 2)
	c.SetLatency("login", 10, 0.5, func(q float64) float64 { return q / 10 })
	c.SetSLO("availability", 0.995, 0.98, map[string]float64{"5m": 4, "1h": 2})
	c.SetVerdict(0)
	c.SetCertExpiry("login", "shop.example.com", time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC))
	c.CertDropped()
	e.ConfigReloaded(true, time.Unix(1700000000, 0))

	problems, err := testutil.GatherAndLint(reg)
	require.NoError(t, err)
	assert.Empty(t, problems, "promlint")

	names := map[string]bool{}
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	for _, n := range []string{RequestsTotal, RequestDuration, RequestService, GeneratorLag, IterationsTotal, IterationDuration,
		AssertionFailuresTotal, Latency, TargetRate, AchievedRate, InflightIterations, DroppedIterationsTotal,
		SLOObjective, SLOObserved, SLOBurnRate, Verdict, ConfigLastReloadOK, ConfigLastReloadSuccessS, TLSCertNotAfter, TLSHostsDropped} {
		assert.True(t, names[n], "metric %s is exported", n)
	}

	assert.Equal(t, 1.0, testutil.ToFloat64(c.requests.WithLabelValues("cart", "GET", "503", "http_status")))
	assert.Equal(t, 1.0, testutil.ToFloat64(c.requests.WithLabelValues("cart", "GET", "0", "connection_refused")))
	assert.Equal(t, 1.0, testutil.ToFloat64(c.assertions.WithLabelValues("login", "json")))
	assert.Equal(t, 1.0, testutil.ToFloat64(c.assertions.WithLabelValues("cart", "status")))
	assert.Equal(t, 3.0, testutil.ToFloat64(c.iterations.WithLabelValues(ResultDropped)))
	assert.Equal(t, 3.0, testutil.ToFloat64(c.dropped))
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP canary_tls_cert_not_after_timestamp_seconds When the leaf certificate a step was last served by the host expires (Unix seconds).
# TYPE canary_tls_cert_not_after_timestamp_seconds gauge
canary_tls_cert_not_after_timestamp_seconds{check="checkout",host="shop.example.com",step="login"} 1.925089445e+09
# HELP canary_tls_hosts_dropped_total Certificates seen for a (step, host) past the check's bound of tracked hosts, and not exported.
# TYPE canary_tls_hosts_dropped_total counter
canary_tls_hosts_dropped_total{check="checkout"} 1
`), TLSCertNotAfter, TLSHostsDropped))
	c.RemoveCertExpiry("login", "shop.example.com")
	assert.Zero(t, testutil.CollectAndCount(c.tlsNotAfter), "removed")
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP canary_latency_seconds Exact latency quantiles (HdrHistogram) over the check's verdict window; step "_iteration" is the whole iteration.
# TYPE canary_latency_seconds summary
canary_latency_seconds{check="checkout",step="login",quantile="0.5"} 0.05
canary_latency_seconds{check="checkout",step="login",quantile="0.9"} 0.09
canary_latency_seconds{check="checkout",step="login",quantile="0.95"} 0.095
canary_latency_seconds{check="checkout",step="login",quantile="0.99"} 0.099
canary_latency_seconds{check="checkout",step="login",quantile="0.999"} 0.0999
canary_latency_seconds_sum{check="checkout",step="login"} 0.5
canary_latency_seconds_count{check="checkout",step="login"} 10
`), Latency))
	c.SetLatency("login", 0, 0, nil)
	n, err := testutil.GatherAndCount(reg, Latency)
	require.NoError(t, err)
	assert.Zero(t, n, "a step without samples in the window has no quantiles")
	assert.Equal(t, 4.0, testutil.ToFloat64(c.sloBurn.WithLabelValues("availability", "5m")))
	assert.Equal(t, 1.0, testutil.ToFloat64(e.reloadOK))
}

func TestIterationSeriesExistAtZero(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	newTestCheck(t, reg, "idle")
	n, err := testutil.GatherAndCount(reg, IterationsTotal)
	require.NoError(t, err)
	assert.Equal(t, 3, n, "success, failure and dropped exist before the first iteration")
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP canary_verdict The check's verdict over its window: 1 pass, 0 fail, -1 inconclusive.
# TYPE canary_verdict gauge
canary_verdict{check="idle"} -1
`), Verdict))
}

func TestThresholdsAreBucketBoundaries(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	_, c := newTestCheck(t, reg, "checkout")
	c.RecordStep(0, 200, stats.ClassNone, stats.AssertNone, 700*time.Millisecond, time.Millisecond)
	mfs, err := reg.Gather()
	require.NoError(t, err)
	var h *dto.Histogram
	for _, mf := range mfs {
		if mf.GetName() != RequestDuration {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == LabelStep && l.GetValue() == "login" {
					h = m.GetHistogram()
				}
			}
		}
	}
	require.NotNil(t, h)
	bounds := map[float64]uint64{}
	for _, b := range h.GetBucket() {
		bounds[b.GetUpperBound()] = b.GetCumulativeCount()
	}
	for _, th := range []float64{0.3, 0.8, 1} {
		_, ok := bounds[th]
		assert.True(t, ok, "threshold %v is a classic bucket boundary", th)
	}
	assert.Equal(t, uint64(0), bounds[0.3], "700 ms is above 0.3 s")
	assert.Equal(t, uint64(1), bounds[0.8], "700 ms is below 0.8 s")
	assert.Equal(t, int32(3), h.GetSchema(), "native buckets are exported too, each 2^(1/8) times as wide as the last (docs/metrics.md)")
	assert.NotEmpty(t, h.GetPositiveSpan())
}

func TestLatencyBuckets(t *testing.T) {
	b := LatencyBuckets([]float64{0.8, 1, math.NaN(), -1, 0.8})
	assert.True(t, sortedUnique(b))
	assert.Contains(t, b, 0.8)
	assert.Len(t, b, len(defaultLatencyBuckets)+1, "0.8 added; 1 was a default; NaN and negatives ignored")
}

func sortedUnique(b []float64) bool {
	for i := 1; i < len(b); i++ {
		if b[i] <= b[i-1] {
			return false
		}
	}
	return true
}

func TestRemoveCheckRemovesItsSeries(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	e, c := newTestCheck(t, reg, "gone")
	c.RecordStep(0, 200, stats.ClassNone, stats.AssertNone, time.Millisecond, time.Millisecond)
	e.RemoveCheck(c)
	n, err := testutil.GatherAndCount(reg, RequestsTotal, IterationsTotal)
	require.NoError(t, err)
	assert.Zero(t, n)
	// The same name can come back (a changed check on reload).
	_, err = e.AddCheck("gone", CheckOptions{Steps: []string{"x"}, Methods: []string{"GET"}})
	require.NoError(t, err)
	_, err = e.AddCheck("gone", CheckOptions{Steps: []string{"x"}, Methods: []string{"GET"}})
	assert.Error(t, err, "a check's metrics are registered once")
}

func TestSLONoDataRemovesSeries(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	_, c := newTestCheck(t, reg, "c")
	c.SetSLO("availability", 0.99, 0.5, map[string]float64{"5m": 1, "1h": 1})
	c.SetSLO("availability", 0.99, math.NaN(), map[string]float64{"5m": 2})
	n, err := testutil.GatherAndCount(reg, SLOObserved)
	require.NoError(t, err)
	assert.Zero(t, n)
	n, err = testutil.GatherAndCount(reg, SLOBurnRate)
	require.NoError(t, err)
	assert.Equal(t, 1, n, "only the window with data stays")
}

func TestConcurrentRecord(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	_, c := newTestCheck(t, reg, "c")
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				c.RecordStep(i%2, 200+g, stats.ErrorClass(i%3), stats.Assertion(i%4), time.Millisecond, time.Millisecond)
			}
		}(g)
	}
	wg.Wait()
	var total float64
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == RequestsTotal {
			for _, m := range mf.GetMetric() {
				total += m.GetCounter().GetValue()
			}
		}
	}
	assert.Equal(t, 4000.0, total)
}

func BenchmarkRecordStep(b *testing.B) {
	reg := prometheus.NewRegistry()
	_, c := newTestCheck(b, reg, "bench")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c.RecordStep(0, 200, stats.ClassNone, stats.AssertNone, 3*time.Millisecond, 2*time.Millisecond)
		}
	})
}

func TestCheckOptionsFor(t *testing.T) {
	var objs []slo.Objective
	for _, e := range []string{"success>=99%", "p99(login)<300ms", "mean<1.5s"} {
		o, err := slo.ParseExpr(e)
		require.NoError(t, err)
		o.Name = e[:3]
		objs = append(objs, o)
	}
	o := CheckOptionsFor([]string{"login", "cart"}, []string{"POST", "GET"}, objs)
	assert.Equal(t, CheckOptions{
		Steps: []string{"login", "cart"}, Methods: []string{"POST", "GET"},
		SLOs: []string{"suc", "p99", "mea"}, Thresholds: []float64{0.3, 1.5},
	}, o)
}
