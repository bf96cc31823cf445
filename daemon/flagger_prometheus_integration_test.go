//go:build integration

package daemon

import (
	"bytes"
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
	"text/template"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/canaryproj/canary/demotarget"
)

// startPrometheus runs Debian's Prometheus (installed by scripts/deps.sh)
// on loopback, scraping target's /metrics every second.
func startPrometheus(t *testing.T, target string) string {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	require.NoError(t, err, "prometheus not found: run scripts/deps.sh")
	dir := t.TempDir()
	cfg := fmt.Sprintf("global: {scrape_interval: 1s}\nscrape_configs:\n  - job_name: canary\n    static_configs:\n      - targets: [%q]\n", target)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
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

// metricTemplate is the part of Flagger's MetricTemplate the snippet sets.
type metricTemplate struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name      string `yaml:"name"`
		Namespace string `yaml:"namespace"`
	} `yaml:"metadata"`
	Spec struct {
		Provider struct {
			Type    string `yaml:"type"`
			Address string `yaml:"address"`
		} `yaml:"provider"`
		Query string `yaml:"query"`
	} `yaml:"spec"`
}

// canaryMetric is Flagger's CanaryMetric (pkg/apis/flagger/v1beta1/canary.go).
type canaryMetric struct {
	Name           string   `yaml:"name"`
	Interval       string   `yaml:"interval"`
	Threshold      *float64 `yaml:"threshold"`
	ThresholdRange *struct {
		Min *float64 `yaml:"min"`
		Max *float64 `yaml:"max"`
	} `yaml:"thresholdRange"`
	Query       string `yaml:"query"`
	TemplateRef *struct {
		Name      string `yaml:"name"`
		Namespace string `yaml:"namespace"`
	} `yaml:"templateRef"`
	TemplateVariables map[string]string `yaml:"templateVariables"`
}

func strictYAML(t *testing.T, n *yaml.Node, v any) {
	t.Helper()
	raw, err := yaml.Marshal(n)
	require.NoError(t, err)
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	require.NoError(t, dec.Decode(v))
}

// flaggerQuery is what Flagger's Prometheus provider makes of a metric:
// the template rendered as observers.RenderQuery does (text/template with
// missingkey=error and the MetricTemplateModel's functions), white space
// squeezed as trimQuery does, run as an instant query; a missing or NaN
// value is "no values found", which halts the analysis.
func flaggerQuery(t *testing.T, prom, query, interval string, canary map[string]string, vars map[string]string) (float64, bool) {
	t.Helper()
	tmpl, err := template.New("tmpl").Option("missingkey=error").Funcs(template.FuncMap{
		"name":      func() string { return canary["name"] },
		"namespace": func() string { return canary["namespace"] },
		"target":    func() string { return canary["target"] },
		"service":   func() string { return canary["target"] },
		"ingress":   func() string { return canary["target"] },
		"route":     func() string { return canary["target"] },
		"interval":  func() string { return interval },
		"variables": func() map[string]string { return vars },
	}).Parse(query)
	require.NoError(t, err)
	var b bytes.Buffer
	require.NoError(t, tmpl.Execute(&b, nil))
	q := regexp.MustCompile(`\s+`).ReplaceAllString(b.String(), " ")
	resp, err := http.Get(prom + "/api/v1/query?query=" + url.QueryEscape(q))
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode, q)
	var out struct {
		Data struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	for _, r := range out.Data.Result {
		if s, ok := r.Value[1].(string); ok {
			v, err := strconv.ParseFloat(s, 64)
			require.NoError(t, err)
			return v, !math.IsNaN(v)
		}
	}
	return 0, false
}

// The MetricTemplate in docs/gates.md, with the Canary's metric that uses
// it, read by Prometheus from a daemon's /metrics as Flagger would: it
// passes the thresholdRange while the check's target is healthy and halts
// the analysis once the target fails.
func TestDocsFlaggerMetricTemplateWithPrometheus(t *testing.T) {
	var tmpl metricTemplate
	var doc yaml.Node
	require.NoError(t, yaml.Unmarshal(included(t, "deploy/flagger/metric-template.yaml", "yaml"), &doc))
	strictYAML(t, doc.Content[0], &tmpl)
	assert.Equal(t, "MetricTemplate", tmpl.Kind)
	assert.Equal(t, "prometheus", tmpl.Spec.Provider.Type)

	var canary yaml.Node
	require.NoError(t, yaml.Unmarshal(included(t, "deploy/flagger/canary.yaml", "yaml"), &canary))
	root := canary.Content[0]
	var metrics []canaryMetric
	strictYAML(t, child(child(child(root, "spec"), "analysis"), "metrics"), &metrics)
	var m *canaryMetric
	for i := range metrics {
		if metrics[i].TemplateRef != nil && metrics[i].TemplateRef.Name == tmpl.Metadata.Name {
			m = &metrics[i]
		}
	}
	require.NotNil(t, m, "the Canary uses the template")
	require.NotNil(t, m.ThresholdRange)
	require.NotNil(t, m.ThresholdRange.Min)
	assert.Regexp(t, crdTimeout, m.Interval)
	min := *m.ThresholdRange.Min
	model := map[string]string{"name": child(child(root, "metadata"), "name").Value,
		"namespace": child(child(root, "metadata"), "namespace").Value,
		"target":    child(child(child(root, "spec"), "targetRef"), "name").Value}

	td := startForDocs(t)
	prom := startPrometheus(t, strings.TrimPrefix(td.base, "http://"))
	var v float64
	var ok bool
	require.Eventually(t, func() bool {
		v, ok = flaggerQuery(t, prom, tmpl.Spec.Query, m.Interval, model, m.TemplateVariables)
		return ok && v >= min
	}, 60*time.Second, 500*time.Millisecond, "a healthy target passes: last %v (value found: %v)", v, ok)
	t.Logf("healthy: %s = %v >= %v", m.Name, v, min)

	require.NoError(t, td.demo.SetFaults(demotarget.Faults{ErrorRatio: 1, PathPrefix: "/products"}))
	require.Eventually(t, func() bool {
		v, ok = flaggerQuery(t, prom, tmpl.Spec.Query, m.Interval, model, m.TemplateVariables)
		return ok && v < min
	}, 60*time.Second, 500*time.Millisecond, "a failing target halts the analysis: last %v", v)
	t.Logf("failing: %s = %v < %v", m.Name, v, min)
}
