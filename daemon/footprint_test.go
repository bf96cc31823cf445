package daemon

import (
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/canaryproj/canary/internal/clock"
	"github.com/canaryproj/canary/stats"
)

// The daemon of scripts/daemon-footprint.sh, measured where the script
// cannot wait: after 30 days. Its checks are built as apply builds them but
// not started; 30 days of traffic go into their collectors on fake time
// (the collectors take their flush times as arguments), then the daemon
// evaluates as it does every evaluate_every.
//
//	go test -run '^$' -bench DaemonFootprint30Days -benchtime 20x ./daemon/
//
// reports the Go heap in use after the fill (live-MB, after a collection;
// with CANARY_FOOTPRINT_HEAP=file, its heap profile goes to file) and, per
// evaluation, what it allocates (B/op) and the process CPU time it takes
// (cpu-ms/eval, from getrusage), and the CPU time of recording and
// flushing the 15 s of traffic before it (record-cpu-ms/15s); then what
// one load of the status page's overview, of a check's page and of GET
// /api/v1/checks allocates.
const (
	footprintChecks = 20
	footprintDays   = 30
	footprintRate   = 2 // iterations/s per check
	// footprintGOGC is the daemon's garbage-collection target (the command
	// sets it, daemonGOGC in cmd/canary/cli; the daemon package does not).
	footprintGOGC = 25
)

func footprintConfig(checks int) string {
	var b strings.Builder
	b.WriteString(`server: {listen: 127.0.0.1:0}
state_dir: ./state
allowed_hosts: [127.0.0.1]
max_rate: 100
alerting:
  evaluate_every: 15s
  burn_rates:
    - {long: 1h, short: 5m, factor: 14.4, severity: page}
    - {long: 6h, short: 30m, factor: 6, severity: page}
    - {long: 30d, short: 3d, factor: 1, severity: ticket}
  slo_period: 30d
checks:
`)
	for i := range checks {
		fmt.Fprintf(&b, `  - name: browse-%02d
    scenario: browse.yaml
    profile: {rate: %d/s}
    slos:
      - {name: availability, success: 99.5%%}
      - {name: product-p99, latency: {step: product, percentile: 99, below: 500ms}}
    window: 5m
    min_samples: 50
`, i+1, footprintRate)
	}
	return b.String()
}

const footprintScenario = `name: browse
steps:
  - name: products
    request: {url: "http://127.0.0.1:9/products"}
    expect: {status: 200}
  - name: product
    request: {url: "http://127.0.0.1:9/products/1"}
    expect: {status: 200}
`

// synthetic is one check's traffic: iteration j completes at
// (j+0.5)/rate seconds after the start, after a log-normal latency around
// 40 ms; one in 50 fails with a 503.
type synthetic struct {
	seed uint64
}

func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

func (s synthetic) latency(j int64) time.Duration {
	u1 := (float64(mix(uint64(j)^s.seed)>>11) + 0.5) / (1 << 53)
	u2 := float64(mix(uint64(j)+s.seed*31)>>11) / (1 << 53)
	z := math.Sqrt(-2*math.Log(u1)) * math.Cos(2*math.Pi*u2)
	return min(time.Duration(float64(40*time.Millisecond)*math.Exp(0.5*z)), 5*time.Second)
}

// record records iterations [from, to) as the engine would: two steps,
// the iteration, the generator's lag; into the check's metrics only when
// also is set (their memory is bounded by their buckets, so the last hours
// fill them as a month would).
func (s synthetic) record(r *checkRunner, from, to int64, also bool) {
	for j := from; j < to; j++ {
		d := s.latency(j)
		status, class, outcome := 200, stats.ClassNone, stats.Success
		if mix(uint64(j)^s.seed<<1)%50 == 0 {
			status, class, outcome = 503, stats.ClassHTTPStatus, stats.Failure
		}
		lag := time.Duration(mix(uint64(j))%400) * time.Microsecond
		sh := r.col.Shard(int(j % 2)) // two workers suffice at 2/s
		sh.RecordLag(lag)
		sh.RecordStep(0, status, class, stats.AssertNone, d*2/3, d*2/3-lag)
		sh.RecordStep(1, 200, stats.ClassNone, stats.AssertNone, d/3, d/3)
		sh.RecordIteration(outcome, class, d)
		if also {
			r.metrics.RecordLag(lag)
			r.metrics.RecordStep(0, status, class, stats.AssertNone, d*2/3, d*2/3-lag)
			r.metrics.RecordStep(1, 200, stats.ClassNone, stats.AssertNone, d/3, d/3)
			r.metrics.RecordIteration(outcome, class, d)
		}
	}
}

// fill runs the check's traffic from second `from` to second `to` after
// its collector's start. A collector flushes every second; where the data
// will be older than an hour at `end`, flushes come every 64 s instead: by
// then it lies in window tiers whose slots are at least that wide (and
// aligned on multiples of them), so it ends where a flush a second would
// have put it, in a fraction of the time. (Wider flushes would be faster
// still, but would leave the collectors' scratch sized for them.)
func (s synthetic) fill(r *checkRunner, from, to, end int64) {
	start := r.col.Start()
	const every, age = 64, 3600
	for t := from; t < to; {
		step := int64(1)
		if t%every == 0 && end-(t+every) >= age {
			step = every
		}
		step = min(step, to-t)
		s.record(r, t*footprintRate, (t+step)*footprintRate, end-t <= 6*3600)
		t += step
		r.col.Flush(start.Add(time.Duration(t) * time.Second))
	}
}

