//go:build integration

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// binary builds canary once per test run.
func binary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "canary")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return bin
}

type result struct {
	code           int
	stdout, stderr string
}

func run(t *testing.T, bin string, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("canary %v: %v", args, err)
	}
	return result{code, o.String(), e.String()}
}

// watchFor reads a process's output line by line until it closes and sends
// the first submatch of re (the first match only) on the returned channel.
// It keeps reading after the match so the process never blocks on a full
// pipe; the goroutine ends with the process.
func watchFor(r io.Reader, re *regexp.Regexp) <-chan string {
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(r)
		sent := false
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil && !sent {
				found <- m[len(m)-1]
				sent = true
			}
		}
	}()
	return found
}

// demoTarget starts `canary demo-target` on a free loopback port, with
// args (fault flags) if given.
func demoTarget(t *testing.T, bin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"demo-target", "--listen", "127.0.0.1:0", "--seed", "7"}, args...)...)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() })
	found := watchFor(stderr, regexp.MustCompile(`listening on (http://127\.0\.0\.1:\d+)`))
	select {
	case u := <-found:
		return u
	case <-time.After(10 * time.Second):
		t.Fatal("demo target did not start")
	}
	return ""
}

func stats(t *testing.T, base string) map[string]any {
	t.Helper()
	resp, err := http.Get(base + "/admin/stats")
	require.NoError(t, err)
	defer resp.Body.Close()
	var m map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&m))
	return m
}

