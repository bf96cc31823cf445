package promql

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canaryproj/canary/metrics"
	"github.com/canaryproj/canary/slo"
)

func TestSLIErrorRatio(t *testing.T) {
	for _, tc := range []struct {
		name, expr, want string
	}{
		{"success", "success>=99.5%", `(
  sum by (check) (rate(canary_iterations_total{check="c",result!="success"}[5m]))
  or
  0 * sum by (check) (rate(canary_iterations_total{check="c"}[5m]))
)
/
(sum by (check) (rate(canary_iterations_total{check="c"}[5m])) > 0)`},
		{"errors count the same failed iterations", "errors<1%", `(
  sum by (check) (rate(canary_iterations_total{check="c",result!="success"}[5m]))
  or
  0 * sum by (check) (rate(canary_iterations_total{check="c"}[5m]))
)
/
(sum by (check) (rate(canary_iterations_total{check="c"}[5m])) > 0)`},
		{"step latency, corrected", "p99(login)<300ms", `1 - (
  (
    histogram_fraction(0, 0.3, sum by (check) (rate(canary_request_duration_seconds{check="c",step="login"}[5m])))
    and
    histogram_count(sum by (check) (rate(canary_request_duration_seconds{check="c",step="login"}[5m]))) > 0
  )
  or
  sum by (check) (rate(canary_request_duration_seconds_bucket{check="c",step="login",le="0.3"}[5m]))
  /
  (sum by (check) (rate(canary_request_duration_seconds_count{check="c",step="login"}[5m])) > 0)
)`},
		{"step latency, service", "p95(pay, service)<250ms", `1 - (
  (
    histogram_fraction(0, 0.25, sum by (check) (rate(canary_request_service_seconds{check="c",step="pay"}[5m])))
    and
    histogram_count(sum by (check) (rate(canary_request_service_seconds{check="c",step="pay"}[5m]))) > 0
  )
  or
  sum by (check) (rate(canary_request_service_seconds_bucket{check="c",step="pay",le="0.25"}[5m]))
  /
  (sum by (check) (rate(canary_request_service_seconds_count{check="c",step="pay"}[5m])) > 0)
)`},
		{"service latency of every step", "p99(service)<50ms", `1 - (
  (
    histogram_fraction(0, 0.05, sum by (check) (rate(canary_request_service_seconds{check="c"}[5m])))
    and
    histogram_count(sum by (check) (rate(canary_request_service_seconds{check="c"}[5m]))) > 0
  )
  or
  sum by (check) (rate(canary_request_service_seconds_bucket{check="c",le="0.05"}[5m]))
  /
  (sum by (check) (rate(canary_request_service_seconds_count{check="c"}[5m])) > 0)
)`},
		{"iteration latency, integer threshold", "p90(iteration)<2s", `1 - (
  (
    histogram_fraction(0, 2, sum by (check) (rate(canary_iteration_duration_seconds{check="c"}[5m])))
    and
    histogram_count(sum by (check) (rate(canary_iteration_duration_seconds{check="c"}[5m]))) > 0
  )
  or
  sum by (check) (rate(canary_iteration_duration_seconds_bucket{check="c",le=~"2|2\\.0"}[5m]))
  /
  (sum by (check) (rate(canary_iteration_duration_seconds_count{check="c"}[5m])) > 0)
)`},
		{"every request's latency", "p99<1.5s", `1 - (
  (
    histogram_fraction(0, 1.5, sum by (check) (rate(canary_request_duration_seconds{check="c"}[5m])))
    and
    histogram_count(sum by (check) (rate(canary_request_duration_seconds{check="c"}[5m]))) > 0
  )
  or
  sum by (check) (rate(canary_request_duration_seconds_bucket{check="c",le="1.5"}[5m]))
  /
  (sum by (check) (rate(canary_request_duration_seconds_count{check="c"}[5m])) > 0)
)`},
		{"a tag is the steps it selects", "p99(region=eu)<1.5s", `1 - (
  (
    histogram_fraction(0, 1.5, sum by (check) (rate(canary_request_duration_seconds{check="c",step=~"login|pay"}[5m])))
    and
    histogram_count(sum by (check) (rate(canary_request_duration_seconds{check="c",step=~"login|pay"}[5m]))) > 0
  )
  or
  sum by (check) (rate(canary_request_duration_seconds_bucket{check="c",step=~"login|pay",le="1.5"}[5m]))
  /
  (sum by (check) (rate(canary_request_duration_seconds_count{check="c",step=~"login|pay"}[5m])) > 0)
)`},
		{"a method is the steps it selects", "p99(method=GET)<1.5s", `1 - (
  (
    histogram_fraction(0, 1.5, sum by (check) (rate(canary_request_duration_seconds{check="c",step="cart"}[5m])))
    and
    histogram_count(sum by (check) (rate(canary_request_duration_seconds{check="c",step="cart"}[5m]))) > 0
  )
  or
  sum by (check) (rate(canary_request_duration_seconds_bucket{check="c",step="cart",le="1.5"}[5m]))
  /
  (sum by (check) (rate(canary_request_duration_seconds_count{check="c",step="cart"}[5m])) > 0)
)`},
		{"a step's failed requests", "errors(login)<0.1%", `(
  sum by (check) (rate(canary_requests_total{check="c",step="login",error!="none"}[5m]))
  or
  0 * sum by (check) (rate(canary_requests_total{check="c",step="login"}[5m]))
)
/
(sum by (check) (rate(canary_requests_total{check="c",step="login"}[5m])) > 0)`},
		{"requests answered with a status class", "success(status=5xx)>=99%", `(
  sum by (check) (rate(canary_requests_total{check="c",code=~"5.."}[5m]))
  or
  0 * sum by (check) (rate(canary_requests_total{check="c"}[5m]))
)
/
(sum by (check) (rate(canary_requests_total{check="c"}[5m])) > 0)`},
		{"a status code of tagged steps", "errors(region=eu, status=503)<1%", `(
  sum by (check) (rate(canary_requests_total{check="c",step=~"login|pay",code="503"}[5m]))
  or
  0 * sum by (check) (rate(canary_requests_total{check="c",step=~"login|pay"}[5m]))
)
/
(sum by (check) (rate(canary_requests_total{check="c",step=~"login|pay"}[5m])) > 0)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := slo.ParseExpr(tc.expr)
			require.NoError(t, err)
			require.NoError(t, o.Bind(shop))
			assert.Equal(t, tc.want, SLIErrorRatio("c", o, "5m"), "SLIErrorRatio(%q)", tc.expr)
		})
	}
}

// shop is a scenario's steps for Bind.
var shop = []slo.StepInfo{
	{Name: "login", Method: "POST", Tags: map[string]string{"region": "eu"}},
	{Name: "cart", Method: "GET", Tags: map[string]string{"region": "us"}},
	{Name: "pay", Method: "POST", Tags: map[string]string{"region": "eu"}},
}

func TestSupported(t *testing.T) {
	o, err := slo.ParseExpr("p99(region=eu)<1s")
	require.NoError(t, err)
	assert.EqualError(t, Supported(o), "p99(region=eu): its filters are not metric labels; PromQL reads the steps they select, which needs the check's scenario")
	require.NoError(t, o.Bind(shop))
	assert.NoError(t, Supported(o))
	for _, expr := range []string{"p99<1s", "p99(login)<1s", "errors(status=5xx)<1%", "errors<1%"} {
		o, err := slo.ParseExpr(expr)
		require.NoError(t, err)
		assert.NoError(t, Supported(o), "Supported(%q) unbound", expr)
	}
}

func TestLeMatcher(t *testing.T) {
	for _, tc := range []struct {
		in   float64
		want string
	}{
		{1, `le=~"1|1\\.0"`},
		{2, `le=~"2|2\\.0"`},
		{3600, `le=~"3600|3600\\.0"`},
		{0.3, `le="0.3"`},
		{2.5, `le="2.5"`},
		{0.0005, `le="0.0005"`},
		{0.00001, `le="1e-05"`}, // client_golang and Prometheus' protobuf path both print %g
	} {
		assert.Equal(t, tc.want, leMatcher(tc.in), "leMatcher(%v)", tc.in)
	}
}

func TestDuration(t *testing.T) {
	for _, tc := range []struct {
		in   time.Duration
		want string
		err  string
	}{
		{5 * time.Minute, "5m", ""},
		{time.Hour, "1h", ""},
		{30 * 24 * time.Hour, "30d", ""},
		{90 * time.Minute, "1h30m", ""},
		{1500 * time.Millisecond, "1s500ms", ""},
		{26*time.Hour + 3*time.Second, "1d2h3s", ""},
		{0, "", "duration 0s must be positive"},
		{-time.Second, "", "duration -1s must be positive"},
		{1500 * time.Microsecond, "", "duration 1.5ms is not a whole number of milliseconds"},
	} {
		got, err := Duration(tc.in)
		if tc.err != "" {
			assert.EqualError(t, err, tc.err, "Duration(%v)", tc.in)
			continue
		}
		require.NoError(t, err, "Duration(%v)", tc.in)
		assert.Equal(t, tc.want, got, "Duration(%v)", tc.in)
	}
}

func TestNumber(t *testing.T) {
	for _, tc := range []struct {
		in   float64
		want string
	}{
		{1 - 0.995, "0.005"},
		{14.4, "14.4"},
		{6, "6"},
		{14.4 * 0.005, "0.072"},
		{0.001, "0.001"},
	} {
		assert.Equal(t, tc.want, Number(tc.in), "Number(%v)", tc.in)
	}
}

// The queries `canary gate --prometheus` asks, one per kind of objective.
func TestGateQueries(t *testing.T) {
	obj := func(expr string) slo.Objective {
		o, err := slo.ParseExpr(expr)
		require.NoError(t, err)
		return o
	}
	for _, tc := range []struct{ name, got, want string }{
		{"iterations", Iterations("c", "5m"), `sum(increase(canary_iterations_total{check="c"}[5m]))`},
		{"throughput", Throughput("c", "5m"), `sum(rate(canary_iterations_total{check="c",result!="dropped"}[5m]))`},
		{"mean of a step", MeanLatency("c", obj("mean(login)<100ms"), "5m"),
			`(histogram_sum(sum(rate(canary_request_duration_seconds{check="c",step="login"}[5m]))) / histogram_count(sum(rate(canary_request_duration_seconds{check="c",step="login"}[5m]))))` +
				` or (sum(rate(canary_request_duration_seconds_sum{check="c",step="login"}[5m])) / sum(rate(canary_request_duration_seconds_count{check="c",step="login"}[5m])))`},
		{"requests per second of a step", Rate("c", obj("rps(login)>=5"), "5m"), `sum(rate(canary_requests_total{check="c",step="login"}[5m]))`},
		{"iterations per second", Rate("c", obj("rps>=5"), "5m"), `sum(rate(canary_iterations_total{check="c",result!="dropped"}[5m]))`},
		{"mean of every request", MeanLatency("c", obj("mean<1s"), "1h"),
			`(histogram_sum(sum(rate(canary_request_duration_seconds{check="c"}[1h]))) / histogram_count(sum(rate(canary_request_duration_seconds{check="c"}[1h]))))` +
				` or (sum(rate(canary_request_duration_seconds_sum{check="c"}[1h])) / sum(rate(canary_request_duration_seconds_count{check="c"}[1h])))`},
		{"mean of iterations", MeanLatency("c", obj("mean(iteration)<1s"), "1h"),
			`(histogram_sum(sum(rate(canary_iteration_duration_seconds{check="c"}[1h]))) / histogram_count(sum(rate(canary_iteration_duration_seconds{check="c"}[1h]))))` +
				` or (sum(rate(canary_iteration_duration_seconds_sum{check="c"}[1h])) / sum(rate(canary_iteration_duration_seconds_count{check="c"}[1h])))`},
		{"percentile of a step's service time", LatencyQuantile("c", obj("p99.9(pay, service)<250ms"), "5m"),
			`histogram_quantile(0.999, sum(rate(canary_request_service_seconds{check="c",step="pay"}[5m])))` +
				` or histogram_quantile(0.999, sum by (le) (rate(canary_request_service_seconds_bucket{check="c",step="pay"}[5m])))`},
		{"generator lag", GeneratorLag(0.99, "c", "10m"),
			`histogram_quantile(0.99, sum(rate(canary_generator_lag_seconds{check="c"}[10m])))` +
				` or histogram_quantile(0.99, sum by (le) (rate(canary_generator_lag_seconds_bucket{check="c"}[10m])))`},
		{"observations", Observations(metrics.GeneratorLag, `check="c"`, "5m"),
			`histogram_count(sum(increase(canary_generator_lag_seconds{check="c"}[5m]))) or sum(increase(canary_generator_lag_seconds_count{check="c"}[5m]))`},
		{"quantile per label", Quantile(0.5, "h", `check=~"$check"`, "check, step", "$__rate_interval"),
			`histogram_quantile(0.5, sum by (check, step) (rate(h{check=~"$check"}[$__rate_interval])))` +
				` or histogram_quantile(0.5, sum by (check, step, le) (rate(h_bucket{check=~"$check"}[$__rate_interval])))`},
		{"SLO selector", SLOSelector(`a"b`, "avail"), `{check="a\"b",slo="avail"}`},
		{"tls expiry", TLSExpiry("c"), `min(canary_tls_cert_not_after_timestamp_seconds{check="c"}) - time()`},
	} {
		assert.Equal(t, tc.want, tc.got, tc.name)
	}
}

func TestLatencyHistogram(t *testing.T) {
	for _, tc := range []struct{ expr, want string }{
		{"p99<1s", "canary_request_duration_seconds"},
		{"p99(iteration)<1s", "canary_iteration_duration_seconds"},
		{"p99(login)<1s", "canary_request_duration_seconds"},
		{"p99(login, service)<1s", "canary_request_service_seconds"},
		{"p99(service)<1s", "canary_request_service_seconds"},
	} {
		o, err := slo.ParseExpr(tc.expr)
		require.NoError(t, err)
		assert.Equal(t, tc.want, LatencyHistogram(o), "LatencyHistogram(%q)", tc.expr)
	}
}
