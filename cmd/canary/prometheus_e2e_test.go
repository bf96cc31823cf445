//go:build integration

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canaryproj/canary/dashboards"
	"github.com/canaryproj/canary/metrics"
	"github.com/canaryproj/canary/promql"
	"github.com/canaryproj/canary/slo"
	canarystats "github.com/canaryproj/canary/stats" // e2e_test.go has a func stats
)

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

// promServer is a running Prometheus: classic (the default) or with
// native histograms on.
type promServer struct {
	name, url string
	native    bool
}

// startPrometheus starts Debian's Prometheus (installed by scripts/deps.sh)
// on loopback, scraping targets and evaluating ruleFiles every second. With
// native, it runs with --enable-feature=native-histograms: it then scrapes
// protobuf and, Prometheus 2.x, keeps only the native series of a histogram
// that has native buckets.
func startPrometheus(t *testing.T, native bool, targets, ruleFiles []string) promServer {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatal("prometheus not found: run scripts/deps.sh (make test does)")
	}
	s := promServer{name: "classic", native: native}
	var flags []string
	if native {
		s.name, flags = "native", []string{"--enable-feature=native-histograms"}
	}
	dir := t.TempDir()
	quote := func(ss []string) string {
		q := make([]string, len(ss))
		for i, x := range ss {
			q[i] = strconv.Quote(x)
		}
		return strings.Join(q, ", ")
	}
	cfg := fmt.Sprintf("global: {scrape_interval: 1s, evaluation_interval: 1s}\nrule_files: [%s]\nscrape_configs:\n  - job_name: canary\n    static_configs:\n      - targets: [%s]\n",
		quote(ruleFiles), quote(targets))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644))
	addr := freePort(t)
	cmd := exec.Command(bin, append([]string{"--config.file=" + filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path=" + filepath.Join(dir, "data"),
		"--web.listen-address=" + addr, "--log.level=warn"}, flags...)...)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() })
	s.url = "http://" + addr
	require.Eventually(t, func() bool {
		resp, err := http.Get(s.url + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}, 30*time.Second, 200*time.Millisecond, "prometheus (%s) ready", s.name)
	return s
}

// The helpers below that return an error are for conditions polled by
// Eventually, which runs them on a goroutine of its own, where a failing
// require could not stop the test.

// promGet GETs a Prometheus API path and decodes its data into out.
func promGet(base, path string, out any) error {
	resp, err := http.Get(base + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var body struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	if body.Status != "success" {
		return fmt.Errorf("GET %s: %s %s", path, body.Status, body.Error)
	}
	return json.Unmarshal(body.Data, out)
}

// promSample is one series of an instant query's answer: a float, or a
// native histogram (Value NaN).
type promSample struct {
	Metric map[string]string
	Value  float64
	Hist   *promHistogram
}

// promHistogram is a native histogram sample: its count and its populated
// buckets.
type promHistogram struct {
	Count   float64
	Buckets []promBucket
}

type promBucket struct{ Lower, Upper, Count float64 }

// promQueryAll runs an instant query and returns every series it yields.
func promQueryAll(t *testing.T, base, q string) []promSample {
	t.Helper()
	ss, err := promTry(base, q)
	require.NoError(t, err)
	return ss
}

// promTry is promQueryAll without the test.
func promTry(base, q string) ([]promSample, error) {
	var data struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Metric    map[string]string `json:"metric"`
			Value     []json.RawMessage `json:"value"`
			Histogram []json.RawMessage `json:"histogram"`
		} `json:"result"`
	}
	if err := promGet(base, "/api/v1/query?query="+url.QueryEscape(q), &data); err != nil {
		return nil, err
	}
	if data.ResultType != "vector" {
		return nil, fmt.Errorf("query %s: a %s, want a vector", q, data.ResultType)
	}
	var errs []error
	num := func(raw json.RawMessage) float64 {
		var s string
		err := json.Unmarshal(raw, &s)
		f, perr := strconv.ParseFloat(s, 64)
		errs = append(errs, err, perr)
		return f
	}
	var out []promSample
	for _, r := range data.Result {
		s := promSample{Metric: r.Metric, Value: math.NaN()}
		switch {
		case len(r.Value) == 2:
			s.Value = num(r.Value[1])
		case len(r.Histogram) == 2:
			var h struct {
				Count   json.RawMessage     `json:"count"`
				Buckets [][]json.RawMessage `json:"buckets"`
			}
			errs = append(errs, json.Unmarshal(r.Histogram[1], &h))
			s.Hist = &promHistogram{Count: num(h.Count)}
			for _, b := range h.Buckets {
				if len(b) != 4 {
					return nil, fmt.Errorf("query %s: a bucket of %d fields, want [boundaries, lower, upper, count]", q, len(b))
				}
				s.Hist.Buckets = append(s.Hist.Buckets, promBucket{num(b[1]), num(b[2]), num(b[3])})
			}
		default:
			return nil, fmt.Errorf("query %s: a sample with neither value nor histogram", q)
		}
		out = append(out, s)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("query %s: %w", q, err)
	}
	return out, nil
}