func TestEndToEnd(t *testing.T) {
	bin := binary(t)
	base := demoTarget(t, bin)
	env := []string{"BASE_URL=" + base}
	dir := t.TempDir()

	t.Run("version", func(t *testing.T) {
		r := run(t, bin, nil, "version")
		assert.Equal(t, 0, r.code)
		assert.Regexp(t, `^canary \S+ \(commit \S+, go1\.`, r.stdout)
	})

	t.Run("validate points at a misspelt key", func(t *testing.T) {
		f := filepath.Join(dir, "typo.yaml")
		require.NoError(t, os.WriteFile(f, []byte("name: x\nsteps:\n  - name: a\n    request: {url: \"http://127.0.0.1/\"}\n    expcet: {status: 200}\n"), 0o644))
		r := run(t, bin, nil, "validate", f, "../../examples/checkout.yaml")
		assert.Equal(t, 2, r.code)
		assert.Contains(t, r.stdout, f+`:5:5: unknown key "expcet" (did you mean "expect"?)`)
		assert.Contains(t, r.stdout, `../../examples/checkout.yaml: ok (scenario "checkout", 4 steps)`)
	})

	t.Run("smoke passes", func(t *testing.T) {
		r := run(t, bin, env, "run", "../../examples/smoke.yaml")
		assert.Equal(t, 0, r.code, r.stderr)
		assert.Contains(t, r.stdout, "verdict    PASS")
	})

	t.Run("login cart flow: each request once, report written", func(t *testing.T) {
		before := stats(t, base)
		out := filepath.Join(dir, "r.json")
		summary := filepath.Join(dir, "summary.md")
		r := run(t, bin, append(env, "GITHUB_STEP_SUMMARY="+summary), "run", "../../examples/checkout.yaml", "--iterations", "5", "--vus", "2",
			"--out", out, "--junit", filepath.Join(dir, "j.xml"), "--html", filepath.Join(dir, "r.html"), "--slo", "p99(login)<2s")
		require.Equal(t, 0, r.code, r.stdout+r.stderr)
		after := stats(t, base)
		delta := func(route string) float64 {
			rb := before["requests"].(map[string]any)
			ra := after["requests"].(map[string]any)
			return ra[route].(float64) - rb[route].(float64)
		}
		assert.Equal(t, 5.0, delta("POST /login"))
		assert.Equal(t, 5.0, delta("POST /cart/items"))
		assert.Equal(t, 5.0, delta("GET /cart"))
		var rep map[string]any
		raw, err := os.ReadFile(out)
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(raw, &rep))
		assert.Equal(t, "canary.report/v1", rep["schema"])
		assert.Equal(t, "pass", rep["verdict"])
		assert.Equal(t, 5.0, rep["iterations"].(map[string]any)["success"])
		md, err := os.ReadFile(summary)
		require.NoError(t, err)
		assert.Contains(t, string(md), "### canary: ✅ pass — checkout")
		html, err := os.ReadFile(filepath.Join(dir, "r.html"))
		require.NoError(t, err)
		assert.Contains(t, string(html), "<svg")
		assert.NotContains(t, string(html), "demo\"", "the password is not in the page")
	})

	t.Run("a failed expectation exits 99", func(t *testing.T) {
		f := filepath.Join(dir, "fail.yaml")
		require.NoError(t, os.WriteFile(f, []byte("name: f\nsteps:\n  - {name: a, request: {url: \""+base+"/health\"}, expect: {status: 201}}\n"), 0o644))
		r := run(t, bin, nil, "run", f)
		assert.Equal(t, 99, r.code)
		assert.Contains(t, r.stdout, "a              http_status ×1")
	})

	t.Run("faults land in their classes", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		refused := "http://" + ln.Addr().String() + "/"
		ln.Close()
		for _, tc := range []struct {
			url   string
			args  []string
			class string
		}{
			{refused, nil, "connection_refused"},
			{base + "/slow?ms=3000", []string{"--timeout", "200ms"}, "timeout"},
			{base + "/bytes/20000000", nil, "body_too_large"},
			{base + "/status/503", nil, "http_status"},
			{"http://canary-test.invalid/", nil, "dns"},
		} {
			out := filepath.Join(dir, tc.class+".json")
			r := run(t, bin, nil, append([]string{"run", tc.url, "--out", out, "--quiet"}, tc.args...)...)
			assert.Equal(t, 99, r.code, "%s: %s", tc.url, r.stderr)
			raw, err := os.ReadFile(out)
			require.NoError(t, err)
			var rep struct {
				Steps []struct {
					Errors      map[string]int64
					StatusCodes map[string]int64 `json:"status_codes"`
				} `json:"steps"`
			}
			require.NoError(t, json.Unmarshal(raw, &rep))
			assert.Equal(t, map[string]int64{tc.class: 1}, rep.Steps[0].Errors, tc.url)
			if tc.class == "body_too_large" {
				assert.Equal(t, map[string]int64{"200": 1}, rep.Steps[0].StatusCodes, "%s: the status the target sent", tc.url)
			}
		}
	})

	t.Run("URL mode over https, --ca-file", func(t *testing.T) {
		srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, r.Proto)
		}))
		srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes are the point
		defer srv.Close()
		ca := filepath.Join(dir, "https-ca.pem")
		require.NoError(t, os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644))
		errorsOf := func(args ...string) (int, map[string]int64) {
			out := filepath.Join(dir, "https.json")
			r := run(t, bin, nil, append([]string{"run", srv.URL + "/", "--iterations", "3", "--quiet", "--out", out}, args...)...)
			raw, err := os.ReadFile(out)
			require.NoError(t, err, r.stderr)
			var rep struct {
				Steps []struct{ Errors map[string]int64 } `json:"steps"`
			}
			require.NoError(t, json.Unmarshal(raw, &rep))
			return r.code, rep.Steps[0].Errors
		}
		code, errs := errorsOf("--ca-file", ca)
		assert.Equal(t, 0, code)
		assert.Empty(t, errs)
		code, errs = errorsOf()
		assert.Equal(t, 99, code, "the self-signed certificate is not trusted without --ca-file")
		assert.Equal(t, map[string]int64{"tls": 3}, errs)

		r := run(t, bin, env, "run", "../../examples/smoke.yaml", "--ca-file", ca)
		assert.Equal(t, 2, r.code, "--ca-file is for a URL: %s", r.stderr)
	})

	t.Run("usage errors exit 2", func(t *testing.T) {
		for _, args := range [][]string{
			{"run", "../../examples/smoke.yaml", "--rate", "10/s"},
			{"run", "../../examples/smoke.yaml", "--bogus"},
			{"run", "../../examples/smoke.yaml", "--rate", "5000/s", "--duration", "1s"},
			{"run", "nope.yaml"},
			{"run", "../../examples/smoke.yaml", "--slo", "p99(nostep)<1s"},
		} {
			r := run(t, bin, env, args...)
			assert.Equal(t, 2, r.code, "%v: %s", args, r.stderr)
			assert.NotEmpty(t, r.stderr)
		}
		r := run(t, bin, env, "run", "../../examples/smoke.yaml", "--rate", "5000/s", "--duration", "1s")
		assert.Contains(t, r.stderr, "above the safety cap of 1000/s: raise it with --max-rate 5000")
	})

	t.Run("URL mode with a rate", func(t *testing.T) {
		r := run(t, bin, nil, "run", base+"/health", "--rate", "50/s", "--duration", "1s", "--slo", "errors<1%")
		assert.Equal(t, 0, r.code, r.stderr)
		assert.Contains(t, r.stdout, "iterations 50 (50.0/s of 50.0/s)")
	})

	t.Run("--cpus sets the generator's CPUs", func(t *testing.T) {
		cpus := func(env []string, args ...string) int {
			out := filepath.Join(dir, "cpus.json")
			r := run(t, bin, env, append([]string{"run", base + "/health", "--iterations", "3", "--quiet", "--out", out}, args...)...)
			require.Equal(t, 0, r.code, r.stderr)
			var rep struct {
				Generator struct{ CPUs int } `json:"generator"`
			}
			raw, err := os.ReadFile(out)
			require.NoError(t, err)
			require.NoError(t, json.Unmarshal(raw, &rep))
			assert.Regexp(t, `behind schedule, \d+ CPUs?\n`, r.stdout)
			return rep.Generator.CPUs
		}
		assert.Equal(t, 1, cpus(nil, "--cpus", "1"))
		assert.Equal(t, 3, cpus([]string{"GOMAXPROCS=3"}), "$GOMAXPROCS is kept")
		assert.Equal(t, 2, cpus([]string{"GOMAXPROCS=3"}, "--cpus", "2"), "--cpus wins")
		if _, set := os.LookupEnv("GOMAXPROCS"); !set {
			assert.Equal(t, max(1, runtime.GOMAXPROCS(0)/2), cpus(nil), "half of the CPUs by default")
		}
		r := run(t, bin, nil, "run", base+"/health", "--cpus", "-2")
		assert.Equal(t, 2, r.code)
		assert.Contains(t, r.stderr, "--cpus -2: want 1..1024, or 0 for every CPU")
	})

	t.Run("segments merge", func(t *testing.T) {
		var reports []string
		for i := 1; i <= 2; i++ {
			out := filepath.Join(dir, "seg"+string(rune('0'+i))+".json")
			r := run(t, bin, nil, "run", base+"/health", "--rate", "40/s", "--duration", "1s", "--segment", string(rune('0'+i))+"/2", "--out", out, "--quiet")
			// A busy machine may saturate a segment's generator (3); the
			// merge is the subject here.
			require.Contains(t, []int{0, 3}, r.code, r.stderr)
			reports = append(reports, out)
		}
		r := run(t, bin, nil, append([]string{"report", "--merge"}, reports...)...)
		var merged map[string]any
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &merged), r.stderr)
		assert.Equal(t, 40.0, merged["iterations"].(map[string]any)["total"])
		assert.Equal(t, 2.0, merged["merged"])
		assert.Equal(t, "merged 2/2", merged["profile"].(map[string]any)["segment"])
		assert.Equal(t, map[any]int{"pass": 0, "inconclusive": 3}[merged["verdict"]], r.code, "the merged verdict's exit code: %s", r.stderr)
	})

	t.Run("interrupted run is inconclusive", func(t *testing.T) {
		// Interrupted once it runs (its first request is in): while it still
		// reads its files, a signal exits 130 instead.
		first := make(chan struct{})
		var once sync.Once
		target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { once.Do(func() { close(first) }) }))
		defer target.Close()
		cmd := exec.Command(bin, "run", target.URL+"/health", "--rate", "10/s", "--duration", "1m", "--quiet")
		var o bytes.Buffer
		cmd.Stdout = &o
		cmd.Stderr = io.Discard
		require.NoError(t, cmd.Start())
		select {
		case <-first:
		case <-time.After(time.Minute):
			_ = cmd.Process.Kill()
			t.Fatal("the run sent nothing")
		}
		require.NoError(t, cmd.Process.Signal(os.Interrupt))
		err := cmd.Wait()
		ee, ok := err.(*exec.ExitError)
		require.True(t, ok, "exit status: %v", err)
		assert.Equal(t, 3, ee.ExitCode())
		assert.True(t, strings.Contains(o.String(), "INCONCLUSIVE"), o.String())
	})
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}

