package argo

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	analysisutil "github.com/argoproj/argo-rollouts/utils/analysis"
	"github.com/stretchr/testify/require"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"
)

// template reads deploy/argo/NAME.yaml strictly into Argo's
// AnalysisTemplate: an unknown or misspelt field is an error, as it is for
// `kubectl apply --validate=strict` against Argo's CRD.
func template(t *testing.T, name string) *v1alpha1.AnalysisTemplate {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(root, "deploy", "argo", name+".yaml"))
	require.NoError(t, err)
	var tmpl v1alpha1.AnalysisTemplate
	require.NoError(t, yaml.UnmarshalStrict(raw, &tmpl), "deploy/argo/%s.yaml", name)
	require.Equal(t, "argoproj.io/v1alpha1", tmpl.APIVersion)
	require.Equal(t, "AnalysisTemplate", tmpl.Kind)
	return &tmpl
}

// arg is an Argo argument with a value.
func arg(name, value string) v1alpha1.Argument {
	return v1alpha1.Argument{Name: name, Value: ptr.To(value)}
}

// TestTemplatesAreValidForArgo: Argo's own checks, the ones its controller
// runs before the first measurement, pass on each template with the
// arguments its comment tells a Rollout to pass.
func TestTemplatesAreValidForArgo(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []v1alpha1.Argument
	}{
		{"verdict", []v1alpha1.Argument{arg("check", "checkout")}},
		{"run", []v1alpha1.Argument{arg("check", "checkout"), arg("revision", "5f7b9c"), arg("canary-token", "t")}},
		{"prometheus", []v1alpha1.Argument{arg("check", "checkout")}},
		{"job", []v1alpha1.Argument{arg("base-url", "http://checkout-canary.staging.svc.cluster.local")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmpl := template(t, tc.name)
			run, err := analysisutil.NewAnalysisRunFromTemplates([]*v1alpha1.AnalysisTemplate{tmpl}, nil, tc.args, nil, nil, nil, nil, "r", "", "default")
			require.NoError(t, err)
			// The run template's token comes from a Secret: the controller
			// resolves it at measurement time.
			for i, a := range run.Spec.Args {
				if a.ValueFrom != nil {
					run.Spec.Args[i] = arg(a.Name, "secret")
				}
			}
			require.NoError(t, analysisutil.ResolveArgs(run.Spec.Args))
			var metrics []v1alpha1.Metric
			for _, m := range run.Spec.Metrics {
				r, err := analysisutil.ResolveMetricArgs(m, run.Spec.Args)
				require.NoError(t, err)
				metrics = append(metrics, *r)
			}
			require.NoError(t, analysisutil.ValidateMetrics(metrics))
		})
	}
}

func TestStrictDecodingRejectsAMisspeltField(t *testing.T) {
	var tmpl v1alpha1.AnalysisTemplate
	err := yaml.UnmarshalStrict([]byte("apiVersion: argoproj.io/v1alpha1\nkind: AnalysisTemplate\nmetadata: {name: x}\nspec:\n  metrics:\n    - name: m\n      inconclusiveLimt: 3\n"), &tmpl)
	require.ErrorContains(t, err, `unknown field "inconclusiveLimt"`)
}
