package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"text/template"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/canaryproj/canary/metrics"
	"github.com/canaryproj/canary/promql"
)

// The Flagger objects of deploy/flagger, decoded strictly with Flagger's
// field names (pkg/apis/flagger/v1beta1: metric.go, canary.go), so that a
// misspelt field fails here instead of being dropped by the API server.
type flaggerMetricTemplate struct {
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

type flaggerCanary struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name      string `yaml:"name"`
		Namespace string `yaml:"namespace"`
	} `yaml:"metadata"`
	Spec struct {
		TargetRef struct {
			APIVersion string `yaml:"apiVersion"`
			Kind       string `yaml:"kind"`
			Name       string `yaml:"name"`
		} `yaml:"targetRef"`
		Service struct {
			Name string `yaml:"name"`
			Port int    `yaml:"port"`
		} `yaml:"service"`
		Analysis struct {
			Interval   string          `yaml:"interval"`
			Threshold  int             `yaml:"threshold"`
			MaxWeight  int             `yaml:"maxWeight"`
			StepWeight int             `yaml:"stepWeight"`
			Metrics    []flaggerMetric `yaml:"metrics"`
		} `yaml:"analysis"`
	} `yaml:"spec"`
}

type flaggerMetric struct {
	Name        string `yaml:"name"`
	TemplateRef struct {
		Name      string `yaml:"name"`
		Namespace string `yaml:"namespace"`
	} `yaml:"templateRef"`
	TemplateVariables map[string]string `yaml:"templateVariables"`
	Interval          string            `yaml:"interval"`
	ThresholdRange    struct {
		Min *float64 `yaml:"min"`
		Max *float64 `yaml:"max"`
	} `yaml:"thresholdRange"`
}

const flaggerDir = "../../deploy/flagger"

// decodeAll decodes every YAML document of a file strictly into a new T.
func decodeAll[T any](t *testing.T, path string) []T {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var out []T
	for {
		var v T
		err := dec.Decode(&v)
		if errors.Is(err, io.EOF) {
			return out
		}
		require.NoError(t, err, "%s", path)
		out = append(out, v)
	}
}

// flaggerFiles loads deploy/flagger: the MetricTemplates by name, and the
// Canary.
func flaggerFiles(t *testing.T) (map[string]flaggerMetricTemplate, flaggerCanary) {
	t.Helper()
	templates := map[string]flaggerMetricTemplate{}
	for _, mt := range decodeAll[flaggerMetricTemplate](t, filepath.Join(flaggerDir, "metric-templates.yaml")) {
		require.Equal(t, "flagger.app/v1beta1", mt.APIVersion)
		require.Equal(t, "MetricTemplate", mt.Kind)
		templates[mt.Metadata.Name] = mt
	}
	canaries := decodeAll[flaggerCanary](t, filepath.Join(flaggerDir, "canary-metrics.yaml"))
	require.Len(t, canaries, 1)
	require.Equal(t, "flagger.app/v1beta1", canaries[0].APIVersion)
	require.Equal(t, "Canary", canaries[0].Kind)
	return templates, canaries[0]
}

// flaggerModel is Flagger's MetricTemplateModel: what a query template can
// read.
type flaggerModel struct {
	Name, Namespace, Target, Service, Ingress, Route, Interval string
	Variables                                                  map[string]string
}

// flaggerModelFor is Flagger's toMetricModel (pkg/controller/
// scheduler_metrics.go) for one metric of c: service, ingress and route
// default to the target's name.
func flaggerModelFor(c flaggerCanary, m flaggerMetric) flaggerModel {
	service := c.Spec.TargetRef.Name
	if c.Spec.Service.Name != "" {
		service = c.Spec.Service.Name
	}
	return flaggerModel{
		Name: c.Metadata.Name, Namespace: c.Metadata.Namespace, Target: c.Spec.TargetRef.Name,
		Service: service, Ingress: c.Spec.TargetRef.Name, Route: c.Spec.TargetRef.Name,
		Interval: m.Interval, Variables: m.TemplateVariables,
	}
}

