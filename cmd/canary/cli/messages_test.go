package cli

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canaryproj/canary/internal/golden"
)

// The messages a new user meets first, each pinned word for word in
// testdata/messages/NAME.golden (go test -update rewrites them), so that a
// change of wording shows in review. The commands run from the repository's
// root, as the README's do, on its examples.
func TestFirstMessages(t *testing.T) {
	goldenDir, err := filepath.Abs("testdata/messages")
	require.NoError(t, err)
	const own = "cmd/canary/cli/testdata/messages/"

	// A port that is taken, and a daemon that knows no check "nope".
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"error": "no check \"nope\""}`))
	}))
	defer api.Close()

	t.Chdir("../../..")
	for _, tc := range []struct {
		name string
		args []string
	}{
		// A URL without a scheme, on the command line and in a scenario.
		{"run-url-without-scheme", []string{"run", "127.0.0.1:8080/health"}},
		{"run-var-without-scheme", []string{"run", own + "base-without-scheme.yaml"}},
		{"validate-url-without-scheme", []string{"validate", own + "url-without-scheme.yaml"}},
		// YAML: a tab, keys one level too deep or too shallow.
		{"validate-tab", []string{"validate", own + "tab.yaml"}},
		{"validate-expect-under-request", []string{"validate", own + "expect-under-request.yaml"}},
		{"validate-request-key-at-step-level", []string{"validate", own + "request-keys-at-step-level.yaml"}},
		// The wrong kind of file.
		{"run-daemon-config", []string{"run", "examples/canary.yaml"}},
		{"run-profile-as-scenario", []string{"run", "examples/profiles/ramp.yaml"}},
		{"run-scenario-as-profile", []string{"run", "examples/smoke.yaml", "--profile", "examples/checkout.yaml"}},
		{"daemon-scenario-as-config", []string{"daemon", "--config", "examples/smoke.yaml"}},
		{"rules-profile-as-config", []string{"rules", "--config", "examples/profiles/ramp.yaml"}},
		// Missing files, with the closest one.
		{"run-missing-scenario", []string{"run", "examples/smok.yaml"}},
		{"run-missing-profile", []string{"run", "examples/smoke.yaml", "--profile", "examples/profiles/rmap.yaml"}},
		{"validate-missing-files-of-a-check", []string{"validate", own + "missing-files.yaml"}},
		{"dashboards-missing-config", []string{"dashboards", "--config", "examples/canay.yaml"}},
		{"daemon-missing-config", []string{"daemon", "--config", "examples/canay.yaml"}},
		// Prefixes that were doubled.
		{"daemon-demo-target-port-taken", []string{"daemon", "--config", "examples/canary.yaml", "--with-demo-target", taken.Addr().String()}},
		{"demo-target-port-taken", []string{"demo-target", "--listen", taken.Addr().String()}},
		{"gate-unknown-check", []string{"gate", "--server", api.URL, "--check", "nope"}},
		{"gate-prometheus-scenario-as-config", []string{"gate", "--prometheus", api.URL, "--config", "examples/smoke.yaml", "--check", "smoke"}},
		// The small ones.
		{"run-bad-slo", []string{"run", "examples/smoke.yaml", "--slo", "p99 < fast"}},
		{"run-two-outputs-on-stdout", []string{"run", "examples/smoke.yaml", "--out", "-", "--junit", "-"}},
		{"report-missing", []string{"report", "r.json"}},
		{"version-with-an-argument", []string{"version", "now"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := invoke(t, nil, tc.args...)
			var b strings.Builder
			fmt.Fprintf(&b, "$ canary %s\n", shellQuote(tc.args))
			if stdout != "" {
				fmt.Fprintf(&b, "-- stdout --\n%s", stdout)
			}
			if stderr != "" {
				fmt.Fprintf(&b, "-- stderr --\n%s", stderr)
			}
			fmt.Fprintf(&b, "-- exit %d --\n", code)
			// The ports these runs chose.
			got := strings.NewReplacer(taken.Addr().String(), "127.0.0.1:PORT", api.URL, "http://127.0.0.1:PORT").Replace(b.String())
			got = holderPID.ReplaceAllString(got, "in use by pid PID (NAME)")
			golden.Assert(t, filepath.Join(goldenDir, tc.name+".golden"), []byte(got))
			assert.NotEqual(t, ExitOK, code)
			for _, line := range strings.Split(stdout+stderr, "\n") {
				assert.Empty(t, doubledPrefix(line), "a prefix repeats in %q", line)
			}
		})
	}
}

// shellQuote writes args as they would be typed in a shell.
func shellQuote(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = a
		if a == "" || strings.ContainsAny(a, " <>|&;'\"$*?()") {
			out[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	return strings.Join(out, " ")
}

// doubledPrefix returns the part of an error line that repeats — the
// "demo target" of "demo target: demo target: listen …", the "scenario" of
// "scenario: scenario x.yaml" — or "" when none does.
func doubledPrefix(line string) string {
	parts := strings.Split(line, ": ")
	for i := 0; i+1 < len(parts); i++ {
		p, next := strings.TrimSpace(parts[i]), strings.TrimSpace(parts[i+1])
		if p == "" {
			continue
		}
		// "check \"demo\": scenario" ends with the word the next part
		// starts with: "…: scenario: scenario x.yaml".
		words := strings.Fields(p)
		last := words[len(words)-1]
		// "demo target 127.0.0.1:8080: demo target: listen …" says it
		// again after saying more.
		if next == p || next == last || strings.HasPrefix(next, p+" ") || strings.HasPrefix(next, last+" ") || strings.HasPrefix(p, next+" ") {
			return p
		}
	}
	return ""
}

func TestDoubledPrefix(t *testing.T) {
	for _, tc := range []struct{ line, want string }{
		{"canary: demo target: demo target: listen tcp 127.0.0.1:9090: bind: address already in use", "demo target"},
		{`cfg.yaml:3:15: check "demo": scenario: scenario: open nope.yaml: no such file or directory`, "scenario"},
		{`cfg.yaml:3:15: check "demo": scenario: scenario nope.yaml: no such file or directory`, "scenario"},
		{"canary: scenario: scenario x.yaml: no such file", "scenario"},
		{"canary: demo target 127.0.0.1:8080: demo target: listen tcp 127.0.0.1:8080: bind: address already in use", "demo target 127.0.0.1:8080"},
		{`cfg.yaml:3:15: check "demo": scenario nope.yaml: no such file or directory`, ""},
		{"canary: demo target: listen tcp 127.0.0.1:9090: bind: address already in use", ""},
		{"canary: canary.yaml:1:1: this is a daemon config", ""},
		{"", ""},
	} {
		assert.Equal(t, tc.want, doubledPrefix(tc.line), "doubledPrefix(%q)", tc.line)
	}
}
