//go:build integration

package main

import (
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canaryproj/canary/metrics"
)

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

// prometheus starts Debian's Prometheus (installed by scripts/deps.sh) on
// loopback, scraping targets every second.
func prometheus(t *testing.T, targets ...string) string {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatal("prometheus not found: run scripts/deps.sh (make test does)")
	}
	dir := t.TempDir()
	quoted := make([]string, len(targets))
	for i, tg := range targets {
		quoted[i] = strconv.Quote(tg)
	}
	cfg := fmt.Sprintf("global: {scrape_interval: 1s, evaluation_interval: 1s}\nscrape_configs:\n  - job_name: canary\n    static_configs:\n      - targets: [%s]\n", strings.Join(quoted, ", "))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644))
	addr := freePort(t)
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() })
	base := "http://" + addr
	require.Eventually(t, func() bool {
		resp, err := http.Get(base + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}, 30*time.Second, 200*time.Millisecond, "prometheus ready")
	return base
}

// promQuery returns the single value of an instant query (NaN: no data).
func promQuery(t *testing.T, base, q string) float64 {
	t.Helper()
	resp, err := http.Get(base + "/api/v1/query?query=" + url.QueryEscape(q))
	require.NoError(t, err)
	defer resp.Body.Close()
	var out struct {
		Data struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	if len(out.Data.Result) == 0 {
		return math.NaN()
	}
	v, err := strconv.ParseFloat(out.Data.Result[0].Value[1].(string), 64)
	require.NoError(t, err)
	return v
}

// metricsRun starts `canary run … --metrics-addr 127.0.0.1:0` and returns
// the process, its metrics address, and a channel that receives once its
// summary has been printed (the run is over; it lingers for the last scrape).
func metricsRun(t *testing.T, bin string, args ...string) (*exec.Cmd, string, <-chan string) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"run"}, append(args, "--metrics-addr", "127.0.0.1:0")...)...)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr := watchFor(stderr, regexp.MustCompile(`metrics on http://(127\.0\.0\.1:\d+)/metrics`))
	// The summary's verdict line: the run is over.
	done := watchFor(stdout, regexp.MustCompile(`^\s*(verdict)\s`))
	select {
	case a := <-addr:
		return cmd, a, done
	case <-time.After(10 * time.Second):
		t.Fatal("canary run did not serve metrics")
	}
	return nil, "", nil
}