// footprintDaemon is a daemon whose checks hold `age` of traffic, as of
// now (its clock's time); it is not running.
func footprintDaemon(b testing.TB, checks int, age time.Duration) (d *Daemon, clk *clock.Fake) {
	b.Helper()
	dir := b.TempDir()
	require.NoError(b, os.WriteFile(filepath.Join(dir, "browse.yaml"), []byte(footprintScenario), 0o644))
	cfgPath := filepath.Join(dir, "canary.yaml")
	require.NoError(b, os.WriteFile(cfgPath, []byte(footprintConfig(checks)), 0o644))
	clk = clock.NewFake(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	d, err := New(Options{ConfigPath: cfgPath, Env: func(string) (string, bool) { return "", false }, Clock: clk})
	require.NoError(b, err)
	b.Cleanup(func() {
		for _, r := range d.checks {
			r.client.Close()
		}
		d.store.Close()
	})
	cfg := d.config()
	for _, ck := range cfg.Checks {
		m, err := d.exp.AddCheck(ck.Name, checkMetricsOptions(ck, cfg))
		require.NoError(b, err)
		r, err := newCheckRunner(ck, m, cfg.HostAllowed, longestWindow(cfg.Policy), cfg.Server.ShutdownGrace, d.log, d.admit, d.clk)
		require.NoError(b, err)
		r.tls = newTLSTracker(ck.Scenario.StepNames(), m, d.secrets, d.clk.Now)
		d.checks[ck.Name] = r
	}
	end := int64(age / time.Second)
	var wg sync.WaitGroup
	work := make(chan int)
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				r := d.checks[fmt.Sprintf("browse-%02d", i+1)]
				synthetic{seed: uint64(i + 1)}.fill(r, 0, end, end)
			}
		}()
	}
	for i := range checks {
		work <- i
	}
	close(work)
	wg.Wait()
	clk.Advance(time.Duration(end) * time.Second)
	return d, clk
}

func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	require.NoError(b, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkDaemonFootprint30Days(b *testing.B) {
	d, clk := footprintDaemon(b, footprintChecks, footprintDays*24*time.Hour)
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	live := float64(ms.HeapAlloc) / 1e6
	if path := os.Getenv("CANARY_FOOTPRINT_HEAP"); path != "" {
		f, err := os.Create(path)
		require.NoError(b, err)
		require.NoError(b, pprof.Lookup("heap").WriteTo(f, 0))
		require.NoError(b, f.Close())
	}
	end := int64(footprintDays * 86400)
	now := clk.Now()
	// After a month, a check's series holds what the page draws (the last
	// day, in at most historyPoints points), not the month.
	r := d.checks["browse-01"]
	pts := r.col.Series()
	require.LessOrEqual(b, len(pts), historyPoints)
	view := seriesView(pts, r.started, now)
	require.WithinDuration(b, now.Add(-historySpan), view[0].T, time.Hour)

	evals := int64(0) // across the runs of the sub-benchmark: time only moves on
	b.Run("evaluate", func(b *testing.B) {
		b.ReportAllocs()
		var cpu, rec time.Duration
		b.ResetTimer()
		for range b.N {
			// 15 more seconds of traffic, then an evaluation.
			b.StopTimer()
			from := end + evals*15
			evals++
			f0 := cpuTime(b)
			for k, r := range d.checks {
				var seed uint64
				_, _ = fmt.Sscanf(k, "browse-%d", &seed)
				synthetic{seed: seed}.fill(r, from, from+15, from+15)
			}
			rec += cpuTime(b) - f0
			clk.Set(now.Add(time.Duration(evals) * 15 * time.Second))
			c0 := cpuTime(b)
			b.StartTimer()
			d.evaluate(clk.Now())
			b.StopTimer()
			cpu += cpuTime(b) - c0
		}
		b.ReportMetric(live, "live-MB")
		b.ReportMetric(float64(cpu)/float64(b.N)/1e6, "cpu-ms/eval")
		// What the 15 s between two evaluations cost the collectors and
		// the metrics: recording 600 iterations, 300 flushes.
		b.ReportMetric(float64(rec)/float64(b.N)/1e6, "record-cpu-ms/15s")
	})

	// What a page load costs once the windows are full: the page is
	// refreshed every 15 s in every browser that has it open.
	h := d.handler()
	for _, tc := range []struct{ name, path string }{
		{"overview", "/"},
		{"check-page", "/checks/browse-01"},
		{"api-checks", "/api/v1/checks"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, tc.path, nil))
				if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "browse-01") {
					b.Fatalf("GET %s: %d %.200s", tc.path, w.Code, w.Body.String())
				}
			}
		})
	}

	// The month-old daemon's resident set, as far as a test process can
	// show it: the anonymous part (the heap and the runtime's own memory;
	// file pages are the binary's, and a test binary is not the daemon's)
	// over 40 rounds of what 15 s bring — traffic, an evaluation, a load
	// of the overview and of GET /api/v1/checks — collected at the
	// daemon's GOGC, after the fill's garbage went back to the system.
	b.Run("steady", func(b *testing.B) {
		defer debug.SetGCPercent(debug.SetGCPercent(footprintGOGC))
		debug.FreeOSMemory()
		var hi, last int64
		c0 := cpuTime(b)
		for range b.N {
			for range 40 {
				from := end + evals*15
				evals++
				for k, r := range d.checks {
					var seed uint64
					_, _ = fmt.Sscanf(k, "browse-%d", &seed)
					synthetic{seed: seed}.fill(r, from, from+15, from+15)
				}
				clk.Set(now.Add(time.Duration(evals) * 15 * time.Second))
				d.evaluate(clk.Now())
				for _, path := range []string{"/", "/api/v1/checks"} {
					w := httptest.NewRecorder()
					h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
					require.Equal(b, http.StatusOK, w.Code, path)
				}
				last = rssAnon(b)
				hi = max(hi, last)
			}
		}
		// The whole round's CPU, the traffic's synthesis included: an
		// upper bound on what the daemon spends, to compare GC settings.
		b.ReportMetric(float64(cpuTime(b)-c0)/float64(b.N*40)/1e6, "cpu-ms/round")
		b.ReportMetric(float64(hi)/1024, "rss-anon-max-MiB")
		b.ReportMetric(float64(last)/1024, "rss-anon-last-MiB")
	})
}

