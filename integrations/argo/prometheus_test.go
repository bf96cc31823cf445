package argo

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/argoproj/argo-rollouts/metricproviders/prometheus"
	"github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	analysisutil "github.com/argoproj/argo-rollouts/utils/analysis"
	log "github.com/sirupsen/logrus"
	"github.com/stretchr/testify/require"
)

// startPrometheus runs the Prometheus that scripts/deps.sh installs on
// loopback, scraping the given canary daemons every second.
func startPrometheus(t *testing.T, daemons ...*daemon) string {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	require.NoError(t, err, "prometheus: run scripts/deps.sh (make test does)")
	dir := t.TempDir()
	var targets []string
	for _, d := range daemons {
		targets = append(targets, fmt.Sprintf("%q", strings.TrimPrefix(d.url, "http://")))
	}
	cfg := "global: {scrape_interval: 1s, evaluation_interval: 1s}\nscrape_configs:\n  - job_name: canary\n    static_configs: [{targets: [" + strings.Join(targets, ", ") + "]}]\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o600))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() })
	return "http://" + addr
}

// promValues are the values of an instant query, sorted as Prometheus
// answers them.
func promValues(t *testing.T, base, query string) []string {
	resp, err := http.Get(base + "/api/v1/query?query=" + url.QueryEscape(query))
	if err != nil {
		return nil // not up yet
	}
	defer resp.Body.Close()
	var body struct {
		Data struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	var out []string
	for _, r := range body.Data.Result {
		out = append(out, fmt.Sprint(r.Value[1]))
	}
	return out
}

// TestPrometheusTemplate measures deploy/argo/prometheus.yaml with Argo's
// Prometheus provider against a real Prometheus scraping real daemons. The
// second daemon judges its own "good" check (same name, a target answering
// 500s) as failed, so the check has two series: one fail among passes must
// fail the measurement.
func TestPrometheusTemplate(t *testing.T) {
	target := demoTarget(t)
	d := startDaemon(t, t.TempDir(), target)
	other := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(other, "canary.yaml"), []byte(strings.Replace(
		daemonConfig(target, filepath.Join(other, "state")), target+`/health"}, expect: {status: 200}}]}
    profile: {rate: 20/s}`, target+`/status/500"}, expect: {status: 200}}]}
    profile: {rate: 20/s}`, 1)), 0o600))
	d2 := startDaemon(t, other, target)
	prom := startPrometheus(t, d, d2)

	d.waitVerdicts(t, map[string]string{"good": "pass", "bad": "fail", "starved": "inconclusive"})
	d2.waitVerdicts(t, map[string]string{"good": "fail"})
	require.Eventually(t, func() bool {
		return fmt.Sprint(promValues(t, prom, `sort_desc(canary_verdict{check="good"})`)) == "[1 0]" &&
			fmt.Sprint(promValues(t, prom, `canary_verdict{check="bad"}`)) == "[0 0]" &&
			fmt.Sprint(promValues(t, prom, `canary_verdict{check="starved"}`)) == "[-1 -1]" &&
			fmt.Sprint(promValues(t, prom, `canary_verdict{check="good",instance=~"`+strings.TrimPrefix(d.url, "http://")+`"}`)) == "[1]"
	}, 90*time.Second, 250*time.Millisecond, "Prometheus has scraped the verdicts")

	tmpl := template(t, "prometheus")
	for _, tc := range []struct {
		name, check, prometheus string
		want                    v1alpha1.AnalysisPhase
		value                   string
	}{
		// The argument narrows the query to the first daemon's series, so
		// that the conditions see only passes.
		{"every instance passes", `good",instance="` + strings.TrimPrefix(d.url, "http://"), prom, v1alpha1.AnalysisPhaseSuccessful, "[1]"},
		{"one instance of two fails", "good", prom, v1alpha1.AnalysisPhaseFailed, ""},
		{"fail", "bad", prom, v1alpha1.AnalysisPhaseFailed, "[0,0]"},
		{"inconclusive", "starved", prom, v1alpha1.AnalysisPhaseInconclusive, "[-1,-1]"},
		{"no series: a wrong check name", "nosuch", prom, v1alpha1.AnalysisPhaseInconclusive, "[]"},
		{"Prometheus unreachable", "good", "http://127.0.0.1:1", v1alpha1.AnalysisPhaseError, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run, err := analysisutil.NewAnalysisRunFromTemplates([]*v1alpha1.AnalysisTemplate{tmpl}, nil,
				[]v1alpha1.Argument{arg("check", tc.check), arg("prometheus-url", tc.prometheus)}, nil, nil, nil, nil, "p", "", namespace)
			require.NoError(t, err)
			metric, err := analysisutil.ResolveMetricArgs(run.Spec.Metrics[0], run.Spec.Args)
			require.NoError(t, err)
			api, err := prometheus.NewPrometheusAPI(*metric)
			require.NoError(t, err)
			p, err := prometheus.NewPrometheusProvider(api, *log.NewEntry(log.StandardLogger()), *metric)
			require.NoError(t, err)
			m := p.Run(run, *metric)
			require.Equal(t, tc.want, m.Phase, "%s: %s %s", metric.Provider.Prometheus.Query, m.Value, m.Message)
			if tc.value != "" {
				require.Equal(t, tc.value, m.Value)
			}
		})
	}
}
