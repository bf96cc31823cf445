package config

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canaryproj/canary/internal/yamlfile"
)

func TestValidateFile(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, path, want, err string
	}{
		{name: "daemon config", path: "../examples/canary.yaml", want: "daemon config, 4 checks"},
		{name: "scenario", path: "../examples/checkout.yaml", want: `scenario "checkout", 4 steps`},
		{name: "profile with stages", path: "../examples/profiles/ramp.yaml", want: "open-model profile"},
		{name: "profile shorthand", path: write(t, "p.yaml", map[string]string{"p.yaml": "rate: 5/s\n"}), want: "open-model profile"},
		{name: "closed profile", path: write(t, "p.yaml", map[string]string{"p.yaml": "model: closed\nconstant: {target: 3, duration: 1m}\n"}), want: "closed-model profile"},
		{name: "unknown keys", path: write(t, "x.yaml", map[string]string{"x.yaml": "foo: 1\nbar: 2\n"}),
			err: "x.yaml:1:1: not a scenario (steps:), a profile (stages: or a shorthand) or a daemon config (checks:); keys found: bar, foo"},
		{name: "bad scenario", path: write(t, "s.yaml", map[string]string{"s.yaml": "name: s\nsteps:\n  - {name: a}\n"}), err: "s.yaml:3:"},
		{name: "missing", path: filepath.Join(dir, "nope.yaml"), err: "nope.yaml: no such file or directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, warnings, err := ValidateFile(t.Context(), tc.path, Options{Env: noEnv})
			assert.Empty(t, warnings)
			if tc.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

// A config, scenario or profile whose ${VAR}s are not set is readable when
// the reader only reads it (validate, rules, dashboards, gate
// --prometheus): each unset variable is a warning at its file:line:col, and
// what depends on it is not checked. Read to run it (the daemon, or
// validate --strict-env), each is an error with the same message.
func TestUnsetVariablesAreWarningsWhenOnlyReading(t *testing.T) {
	files := map[string]string{
		"canary.yaml": `server:
  listen: 127.0.0.1:9090
  auth_token: "${CANARY_TOKEN}"
allowed_hosts: [127.0.0.1]
max_rate: ${MAX_RATE:-100}
alerting:
  slack: {webhook_url: "${SLACK_WEBHOOK_URL}"}
checks:
  - name: shop
    scenario: shop.yaml
    profile: steady.yaml
    slos: [{name: availability, success: 99%}]
  - name: inline
    scenario:
      name: inline
      steps:
        - {name: a, request: {url: "${INLINE_URL}/health"}}
`,
		"shop.yaml": `name: shop
vars: {base: "${TARGET}"}
steps:
  - name: products
    request: {url: "{{ .base }}/products", headers: {X-Api-Key: "${ACC_SECRET}"}}
  - name: direct
    request: {url: "${BASE2}/x"}
`,
		"steady.yaml": "rate: ${RATE}\n",
	}
	cfg := write(t, "canary.yaml", files)
	dir := filepath.Dir(cfg)
	want := []string{
		"canary.yaml:3:15: environment variable CANARY_TOKEN is not set (write ${CANARY_TOKEN:-default} to give a default)",
		"canary.yaml:7:24: environment variable SLACK_WEBHOOK_URL is not set (write ${SLACK_WEBHOOK_URL:-default} to give a default)",
		"canary.yaml:17:36: environment variable INLINE_URL is not set (write ${INLINE_URL:-default} to give a default)",
		"shop.yaml:2:14: environment variable TARGET is not set (write ${TARGET:-default} to give a default)",
		"shop.yaml:5:65: environment variable ACC_SECRET is not set (write ${ACC_SECRET:-default} to give a default)",
		"shop.yaml:7:20: environment variable BASE2 is not set (write ${BASE2:-default} to give a default)",
		"steady.yaml:1:7: environment variable RATE is not set (write ${RATE:-default} to give a default)",
	}
	texts := func(errs []*yamlfile.Error) []string {
		var out []string
		for _, e := range errs {
			out = append(out, e.Error())
		}
		return out
	}

	t.Run("reading: warnings", func(t *testing.T) {
		c, err := LoadWith(t.Context(), cfg, Options{Env: noEnv, AllowUnset: true})
		require.NoError(t, err)
		assert.Equal(t, want, relative(dir, texts(c.Warnings)))
		assert.Len(t, c.Checks, 2)
		kind, warnings, err := ValidateFile(t.Context(), cfg, Options{Env: noEnv, AllowUnset: true})
		require.NoError(t, err)
		assert.Equal(t, "daemon config, 2 checks", kind)
		assert.Equal(t, want, relative(dir, texts(warnings)))
		_, warnings, err = ValidateFile(t.Context(), filepath.Join(dir, "shop.yaml"), Options{Env: noEnv, AllowUnset: true})
		require.NoError(t, err, "a scenario alone")
		assert.Len(t, warnings, 3)
	})
	t.Run("running: errors", func(t *testing.T) {
		_, err := Load(cfg, noEnv)
		require.Error(t, err)
		for _, w := range want {
			assert.Contains(t, relative(dir, []string{err.Error()})[0], w)
		}
		_, _, err = ValidateFile(t.Context(), cfg, Options{Env: noEnv})
		require.Error(t, err)
	})
	t.Run("set: neither", func(t *testing.T) {
		env := func(k string) (string, bool) {
			return map[string]string{"CANARY_TOKEN": "t", "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T/B/x",
				"INLINE_URL": "http://127.0.0.1:1", "TARGET": "http://127.0.0.1:2", "ACC_SECRET": "s", "BASE2": "http://127.0.0.1:3", "RATE": "2/s"}[k], true
		}
		c, err := LoadWith(t.Context(), cfg, Options{Env: env, AllowUnset: true})
		require.NoError(t, err)
		assert.Empty(t, c.Warnings)
	})
}

// relative strips dir from the file names in msgs.
func relative(dir string, msgs []string) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = strings.ReplaceAll(m, dir+string(filepath.Separator), "")
	}
	return out
}