var whitespaceRE = regexp.MustCompile(`\s+`)

// renderFlaggerQuery renders a MetricTemplate's query the way Flagger
// does: a text/template with one function per model field and
// missingkey=error (pkg/metrics/observers/render.go, RenderQuery; the
// functions are MetricTemplateModel.TemplateFunctions), then every run of
// whitespace folded into one space, as its Prometheus provider does before
// sending the query (pkg/metrics/providers/prometheus.go, trimQuery).
func renderFlaggerQuery(query string, m flaggerModel) (string, error) {
	funcs := template.FuncMap{
		"name":      func() string { return m.Name },
		"namespace": func() string { return m.Namespace },
		"target":    func() string { return m.Target },
		"service":   func() string { return m.Service },
		"ingress":   func() string { return m.Ingress },
		"route":     func() string { return m.Route },
		"interval":  func() string { return m.Interval },
		"variables": func() map[string]string { return m.Variables },
	}
	tmpl, err := template.New("tmpl").Option("missingkey=error").Funcs(funcs).Parse(query)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	if err := tmpl.Execute(&b, nil); err != nil {
		return "", err
	}
	return whitespaceRE.ReplaceAllString(b.String(), " "), nil
}

// docs/gates.md shows the files of deploy/flagger as they are.
func TestFlaggerFilesAreInTheDocs(t *testing.T) {
	doc, err := os.ReadFile("../../docs/gates.md")
	require.NoError(t, err)
	for _, name := range []string{"metric-templates.yaml", "canary-metrics.yaml", "canary.yaml"} {
		data, err := os.ReadFile(filepath.Join(flaggerDir, name))
		require.NoError(t, err)
		assert.True(t, strings.Contains(string(doc), "```yaml\n"+string(data)+"```\n"), "docs/gates.md shows deploy/flagger/%s verbatim, in a yaml block", name)
	}
}

func TestFlaggerMetricTemplatesRender(t *testing.T) {
	templates, canary := flaggerFiles(t)
	require.NotEmpty(t, canary.Spec.Analysis.Metrics)
	used := map[string]bool{}
	for _, m := range canary.Spec.Analysis.Metrics {
		t.Run(m.Name, func(t *testing.T) {
			mt, ok := templates[m.TemplateRef.Name]
			require.True(t, ok, "metric %q: no MetricTemplate %q in metric-templates.yaml", m.Name, m.TemplateRef.Name)
			used[m.TemplateRef.Name] = true
			assert.Equal(t, "prometheus", mt.Spec.Provider.Type)
			assert.NotEmpty(t, m.Interval, "the metric's interval is the query's window")
			assert.True(t, m.ThresholdRange.Min != nil || m.ThresholdRange.Max != nil, "a thresholdRange")

			q, err := renderFlaggerQuery(mt.Spec.Query, flaggerModelFor(canary, m))
			require.NoError(t, err)
			assert.NotContains(t, q, "{{")
			assert.Contains(t, q, "["+m.Interval+"]")
			assert.Contains(t, q, `check="`+m.TemplateVariables["check"]+`"`)

			// Flagger refuses to render a template whose variable the
			// Canary does not set, rather than querying an empty label.
			model := flaggerModelFor(canary, m)
			model.Variables = nil
			_, err = renderFlaggerQuery(mt.Spec.Query, model)
			assert.Error(t, err, "rendering %q without templateVariables", m.TemplateRef.Name)
		})
	}
	assert.Len(t, used, len(templates), "every MetricTemplate is used by the Canary")

	// The latency template is the p99 the rules, the dashboard and the gate
	// compute, in milliseconds: native histogram or classic buckets.
	q, err := renderFlaggerQuery(templates["canary-latency-p99"].Spec.Query,
		flaggerModel{Interval: "2m", Variables: map[string]string{"check": "c", "step": "s"}})
	require.NoError(t, err)
	want := "1000 * ( " + promql.Quantile(0.99, metrics.RequestDuration, `check="c",step="s"`, "", "2m") + " )"
	assert.Equal(t, want, strings.TrimSpace(q))
}