// promQuery returns the single value of an instant query (NaN: no data).
func promQuery(t *testing.T, base, q string) float64 {
	t.Helper()
	v, err := promValue(base, q)
	require.NoError(t, err)
	return v
}

// promValue is promQuery without the test.
func promValue(base, q string) (float64, error) {
	ss, err := promTry(base, q)
	switch {
	case err != nil:
		return 0, err
	case len(ss) == 0:
		return math.NaN(), nil
	case len(ss) > 1:
		return 0, fmt.Errorf("query %s: %d series, want one", q, len(ss))
	}
	return ss[0].Value, nil
}

// exitCode runs canary and returns its exit code, -1 when it could not run.
func exitCode(bin string, args ...string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	err := exec.CommandContext(ctx, bin, args...).Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return ee.ExitCode()
	case err != nil:
		return -1
	}
	return 0
}

// metricsRun starts `canary run … --metrics-addr addr` and returns the
// process and a channel that receives once its summary has been printed
// (the run is over; it lingers for the last scrape).
func metricsRun(t *testing.T, bin, addr string, args ...string) (*exec.Cmd, <-chan string) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"run"}, append(args, "--metrics-addr", addr)...)...)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	serving := watchFor(stderr, regexp.MustCompile(`metrics on http://(127\.0\.0\.1:\d+)/metrics`))
	// The summary's verdict line: the run is over.
	done := watchFor(stdout, regexp.MustCompile(`^\s*(verdict)\s`))
	select {
	case <-serving:
		return cmd, done
	case <-time.After(10 * time.Second):
		t.Fatal("canary run did not serve metrics")
	}
	return nil, nil
}

