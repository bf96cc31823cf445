package argo

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// process is a canary process started by a test, stopped (SIGTERM, then
// SIGKILL after 20 s) when the test ends or by stop.
type process struct {
	cmd    *exec.Cmd
	reader sync.WaitGroup // the goroutine reading the process's stderr
	once   sync.Once
}

func (p *process) stop(t *testing.T) {
	p.once.Do(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		timer := time.AfterFunc(20*time.Second, func() { _ = p.cmd.Process.Kill() })
		defer timer.Stop()
		p.reader.Wait()
		_ = p.cmd.Wait()
	})
}

// startCanary runs canary with args and waits until a line of its stderr
// matches ready; it returns the first submatch.
func startCanary(t *testing.T, ready *regexp.Regexp, args ...string) (*process, string) {
	t.Helper()
	p := &process{cmd: exec.Command(canaryBin, args...)}
	stderr, err := p.cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, p.cmd.Start())
	t.Cleanup(func() { p.stop(t) })
	found := make(chan string, 1)
	p.reader.Add(1)
	go func() {
		defer p.reader.Done()
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		sent := false
		for sc.Scan() {
			if m := ready.FindStringSubmatch(sc.Text()); m != nil && !sent {
				found <- m[1]
				sent = true
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	select {
	case v := <-found:
		return p, v
	case <-time.After(60 * time.Second):
		t.Fatalf("canary %v: no line matching %s within 60 s", args, ready)
	}
	return nil, ""
}

// demoTarget starts `canary demo-target` on a free loopback port, with
// extra flags (faults) if given.
func demoTarget(t *testing.T, flags ...string) string {
	_, url := startCanary(t, regexp.MustCompile(`listening on (http://127\.0\.0\.1:\d+)`), append([]string{"demo-target", "--listen", "127.0.0.1:0", "--seed", "7"}, flags...)...)
	return url
}

// daemon is a canary daemon on a free loopback port.
type daemon struct {
	*process
	url string
}

// The daemon's two tokens: the templates use the one that may only start
// runs.
const (
	daemonToken = "argo-test-token"
	runToken    = "argo-test-run-token"
)

// daemonConfig has three checks against the demo target: one that passes,
// one that fails (every answer is a 500) and one that stays inconclusive
// (too few samples). Their window allows the templates' window=2m.
func daemonConfig(target, stateDir string) string {
	return `server: {listen: 127.0.0.1:0, auth_token: ` + daemonToken + `, run_token: ` + runToken + `}
state_dir: ` + stateDir + `
allowed_hosts: [127.0.0.1]
checks:
  - name: good
    scenario: {name: good, steps: [{name: health, request: {url: "` + target + `/health"}, expect: {status: 200}}]}
    profile: {rate: 20/s}
    slos: [{name: availability, success: 99%}]
    window: 2m
    min_samples: 5
  - name: bad
    scenario: {name: bad, steps: [{name: health, request: {url: "` + target + `/status/500"}, expect: {status: 200}}]}
    profile: {rate: 20/s}
    slos: [{name: availability, success: 99%}]
    window: 2m
    min_samples: 5
  - name: starved
    scenario: {name: starved, steps: [{name: health, request: {url: "` + target + `/health"}, expect: {status: 200}}]}
    profile: {rate: 1/10s}
    slos: [{name: availability, success: 99%}]
    window: 2m
    min_samples: 1000
`
}

// startDaemon runs `canary daemon` on the config in dir (written there
// unless it exists: a restart keeps the state).
func startDaemon(t *testing.T, dir, target string) *daemon {
	t.Helper()
	cfg := filepath.Join(dir, "canary.yaml")
	if _, err := os.Stat(cfg); err != nil {
		require.NoError(t, os.WriteFile(cfg, []byte(daemonConfig(target, filepath.Join(dir, "state"))), 0o600))
	}
	p, addr := startCanary(t, regexp.MustCompile(`"msg":"canary daemon serving".*"listen":"([^"]+)"`),
		"daemon", "--config", cfg, "--log-format", "json")
	return &daemon{process: p, url: "http://" + addr}
}

// verdictOf is the daemon's verdict of a check over the templates' window.
func (d *daemon) verdictOf(t *testing.T, check string) string {
	resp, err := http.Get(d.url + "/api/v1/checks/" + check + "/verdict?window=2m")
	require.NoError(t, err)
	defer resp.Body.Close()
	var v struct{ Verdict string }
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&v))
	return v.Verdict
}

// waitVerdicts waits until the daemon judges each check as given: the
// templates are measured against settled verdicts.
func (d *daemon) waitVerdicts(t *testing.T, want map[string]string) {
	t.Helper()
	require.Eventually(t, func() bool {
		for check, v := range want {
			if d.verdictOf(t, check) != v {
				return false
			}
		}
		return true
	}, 90*time.Second, 200*time.Millisecond, "verdicts %v", want)
}