// startDaemon runs `canary daemon` and returns its API address.
func startDaemon(t *testing.T, bin, cfg string, env []string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(bin, "daemon", "--config", cfg)
	cmd.Env = append(os.Environ(), env...)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	found := watchFor(stderr, regexp.MustCompile(`canary daemon on (http://127\.0\.0\.1:\d+)`))
	select {
	case u := <-found:
		return cmd, u
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("daemon did not start")
	}
	return nil, ""
}

func getJSON(t *testing.T, url string, into any) int {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.NoError(t, json.NewDecoder(resp.Body).Decode(into))
	return resp.StatusCode
}

func TestDaemonLifecycle(t *testing.T) {
	bin := binary(t)
	base := demoTarget(t, bin)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "canary.yaml")
	write := func(s string) { require.NoError(t, os.WriteFile(cfg, []byte(s), 0o644)) }
	const tok = "lifecycle-token-1"
	write(`server: {listen: 127.0.0.1:0, auth_token: "${CANARY_TOKEN}", shutdown_grace: 5s}
state_dir: state
allowed_hosts: [127.0.0.1]
alerting: {evaluate_every: 1s}
checks:
  - name: slow
    scenario:
      name: slow
      steps:
        - {name: wait, request: {url: "` + base + `/slow?ms=1500", timeout: 10s}}
    profile: {rate: 4/s}
    window: 10s
    min_samples: 1
`)
	env := []string{"CANARY_TOKEN=" + tok}

	t.Run("SIGTERM drains in-flight iterations and exits 0", func(t *testing.T) {
		// A target whose answers take 1.5 s, and that knows whether each
		// was read to the end or cut by the client.
		var inflight, answered, cut atomic.Int64
		slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			inflight.Add(1)
			defer inflight.Add(-1)
			select {
			case <-time.After(1500 * time.Millisecond):
				answered.Add(1)
			case <-r.Context().Done():
				cut.Add(1)
			}
		}))
		defer slow.Close()
		drainCfg := filepath.Join(dir, "drain.yaml")
		require.NoError(t, os.WriteFile(drainCfg, []byte(strings.Replace(readFile(t, cfg), base+"/slow?ms=1500", slow.URL+"/slow", 1)), 0o644))
		cmd, _ := startDaemon(t, bin, drainCfg, env)
		require.Eventually(t, func() bool { return inflight.Load() > 0 }, time.Minute, 10*time.Millisecond, "iterations in flight")
		t0 := time.Now()
		require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
		err := cmd.Wait()
		assert.NoError(t, err, "exit 0")
		assert.Zero(t, cut.Load(), "no iteration in flight was cut: they had the grace period")
		assert.Positive(t, answered.Load())
		assert.Less(t, time.Since(t0), 5*time.Second+30*time.Second, "within the grace period (and the time to start on a busy machine)")
	})

	t.Run("kill -9 during a run, restart: history and verdicts intact", func(t *testing.T) {
		cmd, api := startDaemon(t, bin, cfg, env)
		req, _ := http.NewRequest("POST", api+"/api/v1/runs", strings.NewReader(`{"check":"slow","duration":"1m","key":"k1"}`))
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, 202, resp.StatusCode)
		// An absolute URL on this daemon's port; the restarted one listens
		// on another.
		loc, err := url.Parse(resp.Header.Get("Location"))
		require.NoError(t, err)
		// A verdict has been persisted: the API shows the last evaluation's.
		require.Eventually(t, func() bool {
			var checks struct {
				Checks []struct {
					EvaluatedAt *time.Time `json:"evaluated_at"`
				} `json:"checks"`
			}
			return getJSON(t, api+"/api/v1/checks", &checks) == 200 && len(checks.Checks) == 1 && checks.Checks[0].EvaluatedAt != nil
		}, time.Minute, 100*time.Millisecond, "an evaluation")
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		_ = cmd.Wait()

		cmd, api = startDaemon(t, bin, cfg, env)
		defer func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() }()
		var run map[string]any
		assert.Equal(t, 200, getJSON(t, api+loc.Path, &run))
		assert.Equal(t, "inconclusive", run["status"], "a run cut by the crash is kept, as inconclusive")
		assert.Contains(t, run["reasons"], "the daemon stopped during the run")
		var checks struct {
			Checks []struct {
				Name        string     `json:"name"`
				EvaluatedAt *time.Time `json:"evaluated_at"`
			} `json:"checks"`
		}
		getJSON(t, api+"/api/v1/checks", &checks)
		require.Len(t, checks.Checks, 1)
		require.NotNil(t, checks.Checks[0].EvaluatedAt, "the last verdict survived the crash")
		assert.WithinDuration(t, time.Now(), *checks.Checks[0].EvaluatedAt, time.Minute)
	})

	t.Run("a bad config at start exits 2", func(t *testing.T) {
		bad := filepath.Join(dir, "bad.yaml")
		require.NoError(t, os.WriteFile(bad, []byte("checks:\n  - name: x\n    scenraio: y.yaml\n"), 0o644))
		r := run(t, bin, nil, "daemon", "--config", bad)
		assert.Equal(t, 2, r.code)
		assert.Contains(t, r.stderr, `bad.yaml:3:5: unknown key "scenraio" (did you mean "scenario"?)`)
	})
}