// The end-to-end test of canary with Prometheus: the daemon (check shop), a
// run split in two segments (check seg) and a run with latencies spread over
// many buckets (check spread), scraped by two Prometheus servers at once, one
// storing classic buckets and one native histograms. In both, the generated
// rules load and evaluate, the dashboard's queries answer alike, gate
// --prometheus and Flagger's MetricTemplates agree with the daemon, and the
// quantiles agree with canary's own HdrHistogram within the buckets' error.
func TestPrometheusEndToEnd(t *testing.T) {
	bin := binary(t)
	base := demoTarget(t, bin)
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
		return path
	}
	write("shop.yaml", "name: shop\nsteps:\n  - {name: products, request: {url: \""+base+"/slow?ms=35\"}, expect: {status: 200}}\n")
	write("seg.yaml", "name: seg\nsteps:\n  - {name: health, request: {url: \""+base+"/health\"}}\n")
	write("spread.yaml", "name: spread\nsteps:\n  - {name: products, request: {url: \""+base+"/products\"}}\n")
	// No iteration of the spread run is due for its first 3 s, so that
	// Prometheus scrapes its histograms empty first: a rate over a window
	// that starts before the run then counts every observation the run's
	// report does.
	spreadProfile := write("spread-profile.yaml", "stages:\n  - {duration: 3s, target: 0}\n  - {duration: 1s, target: 50}\n  - {duration: 6s, target: 50}\n")
	daemonAddr, spreadAddr := freePort(t), freePort(t)
	segAddrs := []string{freePort(t), freePort(t)}
	// A busy machine starves the load generators of CPU: corrected
	// latencies of hundreds of milliseconds, seconds under the race
	// detector beside other builds, and a saturated generator. The latency
	// objective holds whatever the load, so that the verdicts turn on
	// availability alone (the spread run tests latency).
	slos := `    slos:
      - {name: availability, success: 95%}
      - {name: responsive, latency: {step: %s, percentile: 99, below: 5s}}
    window: 8s
    min_samples: 20
`
	// Burn-rate windows of seconds, so that the generated rules record
	// within the test and their alert can fire.
	cfg := write("canary.yaml", `server: {listen: `+daemonAddr+`}
state_dir: state
allowed_hosts: [127.0.0.1]
alerting:
  evaluate_every: 1s
  burn_rates: [{long: 8s, short: 4s, factor: 2, severity: page}]
  slo_period: 1m
checks:
  - name: shop
    scenario: shop.yaml
    profile: {rate: 40/s}
`+strings.ReplaceAll(slos, "%s", "products"))
	// The runs' SLOs, for the gate and the rules only (no daemon runs them).
	const spreadThreshold = 0.03
	runsCfg := write("runs.yaml", "alerting: {burn_rates: [{long: 8s, short: 4s, factor: 2}], slo_period: 1m}\nchecks:\n  - name: seg\n    scenario: seg.yaml\n"+
		strings.ReplaceAll(slos, "%s", "health")+
		"  - name: spread\n    scenario: spread.yaml\n    slos: [{name: median, latency: {step: products, percentile: 50, below: 30ms}}]\n")

	var ruleFiles []string
	for _, c := range []string{cfg, runsCfg} {
		r := run(t, bin, nil, "rules", "--config", c)
		require.Equal(t, 0, r.code, r.stderr)
		path := write(strings.TrimSuffix(filepath.Base(c), ".yaml")+".rules.yml", r.stdout)
		out, err := exec.Command("promtool", "check", "rules", path).CombinedOutput()
		require.NoError(t, err, "promtool check rules %s:\n%s", path, out)
		ruleFiles = append(ruleFiles, path)
	}
	dash := run(t, bin, nil, "dashboards", "--config", cfg)
	require.Equal(t, 0, dash.code, dash.stderr)

	// /products answers in 10..50 ms, uniformly: the spread run's latencies
	// cover several buckets of either kind.
	setFaults(t, base, `{"latency":"10ms","jitter":"40ms","path_prefix":"/products"}`)

	daemon, api := startDaemon(t, bin, cfg, nil)
	defer func() { _ = daemon.Process.Signal(syscall.SIGTERM); _ = daemon.Wait() }()
	targets := append([]string{daemonAddr, spreadAddr}, segAddrs...)
	servers := []promServer{startPrometheus(t, false, targets, ruleFiles), startPrometheus(t, true, targets, ruleFiles)}
	for _, s := range servers {
		require.Eventually(t, func() bool {
			v, err := promValue(s.url, `up{instance="`+daemonAddr+`"}`)
			return err == nil && v == 1
		}, 30*time.Second, 200*time.Millisecond, "%s scrapes the daemon", s.name)
	}

	var segs []*exec.Cmd
	var segDone []<-chan string
	for i, addr := range segAddrs {
		cmd, done := metricsRun(t, bin, addr, filepath.Join(dir, "seg.yaml"), "--rate", "60/s", "--duration", "12s", "--segment", fmt.Sprintf("%d/2", i+1), "--quiet")
		segs, segDone = append(segs, cmd), append(segDone, done)
	}
	spreadOut := filepath.Join(dir, "spread.json")
	spreadStart := time.Now()
	spread, spreadDone := metricsRun(t, bin, spreadAddr, filepath.Join(dir, "spread.yaml"), "--profile", spreadProfile,
		"--slo", "p50(products)<30ms", "--out", spreadOut, "--quiet")

	t.Run("quantiles agree with canary's HDR quantiles within the buckets' error", func(t *testing.T) {
		select {
		case <-spreadDone:
		case <-time.After(60 * time.Second):
			t.Fatal("the spread run did not finish")
		}
		// The summary is printed before the report is written.
		var rep *canarystats.Report
		require.Eventually(t, func() bool {
			f, err := os.Open(spreadOut)
			if err != nil {
				return false
			}
			defer f.Close()
			rep, err = canarystats.ReadReport(f)
			return err == nil
		}, 10*time.Second, 100*time.Millisecond, "the spread run writes its report")
		require.Len(t, rep.Steps, 1)
		h, err := canarystats.DecodeHistogram(rep.Steps[0].HDR.Latency)
		require.NoError(t, err)
		require.Greater(t, h.TotalCount(), int64(200))
		for _, s := range servers {
			require.Eventually(t, func() bool {
				v, err := promValue(s.url, `sum(`+metrics.IterationsTotal+`{check="spread"})`)
				return err == nil && v == float64(rep.Iterations.Total)
			}, 20*time.Second, 200*time.Millisecond, "%s scraped the spread run's final counts", s.name)
		}
		// A window from before the run's first iteration to now: its rate
		// counts exactly the report's observations, scaled alike.
		window, err := promql.Duration((time.Since(spreadStart) + 5*time.Second).Truncate(time.Second))
		require.NoError(t, err)
		sel := `check="spread",step="products"`
		obj, err := slo.ParseExpr("p50(products)<30ms")
		require.NoError(t, err)
		for _, s := range servers {
			require.Equal(t, 0.0, promQuery(t, s.url, fmt.Sprintf(`min_over_time(%s{check="spread",result="success"}[%s])`, metrics.IterationsTotal, window)),
				"%s scraped the spread run before its first iteration", s.name)
			bounds, native := bucketBounds(t, s, metrics.RequestDuration, sel)
			// increase() extrapolates past the last scrape, never below
			// the first (zero) sample: at least every observation.
			n := float64(h.TotalCount())
			obs := promQuery(t, s.url, promql.Observations(metrics.RequestDuration, sel, window))
			assert.True(t, obs >= n*(1-1e-9) && obs <= 1.5*n, "%s counts %v observations of the spread run's %v", s.name, obs, n)
			for _, q := range []float64{0.5, 0.9, 0.99} {
				got := promQuery(t, s.url, promql.Quantile(q, metrics.RequestDuration, sel, "", window))
				lo, hi := quantileBound(h, q, bounds)
				hdr := float64(h.ValueAtQuantile(q*100)) / 1e6
				t.Logf("%-7s p%-4s PromQL %7.3f ms   HDR %7.3f ms   bound [%.3f, %.3f] ms", s.name, promql.Number(q*100), got*1000, hdr*1000, lo*1000, hi*1000)
				assert.True(t, got >= lo-1e-9 && got <= hi+1e-9, "%s: PromQL p%v %v s outside [%v, %v], the buckets holding the HDR's observations ranked q·n ± 1", s.name, q*100, got, lo, hi)
			}
			// The latency SLI: the share slower than the threshold.
			// The classic bucket at the threshold counts exactly; the HDR's
			// bins of 0.1% may straddle it.
			got := promQuery(t, s.url, promql.SLIErrorRatio("spread", obj, window))
			above, unsure := shareAbove(h, spreadThreshold)
			lo, hi := above, above+unsure
			if native != nil {
				// histogram_fraction interpolates inside the native bucket
				// holding the threshold: it may place that bucket's
				// observations on either side.
				for _, b := range native.Buckets {
					if b.Lower < spreadThreshold && spreadThreshold <= b.Upper {
						lo, hi = lo-b.Count/native.Count, hi+b.Count/native.Count
					}
				}
			}
			t.Logf("%-7s share above 30ms: PromQL %.4f   HDR %.4f   bound [%.4f, %.4f]", s.name, got, above, lo, hi)
			assert.True(t, got >= lo-1e-9 && got <= hi+1e-9, "%s: share of the spread run's requests slower than 30 ms %v outside [%v, %v]", s.name, got, lo, hi)
		}
	})

	t.Run("the generated rules load and evaluate", func(t *testing.T) {
		for _, s := range servers {
			require.Eventually(t, func() bool {
				var data struct {
					Groups []struct {
						Rules []struct {
							Name, Health, LastError string
						} `json:"rules"`
					} `json:"groups"`
				}
				if promGet(s.url, "/api/v1/rules", &data) != nil {
					return false
				}
				n := 0
				for _, g := range data.Groups {
					for _, r := range g.Rules {
						if r.Health != "ok" {
							return false
						}
						n++
					}
				}
				return n > 0
			}, 20*time.Second, 500*time.Millisecond, "%s evaluates every generated rule without error", s.name)
			for _, name := range []string{"availability", "responsive"} {
				v := promQuery(t, s.url, dashboards.RecordPrefix+"4s"+promql.SLOSelector("shop", name))
				assert.True(t, v >= 0 && v <= 1, "%s records shop's %s error ratio: %v", s.name, name, v)
			}
		}
	})

	t.Run("the dashboard's queries answer alike in both", func(t *testing.T) {
		exprs, err := dashboards.Expressions([]byte(dash.stdout))
		require.NoError(t, err)
		values := map[string]string{"check": "shop", "step": ".*", "__rate_interval": "10s"}
		for _, e := range exprs {
			e = dashboards.ExpandVariablesWith(e, values)
			var answers [][]string
			for _, s := range servers {
				var labels []string
				finite := false
				for _, smp := range promQueryAll(t, s.url, e) {
					b, err := json.Marshal(smp.Metric)
					require.NoError(t, err)
					labels = append(labels, string(b))
					finite = finite || !math.IsNaN(smp.Value) && !math.IsInf(smp.Value, 0)
				}
				slices.Sort(labels)
				answers = append(answers, labels)
				if strings.Contains(e, "histogram_quantile") {
					assert.True(t, finite, "%s: the latency panel's query has a value: %s", s.name, e)
				}
			}
			assert.Equal(t, answers[0], answers[1], "the same series in both: %s", e)
		}
	})

	gateProm := func(s promServer, config, check string, args ...string) int {
		return exitCode(bin, append([]string{"gate", "--prometheus", s.url, "--config", config, "--check", check}, args...)...)
	}
	daemonGate := func() int {
		resp, err := http.Get(api + "/api/v1/gate/shop")
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// What gate --prometheus asks, for every kind of objective, has an
	// answer in both (it said "no data" with native histograms before):
	// whatever the verdict, which a saturated generator makes inconclusive.
	t.Run("gate --prometheus's queries answer in both", func(t *testing.T) {
		obj := func(expr string) slo.Objective {
			o, err := slo.ParseExpr(expr)
			require.NoError(t, err)
			return o
		}
		const w = "8s"
		exprs := []string{
			promql.Iterations("shop", w),
			promql.GeneratorLag(0.99, "shop", w),
			promql.Observations(metrics.GeneratorLag, promql.CheckMatcher("shop"), w),
			promql.SLIErrorRatio("shop", obj("success>=95%"), w),
			promql.SLIErrorRatio("shop", obj("p99(products)<1s"), w),
			promql.SLIErrorRatio("shop", obj("p99(products, service)<1s"), w),
			promql.SLIErrorRatio("shop", obj("p99<1s"), w),
			promql.LatencyQuantile("shop", obj("p99(products)<1s"), w),
			promql.MeanLatency("shop", obj("mean(products)<1s"), w),
			promql.Throughput("shop", w),
		}
		for _, s := range servers {
			for _, e := range exprs {
				v := promQuery(t, s.url, e)
				assert.False(t, math.IsNaN(v) || math.IsInf(v, 0), "%s answers %v to %s", s.name, v, e)
			}
		}
	})

	// Verdicts are awaited rather than read once: a moment of generator
	// saturation makes them inconclusive.
	t.Run("gate --prometheus agrees with the daemon: pass", func(t *testing.T) {
		require.Eventually(t, func() bool { return daemonGate() == 200 }, 30*time.Second, 500*time.Millisecond, "the daemon passes")
		for _, s := range servers {
			assert.Eventually(t, func() bool { return gateProm(s, cfg, "shop") == 0 }, 30*time.Second, 500*time.Millisecond, "%s passes it too", s.name)
		}
	})

	templates, canary := flaggerFiles(t)
	flagger := func(t *testing.T, s promServer) map[string]float64 {
		got := map[string]float64{}
		for _, m := range canary.Spec.Analysis.Metrics {
			model := flaggerModelFor(canary, m)
			model.Variables = map[string]string{"check": "shop", "step": "products"}
			q, err := renderFlaggerQuery(templates[m.TemplateRef.Name].Spec.Query, model)
			require.NoError(t, err)
			ss := promQueryAll(t, s.url, q)
			require.Len(t, ss, 1, "%s: %s", s.name, q)
			require.False(t, math.IsNaN(ss[0].Value) || math.IsInf(ss[0].Value, 0), "%s: %s = %v", s.name, q, ss[0].Value)
			got[m.TemplateRef.Name] = ss[0].Value
		}
		return got
	}
	t.Run("Flagger's MetricTemplates read a number: pass", func(t *testing.T) {
		for _, s := range servers {
			got := flagger(t, s)
			t.Logf("%s: %v", s.name, got)
			assert.InDelta(t, 100, got["canary-success-rate"], 5, "%s: success rate in percent", s.name)
			assert.True(t, got["canary-latency-p99"] > 0 && got["canary-latency-p99"] < 10000, "%s: p99 in milliseconds: %v", s.name, got["canary-latency-p99"])
		}
	})

	t.Run("the segments add up to the whole run, judged together", func(t *testing.T) {
		for _, d := range segDone {
			select {
			case <-d:
			case <-time.After(30 * time.Second):
				t.Fatal("segment did not finish")
			}
		}
		for _, s := range servers {
			require.Eventually(t, func() bool {
				v, err := promValue(s.url, `sum(`+metrics.IterationsTotal+`{check="seg"})`)
				return err == nil && v == 720
			}, 20*time.Second, 200*time.Millisecond, "%s: 60/s × 12 s over the two segments", s.name)
			assert.Equal(t, 2.0, promQuery(t, s.url, `count(`+metrics.IterationsTotal+`{check="seg",result="success"})`), s.name)
			r := run(t, bin, nil, "gate", "--prometheus", s.url, "--config", runsCfg, "--check", "seg", "--window", "20s")
			assert.Equal(t, 0, r.code, "%s: %s%s", s.name, r.stdout, r.stderr)
		}
		for _, c := range append(segs, spread) {
			_ = c.Process.Signal(os.Interrupt) // skip the rest of the linger
		}
	})

	t.Run("gate --prometheus agrees with the daemon: fail", func(t *testing.T) {
		setFaults(t, base, `{"error_ratio":0.5,"path_prefix":"/slow"}`)
		require.Eventually(t, func() bool { return daemonGate() == 412 }, 30*time.Second, 500*time.Millisecond, "the daemon fails")
		for _, s := range servers {
			assert.Eventually(t, func() bool { return gateProm(s, cfg, "shop") == 99 }, 30*time.Second, 500*time.Millisecond, "%s fails it too", s.name)
			assert.Eventually(t, func() bool {
				var data struct {
					Alerts []struct {
						Labels map[string]string `json:"labels"`
						State  string            `json:"state"`
					} `json:"alerts"`
				}
				if promGet(s.url, "/api/v1/alerts", &data) != nil {
					return false
				}
				for _, a := range data.Alerts {
					if a.Labels["alertname"] == dashboards.AlertBurnRate && a.Labels["check"] == "shop" && a.Labels["slo"] == "availability" && a.State == "firing" {
						return true
					}
				}
				return false
			}, 20*time.Second, 500*time.Millisecond, "%s fires the generated burn-rate alert", s.name)
			got := flagger(t, s)
			t.Logf("%s: %v", s.name, got)
			assert.Less(t, got["canary-success-rate"], 99.0, "%s: below the Canary's thresholdRange, Flagger halts", s.name)
		}
	})

	t.Run("gate --server", func(t *testing.T) {
		assert.Eventually(t, func() bool { return exitCode(bin, "gate", "--server", api, "--check", "shop") == 99 }, 30*time.Second, 500*time.Millisecond, "gate --server fails")
		r := run(t, bin, nil, "gate", "--server", api, "--check", "shop")
		assert.Equal(t, 99, r.code)
		assert.Regexp(t, `^shop: FAIL \(n=\d+, window `, r.stdout)
		r = run(t, bin, nil, "gate", "--server", api, "--check", "shop", "--output", "json")
		assert.Equal(t, 99, r.code)
		assert.Contains(t, r.stdout, `"verdict": "fail"`)
		r = run(t, bin, nil, "gate", "--server", api, "--check", "shop", "--min-samples", "100000", "--wait", "2s", "--quiet")
		assert.Equal(t, 3, r.code, "inconclusive: not enough data before --wait ran out")
		r = run(t, bin, nil, "gate", "--server", api, "--check", "nope")
		assert.Equal(t, 2, r.code)
		r = run(t, bin, nil, "gate", "--server", "http://"+freePort(t), "--check", "shop")
		assert.Equal(t, 1, r.code, "the daemon unreachable is an internal error")
	})
}

