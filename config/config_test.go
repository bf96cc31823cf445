package config

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canaryproj/canary/alert"
	"github.com/canaryproj/canary/slo"
)

func noEnv(string) (string, bool) { return "", false }

// write puts files (name → content) in a fresh directory and returns the
// path of the first argument's file there.
func write(t *testing.T, main string, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644))
	}
	return filepath.Join(dir, main)
}

const okScenario = "name: shop\nsteps:\n  - {name: login, request: {url: \"http://127.0.0.1:1/\"}}\n"

func TestParseValid(t *testing.T) {
	path := write(t, "c.yaml", map[string]string{
		"shop.yaml": okScenario,
		"c.yaml": `server: {auth_token: "${TOKEN}", external_url: "https://canary.example.com"}
allowed_hosts: [127.0.0.1, "*.Example.com "]
alerting:
  slack: {webhook_url: "${HOOK}"}
  alertmanager: {url: "http://127.0.0.1:9093"}
  resolve_after: 4
  resolve_for: 15m
  burn_rates:
    - {long: 1h, short: 5m, factor: 14.4}
checks:
  - name: shop
    scenario: shop.yaml
    slos:
      - {name: availability, success: 99.5%}
      - {name: login-p99, latency: {step: login, percentile: 99, below: 300ms, service: true}}
      - {name: certificate, tls_expiry: 14d}
  - name: nightly
    scenario: shop.yaml
    profile: {constant: {target: 2, duration: 1m}}
    schedule: "@daily"
`,
	})
	env := map[string]string{"TOKEN": "tok-secret", "HOOK": "https://hooks.slack.com/services/T/B/secret"}
	cfg, err := Load(path, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	require.NoError(t, err)

	assert.Equal(t, DefaultListen, cfg.Server.Listen)
	assert.Equal(t, DefaultShutdownGrace, cfg.Server.ShutdownGrace)
	assert.Equal(t, Server{
		Listen: DefaultListen, AuthToken: "tok-secret", ShutdownGrace: DefaultShutdownGrace, ExternalURL: "https://canary.example.com",
		ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: time.Minute, IdleTimeout: 30 * time.Second,
		MaxBodyBytes: 1 << 20, MaxUnauthenticatedRequests: 64,
	}, cfg.Server, "the server's defaults")
	assert.Equal(t, filepath.Join(filepath.Dir(path), "canary-data"), cfg.StateDir, "relative to the config file")
	assert.Equal(t, []string{"127.0.0.1", "*.example.com"}, cfg.AllowedHosts, "lower-cased and trimmed")
	assert.True(t, cfg.Alerting.Slack.Enabled())
	assert.True(t, cfg.Alerting.Alertmanager.Enabled())
	assert.Equal(t, []alert.BurnWindow{{Long: time.Hour, Short: 5 * time.Minute, Factor: 14.4, Severity: "page"}}, cfg.Policy.Windows)
	assert.Equal(t, 4, cfg.Policy.ResolveAfter)
	assert.Equal(t, 15*time.Minute, cfg.Policy.ResolveFor)
	assert.Equal(t, "<redacted> and <redacted>", cfg.Secrets.String("tok-secret and https://hooks.slack.com/services/T/B/secret"))

	shop := cfg.CheckByName("shop")
	require.NotNil(t, shop)
	assert.Nil(t, shop.Schedule)
	assert.Equal(t, DefaultWindow, shop.Window)
	assert.Equal(t, int64(DefaultMinSamples), shop.MinSamples)
	assert.True(t, shop.Profile.Loop, "no profile: the light monitor, repeated")
	require.Len(t, shop.SLOs, 3)
	assert.Equal(t, slo.Objective{Name: "login-p99", Kind: slo.KindLatency, Op: slo.LT, Target: 0.3, Stat: slo.Percentile, Percentile: 99, Step: "login", Service: true, Steps: []string{"login"}}, shop.SLOs[1])
	assert.Equal(t, slo.Objective{Name: "certificate", Kind: slo.KindTLSExpiry, Op: slo.GT, Target: (14 * 24 * time.Hour).Seconds()}, shop.SLOs[2])
	assert.Equal(t, "tls_expiry>14d", shop.SLOs[2].String())

	nightly := cfg.CheckByName("nightly")
	require.NotNil(t, nightly)
	assert.NotNil(t, nightly.Schedule)
	assert.False(t, nightly.Profile.Loop, "a scheduled check runs its profile once")
	assert.NotEqual(t, shop.Fingerprint, nightly.Fingerprint)
	assert.Nil(t, cfg.CheckByName("nope"))

	for _, tc := range []struct{ host, err string }{
		{"127.0.0.1", ""},
		{"127.0.0.1:8080", ""},
		{"api.example.com", ""},
		{"API.Example.com.", ""},
		{"example.com", `host "example.com" is not in allowed_hosts [127.0.0.1 *.example.com]`},
		{"evil.com", `host "evil.com" is not in allowed_hosts [127.0.0.1 *.example.com]`},
	} {
		err := cfg.HostAllowed(tc.host)
		if tc.err == "" {
			assert.NoError(t, err, tc.host)
		} else {
			assert.EqualError(t, err, tc.err, tc.host)
		}
	}
}

// One objective grammar: a check's slos take the expression form beside the
// structured one, and a check without slos takes its scenario's own.
func TestSLOForms(t *testing.T) {
	const tagged = `name: shop
steps:
  - {name: login, tags: {region: eu}, request: {method: POST, url: "http://127.0.0.1:1/login"}}
  - {name: cart, tags: {region: us}, request: {url: "http://127.0.0.1:1/cart"}}
slos:
  - errors(login) < 0.1%
  - {expr: "p99 < 500ms", abort_on_fail: {min_samples: 50}}
`
	path := write(t, "c.yaml", map[string]string{
		"shop.yaml": tagged,
		"c.yaml": `checks:
  - name: shop
    scenario: shop.yaml
    slos:
      - "p99(cart, region=us) < 400 ms"
      - {name: eu-errors, expr: "errors(region=eu)<1%", abort_on_fail: true}
      - {name: availability, success: 99.5%, abort_on_fail: {for: 30s}}
      - {name: login-p99, latency: {step: login, percentile: 99, below: 800ms}}
  - name: own
    scenario: shop.yaml
`,
	})
	cfg, err := Load(path, noEnv)
	require.NoError(t, err)
	var got []string
	for _, o := range cfg.CheckByName("shop").SLOs {
		got = append(got, o.Name+" = "+o.Spec()+" on "+strings.Join(o.Steps, ","))
	}
	assert.Equal(t, []string{
		"p99(cart, region=us)<400ms = p99(cart, region=us)<400ms on cart",
		"eu-errors = errors(region=eu)<1% abort_on_fail on login",
		"availability = success>=99.5% abort_on_fail(for=30s) on ",
		"login-p99 = p99(login)<800ms on login",
	}, got)
	got = nil
	for _, o := range cfg.CheckByName("own").SLOs {
		got = append(got, o.Name+" on "+strings.Join(o.Steps, ","))
	}
	require.Len(t, cfg.CheckByName("own").SLOs, 2)
	assert.Equal(t, &slo.Abort{MinSamples: 50}, cfg.CheckByName("own").SLOs[1].Abort)
	assert.Equal(t, []string{"errors(login)<0.1% on login", "p99<500ms on login,cart"}, got,
		"a check without slos takes its scenario's")

	bad := write(t, "c.yaml", map[string]string{
		"shop.yaml": tagged,
		"c.yaml": `checks:
  - name: shop
    scenario: shop.yaml
    slos:
      - "errors<1"
      - {expr: "p99(region=asia) < 1s"}
      - {expr: "p99<1s abort_on_fail", abort_on_fail: true}
      - 42ms
`,
	})
	_, err = Load(bad, noEnv)
	require.Error(t, err)
	assert.Equal(t, []string{
		bad + `:5:9: slo "errors<1": value "1": a ratio needs a %: errors<1% is 1 percent, errors<100% is the fraction 1`,
		bad + `:6:16: slo "p99(region=asia) < 1s": no step has region=asia (steps login: method=POST, region=eu; cart: method=GET, region=us)`,
		bad + `:7:55: abort_on_fail: the expression has its own abort_on_fail already`,
		bad + `:8:9: slo "42ms": want METRIC OP VALUE, e.g. p99<300ms, p95(login)<200ms, errors<1%, errors(login)<0.1%, success>=99.9%, rps>=90 (not "42ms")`,
	}, strings.Split(err.Error(), "\n"))
}

// Every problem is reported at once, each at its file:line:col.
func TestParseInvalid(t *testing.T) {
	for _, tc := range []struct {
		name string
		yaml string
		want []string // "line:col: message", in order
	}{
		{
			name: "server",
			yaml: "server: {listen: nope, external_url: ftp://x}\nallowed_hosts: [\"http://a\"]\nmax_rate: 0\n",
			want: []string{
				`1:18: listen "nope": want HOST:PORT, e.g. 127.0.0.1:9090`,
				`1:38: external_url "ftp://x" must start with http:// or https://`,
				`2:17: allowed_hosts entry "http://a": want a host name or IP (no scheme, port or path); *.example.com allows subdomains`,
				`3:11: max_rate must be positive`,
			},
		},
		{
			name: "server limits",
			yaml: "server:\n  auth_token: same\n  run_token: same\n  read_timeout: -1s\n  idle_timeout: -2s\n  max_body_bytes: 1000000000\n  max_unauthenticated_requests: -1\n",
			want: []string{
				`3:14: run_token must differ from auth_token: it is the token with fewer rights`,
				`4:17: invalid duration "-1s": must not be negative`,
				`5:17: invalid duration "-2s": must not be negative`,
				`6:19: max_body_bytes 1000000000: want 1 to 67108864`,
				`7:33: max_unauthenticated_requests must be positive`,
			},
		},
		{
			name: "external_url",
			yaml: "server: {external_url: \"https://u:p@canary.example.com/x?y=1\"}\n",
			want: []string{
				`1:24: external_url: want a base URL like https://canary.example.com or https://example.com/canary (a host; no user, query or fragment)`,
			},
		},
		{
			name: "notifiers",
			yaml: "alerting:\n  slack: {webhook_url: hooks.slack.com, token: x}\n  alertmanager: {url: am:9093}\n",
			want: []string{
				`2:10: slack: set webhook_url or token, not both`,
				`2:10: slack: a bot token needs a channel`,
				`2:24: slack webhook_url must be an http(s) URL`,
				`3:23: alertmanager url must be an http(s) URL`,
			},
		},
		{
			name: "bot token without channel",
			yaml: "alerting:\n  slack: {token: xoxb-1}\n",
			want: []string{`2:10: slack: a bot token needs a channel`},
		},
		{
			name: "policy",
			yaml: "alerting:\n  resolve_after: -1\n  resolve_for: -1m\n  burn_rates:\n    - {long: 5m, short: 1h, factor: 0}\n    - {long: 0s, short: 1m, factor: 2}\n",
			want: []string{
				`2:18: resolve_after must be at least 1`,
				`3:16: invalid duration "-1m": must not be negative`,
				`5:25: short window 1h0m0s must be shorter than the long window 5m0s`,
				`5:37: factor must be positive`,
				`6:7: burn rate windows must be positive`,
			},
		},
		{
			name: "checks",
			yaml: `checks:
  - name: Shop
    scenario: shop.yaml
    profile: {constant: {target: 1, duration: 1m}}
    labels: {slo: x}
    min_samples: -1
    schedule: "every day"
    slos:
      - {name: a, success: 99%, errors: 1%}
      - {name: a, latency: {step: nope, percentile: 100, below: 0s}}
      - {name: b, success: lots}
      - {name: c, tls_expiry: soon}
  - name: Shop
    scenario: shop.yaml
`,
			want: []string{
				`2:11: check name "Shop": use lower-case letters, digits, '-' and '_' (it becomes a metric label)`,
				`5:13: label "slo": want a Prometheus label name other than check, slo and severity`,
				`6:18: min_samples must not be negative`,
				`7:15: schedule "every day": expected exactly 5 fields, found 2: [every day] (want a cron expression like "*/15 * * * *" or @hourly)`,
				`9:9: SLO "a": give exactly one of success, errors, latency or tls_expiry (or an expression: expr: "p99(login) < 800ms")`,
				`10:16: duplicate SLO name "a"`,
				`10:35: step "nope" is not in the scenario (steps: login)`,
				`10:53: percentile 100 must be between 0 and 100 (exclusive)`,
				`10:65: below must be a positive duration`,
				`11:28: success "lots": want a percentage like 99.5% or a fraction like 0.995`,
				`12:31: tls_expiry "soon": want a duration like 14d, 2w or 36h`,
				`13:11: check name "Shop": use lower-case letters, digits, '-' and '_' (it becomes a metric label)`,
				`13:11: duplicate check name "Shop"`,
			},
		},
		{
			name: "host outside allowed_hosts",
			yaml: "allowed_hosts: [127.0.0.1]\nchecks:\n  - {name: far, scenario: far.yaml}\n",
			want: []string{`3:27: check "far": host "example.com" is not in allowed_hosts [127.0.0.1]`},
		},
		{
			name: "rates over max_rate",
			yaml: "max_rate: 10\nchecks:\n  - {name: a, scenario: shop.yaml, profile: {rate: 8/s}}\n  - {name: b, scenario: shop.yaml, profile: {rate: 8/s}}\n",
			want: []string{`3:3: the checks' rates add up to 16/s, over max_rate 10/s; lower them or raise max_rate`},
		},
		{
			name: "scheduled looping profile",
			yaml: "checks:\n  - {name: a, scenario: shop.yaml, schedule: \"@hourly\", profile: {constant: {target: 1, duration: 1m}, loop: true}}\n",
			want: []string{`2:66: a scheduled check runs its profile once per schedule; a looping profile would never end`},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := write(t, "c.yaml", map[string]string{
				"c.yaml":    tc.yaml,
				"shop.yaml": okScenario,
				"far.yaml":  "name: far\nsteps:\n  - {name: a, request: {url: \"https://example.com/\"}}\n",
			})
			_, err := Load(path, noEnv)
			require.Error(t, err)
			var want []string
			for _, w := range tc.want {
				want = append(want, path+":"+w)
			}
			assert.Equal(t, want, strings.Split(err.Error(), "\n"))
		})
	}
}

// A problem inside a referenced file carries that file's own position.
func TestParseReportsReferencedFiles(t *testing.T) {
	path := write(t, "c.yaml", map[string]string{
		"c.yaml":   "checks:\n  - {name: a, scenario: bad.yaml, profile: p.yaml}\n",
		"bad.yaml": "name: bad\nsteps:\n  - {name: a, request: {url: \"http://127.0.0.1/\"}, expectt: {}}\n",
		"p.yaml":   "rate: fast\n",
	})
	_, err := Load(path, noEnv)
	require.Error(t, err)
	dir := filepath.Dir(path)
	msg := err.Error()
	assert.Contains(t, msg, filepath.Join(dir, "bad.yaml")+":3:")
	assert.Contains(t, msg, filepath.Join(dir, "p.yaml")+":1:")
}

func TestLoadMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.yaml")
	_, err := Load(path, noEnv)
	require.ErrorIs(t, err, fs.ErrNotExist)
	assert.Equal(t, "config "+path+": no such file or directory", err.Error())
}