// rssAnon is the process's anonymous resident memory in KiB (RssAnon of
// /proc/self/status).
func rssAnon(b *testing.B) int64 {
	data, err := os.ReadFile("/proc/self/status")
	require.NoError(b, err)
	for line := range strings.Lines(string(data)) {
		if v, ok := strings.CutPrefix(line, "RssAnon:"); ok {
			var kib int64
			_, err := fmt.Sscanf(strings.TrimSpace(v), "%d kB", &kib)
			require.NoError(b, err)
			return kib
		}
	}
	b.Fatal("no RssAnon in /proc/self/status")
	return 0
}

// BenchmarkDaemonLiveHeapByAge: the live heap of the footprint's daemon
// (20 checks at 2/s, windows kept for 30 days) after its checks have run
// for a given time, from the minutes scripts/daemon-footprint.sh watches
// to the month BenchmarkDaemonFootprint30Days fills. What grows between
// two ages is what the daemon keeps of the traffic.
//
//	go test -run '^$' -bench DaemonLiveHeapByAge -benchtime 1x ./daemon/
func BenchmarkDaemonLiveHeapByAge(b *testing.B) {
	for _, age := range []time.Duration{5 * time.Minute, 15 * time.Minute, 30 * time.Minute, 6 * time.Hour, 24 * time.Hour} {
		b.Run(age.String(), func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				d, _ := footprintDaemon(b, footprintChecks, age)
				var ms runtime.MemStats
				runtime.GC()
				runtime.GC()
				runtime.ReadMemStats(&ms)
				b.ReportMetric(float64(ms.HeapAlloc)/1e6, "live-MB")
				runtime.KeepAlive(d)
				b.StartTimer()
			}
		})
	}
}

// TestHeartbeatReadsNoWindow: the heartbeat's summary counts iterations
// without copying any check's window (about 1 MB of histograms each),
// which made every heartbeat a spike of the daemon's resident set.
func TestHeartbeatReadsNoWindow(t *testing.T) {
	d, clk := footprintDaemon(t, 4, 10*time.Minute)
	require.Less(t, leastAllocated(func() { d.heartbeat(clk.Now()) }), uint64(256<<10), "bytes allocated by a heartbeat over 4 checks")
}

// leastAllocated is the fewest bytes f allocated in five calls. The
// counter is the process's: the least of five is f's alone even if
// something else allocated during one of them.
func leastAllocated(f func()) uint64 {
	least := uint64(math.MaxUint64)
	for range 5 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		f()
		runtime.ReadMemStats(&after)
		least = min(least, after.TotalAlloc-before.TotalAlloc)
	}
	return least
}

// TestVerdictReusesASnapshot: a verdict over a check's window (what a gate
// poll asks) reads it into a spare snapshot, not a new megabyte of
// histograms, once one has been given back.
func TestVerdictReusesASnapshot(t *testing.T) {
	d, clk := footprintDaemon(t, 1, 10*time.Minute)
	r := d.checks["browse-01"]
	first := d.judge(r, clk.Now(), 5*time.Minute, time.Time{}, 50)
	var again verdictDoc
	least := leastAllocated(func() { again = d.judge(r, clk.Now(), 5*time.Minute, time.Time{}, 50) })
	require.Equal(t, first, again, "the same verdict from a reused snapshot")
	require.Less(t, least, uint64(256<<10), "bytes allocated by a verdict over a 5-minute window")
}
