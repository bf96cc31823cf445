package cli

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// secretsConfig writes a daemon config whose ${VAR}s are secrets the
// commands that only read it never use: a header value, the API token, a
// Slack webhook.
func secretsConfig(t *testing.T) (dir, cfg string) {
	t.Helper()
	dir = t.TempDir()
	files := map[string]string{
		"canary.yaml": `server:
  auth_token: "${CANARY_TOKEN}"
state_dir: ./state
allowed_hosts: [127.0.0.1]
alerting:
  slack: {webhook_url: "${SLACK_WEBHOOK_URL}"}
checks:
  - name: acc
    scenario: acc.yaml
    slos: [{name: availability, success: 99%}]
`,
		"acc.yaml": `name: acc
steps:
  - name: home
    request: {url: "http://127.0.0.1:8080/", headers: {X-Secret: "${ACC_SECRET}"}}
`,
	}
	for name, body := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644))
	}
	return dir, filepath.Join(dir, "canary.yaml")
}

// Reading a config never needs its secrets: validate, rules, dashboards and
// gate --prometheus warn about each unset ${VAR}, with its file:line:col,
// and go on; validate --strict-env (as the daemon) refuses it.
func TestUnsetSecretsAreWarnings(t *testing.T) {
	dir, cfg := secretsConfig(t)
	prom := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"success","data":{"resultType":"vector","result":[]}}`))
	}))
	defer prom.Close()
	warnings := []string{
		"canary.yaml:2:15: warning: environment variable CANARY_TOKEN is not set (write ${CANARY_TOKEN:-default} to give a default)",
		"canary.yaml:6:24: warning: environment variable SLACK_WEBHOOK_URL is not set (write ${SLACK_WEBHOOK_URL:-default} to give a default)",
		"acc.yaml:4:66: warning: environment variable ACC_SECRET is not set (write ${ACC_SECRET:-default} to give a default)",
	}
	for _, tc := range []struct {
		name       string
		args       []string
		code       int
		warnOn     string // "stdout" or "stderr"
		stdoutHas  string
		errorLines bool // the warnings are errors instead
	}{
		{name: "validate", args: []string{"validate", cfg}, warnOn: "stdout", stdoutHas: "canary.yaml: ok (daemon config, 1 check)"},
		{name: "validate --strict-env", args: []string{"validate", "--strict-env", cfg}, code: ExitUsage, errorLines: true, stdoutHas: "1 of 1 files invalid"},
		{name: "rules", args: []string{"rules", "--config", cfg}, warnOn: "stderr", stdoutHas: "alert: CanaryCheckAbsent"},
		{name: "dashboards", args: []string{"dashboards", "--config", cfg}, warnOn: "stderr", stdoutHas: `"title"`},
		// No data in this Prometheus: inconclusive, not a usage error.
		{name: "gate --prometheus", args: []string{"gate", "--prometheus", prom.URL, "--config", cfg, "--check", "acc"}, code: ExitInconclusive, warnOn: "stderr"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := invoke(t, nil, tc.args...)
			stdout = strings.ReplaceAll(stdout, dir+string(filepath.Separator), "")
			stderr = strings.ReplaceAll(stderr, dir+string(filepath.Separator), "")
			assert.Equal(t, tc.code, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
			assert.Contains(t, stdout, tc.stdoutHas)
			out := map[string]string{"stdout": stdout, "stderr": stderr}[tc.warnOn]
			for _, w := range warnings {
				if tc.errorLines {
					assert.Contains(t, stdout, strings.Replace(w, "warning: ", "", 1))
					assert.NotContains(t, stdout+stderr, "warning:")
					continue
				}
				assert.Contains(t, out, w)
			}
		})
	}

	// With the variables set, nothing to warn about.
	env := map[string]string{"CANARY_TOKEN": "t", "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T/B/x", "ACC_SECRET": "s"}
	code, stdout, stderr := invoke(t, env, "rules", "--config", cfg)
	assert.Equal(t, ExitOK, code)
	assert.NotContains(t, stdout+stderr, "warning")
	code, stdout, _ = invoke(t, env, "validate", "--strict-env", cfg)
	assert.Equal(t, ExitOK, code, stdout)
}

// The daemon reads its config strictly: an unset ${VAR} is the same
// message as validate --strict-env's, exit 2.
func TestDaemonRefusesUnsetSecrets(t *testing.T) {
	dir, cfg := secretsConfig(t)
	code, _, stderr := invoke(t, nil, "daemon", "--config", cfg)
	assert.Equal(t, ExitUsage, code)
	stderr = strings.ReplaceAll(stderr, dir+string(filepath.Separator), "")
	assert.Contains(t, stderr, "\ncanary.yaml:2:15: environment variable CANARY_TOKEN is not set (write ${CANARY_TOKEN:-default} to give a default)\n")
	assert.Contains(t, stderr, "canary: acc.yaml:4:66: environment variable ACC_SECRET is not set (write ${ACC_SECRET:-default} to give a default)\n")
	assert.NotContains(t, stderr, "bad config")
}

// A signal stops a command that reads files between files (or a
// config's checks), with the shell's code for it.
func TestSignalsStopReading(t *testing.T) {
	_, cfg := secretsConfig(t)
	for _, tc := range []struct {
		sig  syscall.Signal
		args []string
		code int
	}{
		{syscall.SIGINT, []string{"validate", cfg, cfg}, 130},
		{syscall.SIGTERM, []string{"rules", "--config", cfg}, 143},
		{syscall.SIGINT, []string{"dashboards", "--config", cfg}, 130},
		{syscall.SIGTERM, []string{"gate", "--prometheus", "http://127.0.0.1:1", "--config", cfg, "--check", "acc"}, 143},
	} {
		t.Run(tc.args[0], func(t *testing.T) {
			ctx, cancel := context.WithCancelCause(t.Context())
			cancel(Signal{tc.sig})
			var out, errb strings.Builder
			code := RunEnv(ctx, tc.args, Env{Stdout: &out, Stderr: &errb, Getenv: func(string) (string, bool) { return "", false }})
			assert.Equal(t, tc.code, code, "stderr: %s", errb.String())
			assert.Empty(t, out.String(), "nothing read, nothing said")
			assert.Equal(t, "canary: interrupted ("+tc.sig.String()+")\n", errb.String())
		})
	}
}

// NotifyContext: the first signal cancels with the signal as the cause.
func TestNotifyContext(t *testing.T) {
	ctx, stop := NotifyContext(t.Context())
	defer stop()
	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGTERM))
	<-ctx.Done()
	var s Signal
	require.ErrorAs(t, context.Cause(ctx), &s)
	assert.Equal(t, syscall.SIGTERM, s.Signal)
	assert.Equal(t, 143, s.exitCode())
}