// setFaults sets the demo target's fault knobs.
func setFaults(t *testing.T, base, faults string) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), "PUT", base+"/admin/faults", strings.NewReader(faults))
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode, "PUT /admin/faults %s", faults)
}

// bucketBounds returns the bucket boundaries s holds for a histogram's
// series (with 0 and +Inf), and its native histogram when it stores one. A
// classic Prometheus must hold classic buckets only, a native one native
// histograms only: then each branch of the queries was exercised.
func bucketBounds(t *testing.T, s promServer, hist, sel string) ([]float64, *promHistogram) {
	t.Helper()
	bounds := []float64{0, math.Inf(1)}
	classic := promQueryAll(t, s.url, fmt.Sprintf("count by (le) (%s_bucket{%s})", hist, sel))
	for _, smp := range classic {
		b, err := strconv.ParseFloat(smp.Metric["le"], 64)
		require.NoError(t, err)
		bounds = append(bounds, b)
	}
	var native *promHistogram
	if ss := promQueryAll(t, s.url, fmt.Sprintf("sum(%s{%s})", hist, sel)); len(ss) == 1 && ss[0].Hist != nil {
		native = ss[0].Hist
		for _, b := range native.Buckets {
			bounds = append(bounds, b.Lower, b.Upper)
		}
	}
	if s.native {
		require.Empty(t, classic, "%s stores no classic buckets of %s", s.name, hist)
		require.NotNil(t, native, "%s stores %s as a native histogram", s.name, hist)
	} else {
		require.NotEmpty(t, classic, "%s stores the classic buckets of %s", s.name, hist)
		require.Nil(t, native, "%s stores no native histogram", s.name)
	}
	slices.Sort(bounds)
	return bounds, native
}

