package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/canaryproj/canary/internal/membound"
)

// FuzzParseConfig validates a daemon config (checks, SLOs, burn rates, cron
// schedules, inline scenarios and profiles). It sits in a file of its own
// beside the config parser.
func FuzzParseConfig(f *testing.F) {
	example, err := os.ReadFile("../examples/canary.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(example))
	f.Add(`checks:
  - name: a
    scenario: {name: s, steps: [{name: x, request: {url: "http://127.0.0.1/"}}]}
    profile: {rate: 1/10s}
    schedule: "*/15 * * * *"
    slos:
      - {name: ok, success: 99.9%}
      - {name: fast, latency: {step: x, percentile: 99, below: 300ms}}
      - {name: few, errors: 1%}
alerting:
  burn_rates: [{long: 1h, short: 5m, factor: 14.4, severity: page}]
  slo_period: 30d
`)
	f.Add("server: {listen: 127.0.0.1:9090, auth_token: \"${TOKEN}\"}\nstate_dir: x\nallowed_hosts: [\"*.example.com\"]\nchecks: []\n")
	f.Add("checks:\n  - {name: a, scenario: s.yaml, schedule: \"@every 1s\"}\n")
	dir := f.TempDir()
	file := filepath.Join(dir, "canary.yaml")
	env := func(k string) (string, bool) {
		if k == "TOKEN" {
			return "t0ken", true
		}
		return "", false
	}
	f.Fuzz(func(t *testing.T, src string) {
		// A config within the YAML budget (1 MiB, 250,000 values) decodes
		// in well under this; the scenarios it names are files in an
		// empty directory.
		membound.Check(t, 128*membound.MiB, func() {
			cfg, err := Parse(file, []byte(src), env)
			if err != nil {
				for _, line := range strings.Split(err.Error(), "\n") {
					if !strings.HasPrefix(line, file+":") && !strings.HasPrefix(line, "/") {
						t.Fatalf("a problem without its file and position: %q", line)
					}
				}
				return
			}
			if len(cfg.Checks) > MaxChecks {
				t.Fatalf("%d checks accepted, more than %d", len(cfg.Checks), MaxChecks)
			}
		})
	})
}