func TestPrometheusEndToEnd(t *testing.T) {
	bin := binary(t)
	base := demoTarget(t, bin)
	dir := t.TempDir()
	// The checked step answers in 35 ms, well inside the (25 ms, 50 ms]
	// bucket: over an 8 s window (320 requests) a p99 is the 4th slowest,
	// and a target answering in microseconds put it on either side of a
	// bucket bound from one window to the next.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "shop.yaml"), []byte("name: shop\nsteps:\n  - {name: products, request: {url: \""+base+"/slow?ms=35\"}, expect: {status: 200}}\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "seg.yaml"), []byte("name: seg\nsteps:\n  - {name: health, request: {url: \""+base+"/health\"}}\n"), 0o644))
	daemonAddr := freePort(t)
	slos := `    slos:
      - {name: availability, success: 95%}
      - {name: fast, latency: {step: %s, percentile: 99, below: 50ms}}
    window: 8s
    min_samples: 20
`
	cfg := filepath.Join(dir, "canary.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(`server: {listen: `+daemonAddr+`}
state_dir: state
allowed_hosts: [127.0.0.1]
alerting: {evaluate_every: 1s}
checks:
  - name: shop
    scenario: shop.yaml
    profile: {rate: 40/s}
`+strings.ReplaceAll(slos, "%s", "products")), 0o644))
	// The distributed run's SLOs, for the gate only (no daemon runs "seg").
	segCfg := filepath.Join(dir, "seg-gate.yaml")
	require.NoError(t, os.WriteFile(segCfg, []byte("checks:\n  - name: seg\n    scenario: seg.yaml\n"+strings.ReplaceAll(slos, "%s", "health")), 0o644))

	daemon, api := startDaemon(t, bin, cfg, nil)
	defer func() { _ = daemon.Process.Signal(syscall.SIGTERM); _ = daemon.Wait() }()
	var segs []*exec.Cmd
	var segDone []<-chan string
	targets := []string{strings.TrimPrefix(api, "http://")}
	for i := 1; i <= 2; i++ {
		cmd, addr, done := metricsRun(t, bin, filepath.Join(dir, "seg.yaml"), "--rate", "60/s", "--duration", "12s", "--segment", fmt.Sprintf("%d/2", i), "--quiet")
		segs, segDone, targets = append(segs, cmd), append(segDone, done), append(targets, addr)
	}
	prom := prometheus(t, targets...)

	// Let the daemon's window fill and Prometheus scrape a while.
	time.Sleep(10 * time.Second)

	t.Run("PromQL p99 over the buckets agrees with the daemon's HDR p99", func(t *testing.T) {
		promP99 := promQuery(t, prom, `histogram_quantile(0.99, sum by (le) (rate(canary_request_duration_seconds_bucket{check="shop",step="products"}[8s])))`)
		hdrP99 := promQuery(t, prom, `canary_latency_seconds{check="shop",step="products",quantile="0.99"}`)
		require.False(t, math.IsNaN(promP99) || math.IsNaN(hdrP99), "both have data: promql %v, hdr %v", promP99, hdrP99)
		lo, hi := bucket(hdrP99)
		assert.GreaterOrEqual(t, promP99, lo-1e-9, "PromQL p99 %v within the bucket (%v, %v] of the HDR p99 %v", promP99, lo, hi, hdrP99)
		assert.LessOrEqual(t, promP99, hi+1e-9, "PromQL p99 %v within the bucket (%v, %v] of the HDR p99 %v", promP99, lo, hi, hdrP99)
	})

	gateProm := func(config, check string) int {
		return run(t, bin, nil, "gate", "--prometheus", prom, "--config", config, "--check", check).code
	}
	daemonGate := func() int {
		resp, err := http.Get(api + "/api/v1/gate/shop")
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	t.Run("gate --prometheus agrees with the daemon: pass", func(t *testing.T) {
		assert.Equal(t, 200, daemonGate())
		assert.Equal(t, 0, gateProm(cfg, "shop"))
	})

	t.Run("the segments add up to the whole run, judged together", func(t *testing.T) {
		for _, d := range segDone {
			select {
			case <-d:
			case <-time.After(30 * time.Second):
				t.Fatal("segment did not finish")
			}
		}
		time.Sleep(2500 * time.Millisecond) // the last scrapes
		total := promQuery(t, prom, `sum(`+metrics.IterationsTotal+`{check="seg"})`)
		assert.Equal(t, 720.0, total, "60/s × 12 s over the two segments")
		instances := promQuery(t, prom, `count(`+metrics.IterationsTotal+`{check="seg",result="success"})`)
		assert.Equal(t, 2.0, instances)
		assert.Equal(t, 0, run(t, bin, nil, "gate", "--prometheus", prom, "--config", segCfg, "--check", "seg", "--window", "20s").code)
		for _, s := range segs {
			_ = s.Process.Signal(os.Interrupt) // skip the rest of the linger
		}
	})

	t.Run("gate --prometheus agrees with the daemon: fail", func(t *testing.T) {
		req, _ := http.NewRequest("PUT", base+"/admin/faults", strings.NewReader(`{"error_ratio":0.5,"path_prefix":"/slow"}`))
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Eventually(t, func() bool { return daemonGate() == 412 }, 20*time.Second, 500*time.Millisecond, "the daemon fails")
		time.Sleep(2 * time.Second)
		assert.Equal(t, 99, gateProm(cfg, "shop"), "Prometheus fails it too")
	})

	t.Run("gate --server", func(t *testing.T) {
		r := run(t, bin, nil, "gate", "--server", api, "--check", "shop")
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

// bucket returns the classic bucket (lower, upper] of the daemon's
// latency histograms (defaults plus the 50 ms threshold) that holds v.
func bucket(v float64) (float64, float64) {
	bounds := metrics.LatencyBuckets([]float64{0.05})
	lo := 0.0
	for _, b := range bounds {
		if v <= b {
			return lo, b
		}
		lo = b
	}
	return lo, math.Inf(1)
}