// quantileBound is where histogram_quantile(q) over buckets with the given
// boundaries must answer for the observations of h (µs, truncated). It
// finds the bucket holding the observation ranked ceil(q·n) and
// interpolates inside it; floating-point sums of rates may move that rank
// by one, so the bound spans the buckets holding the observations ranked
// ceil(q·n) - 1 to ceil(q·n) + 1: from the highest boundary below the first
// to the lowest at or above the last.
func quantileBound(h *hdrhistogram.Histogram, q float64, bounds []float64) (lo, hi float64) {
	n := h.TotalCount()
	k := int64(math.Ceil(q * float64(n)))
	kLo, kHi := max(1, k-1), min(n, k+1)
	var xLo, xHi float64
	var cum int64
	for _, b := range h.Distribution() {
		before := cum
		cum += b.Count
		if before < kLo && cum >= kLo {
			xLo = float64(b.From) / 1e6
		}
		if before < kHi && cum >= kHi {
			xHi = float64(b.To+1) / 1e6
			break
		}
	}
	lo, hi = 0, math.Inf(1)
	for _, b := range bounds {
		if b < xLo {
			lo = b
		}
		if b >= xHi && b < hi {
			hi = b
		}
	}
	return lo, hi
}

// shareAbove is the share of h's observations (µs, truncated) above t
// seconds, and the share that its bins cannot place on either side.
func shareAbove(h *hdrhistogram.Histogram, t float64) (above, unsure float64) {
	n := float64(h.TotalCount())
	for _, b := range h.Distribution() {
		switch {
		case float64(b.From)/1e6 > t:
			above += float64(b.Count) / n
		case float64(b.To+1)/1e6 > t:
			unsure += float64(b.Count) / n
		}
	}
	return above, unsure
}
