package argo

import (
	"fmt"
	"testing"
	"time"

	"github.com/argoproj/argo-rollouts/metricproviders/webmetric"
	"github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	analysisutil "github.com/argoproj/argo-rollouts/utils/analysis"
	log "github.com/sirupsen/logrus"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// measure takes one measurement of the template's only metric with Argo's
// web provider, the arguments substituted as Argo's controller does.
func measure(t *testing.T, tmpl *v1alpha1.AnalysisTemplate, args ...v1alpha1.Argument) v1alpha1.Measurement {
	t.Helper()
	run, err := analysisutil.NewAnalysisRunFromTemplates([]*v1alpha1.AnalysisTemplate{tmpl}, nil, args, nil, nil, nil, nil, "m", "", namespace)
	require.NoError(t, err)
	require.Len(t, run.Spec.Metrics, 1)
	metric, err := analysisutil.ResolveMetricArgs(run.Spec.Metrics[0], run.Spec.Args)
	require.NoError(t, err)
	client, err := webmetric.NewWebMetricHttpClient(*metric)
	require.NoError(t, err)
	parser, err := webmetric.NewWebMetricJsonParser(*metric)
	require.NoError(t, err)
	return webmetric.NewWebMetricProvider(*log.NewEntry(log.StandardLogger()), client, parser).Run(run, *metric)
}

// verdictCases are the daemon's three verdicts and an unknown check, with
// the phase Argo gives each measurement.
var verdictCases = []struct {
	check string
	want  v1alpha1.AnalysisPhase
}{
	{"good", v1alpha1.AnalysisPhaseSuccessful},
	{"bad", v1alpha1.AnalysisPhaseFailed},
	{"starved", v1alpha1.AnalysisPhaseInconclusive},
	{"nosuch", v1alpha1.AnalysisPhaseError}, // 404: not 2xx
}

// TestVerdictTemplate measures deploy/argo/verdict.yaml against a real
// daemon with Argo's web provider, then lets Argo's analysis controller
// judge whole analyses: one "fail" aborts, "inconclusive" is tolerated up
// to the limit and pauses the rollout beyond it.
func TestVerdictTemplate(t *testing.T) {
	target := demoTarget(t)
	d := startDaemon(t, t.TempDir(), target)
	d.waitVerdicts(t, map[string]string{"good": "pass", "bad": "fail", "starved": "inconclusive"})
	tmpl := template(t, "verdict")

	t.Run("one measurement", func(t *testing.T) {
		for _, tc := range verdictCases {
			t.Run(tc.check, func(t *testing.T) {
				m := measure(t, tmpl, arg("check", tc.check), arg("canary-url", d.url))
				require.Equal(t, tc.want, m.Phase, "GET /api/v1/checks/%s/verdict: %s %s", tc.check, m.Value, m.Message)
			})
		}
	})

	t.Run("an analysis", func(t *testing.T) {
		c := startController(t)
		for _, tc := range []struct {
			check        string
			want         v1alpha1.AnalysisPhase
			measurements int
			message      string
		}{
			{"good", v1alpha1.AnalysisPhaseSuccessful, 5, ""},
			{"bad", v1alpha1.AnalysisPhaseFailed, 1, `failed (1) > failureLimit (0)`},
			{"starved", v1alpha1.AnalysisPhaseInconclusive, 5, `inconclusive (5) > inconclusiveLimit (4)`},
		} {
			t.Run(tc.check, func(t *testing.T) {
				run := c.analyse(t, "verdict-"+tc.check, compress(tmpl), []v1alpha1.Argument{arg("check", tc.check), arg("canary-url", d.url)}, nil)
				require.Equal(t, tc.want, run.Status.Phase, run.Status.Message)
				require.Contains(t, run.Status.Message, tc.message)
				require.Len(t, run.Status.MetricResults, 1)
				require.EqualValues(t, tc.measurements, run.Status.MetricResults[0].Count)
			})
		}
	})
}

// TestRunTemplate has deploy/argo/run.yaml start on-demand runs on a real
// daemon. "running" is an Inconclusive measurement to Argo; the template's
// inconclusiveLimit lets the analysis poll through it to the run's result.
func TestRunTemplate(t *testing.T) {
	target := demoTarget(t)
	dir := t.TempDir()
	d := startDaemon(t, dir, target)
	tmpl := template(t, "run")
	args := func(check, key, duration string) []v1alpha1.Argument {
		return []v1alpha1.Argument{arg("check", check), arg("revision", key), arg("duration", duration), arg("canary-url", d.url), arg("canary-token", runToken)}
	}

	t.Run("measurements", func(t *testing.T) {
		for _, tc := range []struct {
			name, check string
			want        v1alpha1.AnalysisPhase
			value       string
		}{
			{"a passing run", "good", v1alpha1.AnalysisPhaseSuccessful, `"passed"`},
			{"a failing run", "bad", v1alpha1.AnalysisPhaseFailed, `"failed"`},
		} {
			t.Run(tc.name, func(t *testing.T) {
				a := args(tc.check, "m-"+tc.check, "2s")
				first := measure(t, tmpl, a...)
				require.Equal(t, v1alpha1.AnalysisPhaseInconclusive, first.Phase, "%s %s", first.Value, first.Message)
				require.Equal(t, `"running"`, first.Value)
				require.Eventually(t, func() bool {
					m := measure(t, tmpl, a...)
					if m.Phase == v1alpha1.AnalysisPhaseInconclusive {
						return false
					}
					require.Equal(t, tc.want, m.Phase, "%s %s", m.Value, m.Message)
					require.Equal(t, tc.value, m.Value)
					return true
				}, time.Minute, 250*time.Millisecond)
			})
		}
		t.Run("a wrong token is an Error", func(t *testing.T) {
			a := args("good", "m-token", "2s")
			a[4] = arg("canary-token", "wrong")
			m := measure(t, tmpl, a...)
			require.Equal(t, v1alpha1.AnalysisPhaseError, m.Phase)
			require.Contains(t, m.Message, "401")
		})
		t.Run("an unknown check is an Error", func(t *testing.T) {
			m := measure(t, tmpl, args("nosuch", "m-nosuch", "2s")...)
			require.Equal(t, v1alpha1.AnalysisPhaseError, m.Phase)
			require.Contains(t, m.Message, "404")
		})
	})

	t.Run("an analysis", func(t *testing.T) {
		secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "canary", Namespace: namespace}, Data: map[string][]byte{"run-token": []byte(runToken)}}
		c := startController(t, secret)
		for _, tc := range []struct {
			check string
			want  v1alpha1.AnalysisPhase
		}{
			{"good", v1alpha1.AnalysisPhaseSuccessful},
			{"bad", v1alpha1.AnalysisPhaseFailed},
		} {
			t.Run(tc.check, func(t *testing.T) {
				// The token comes from the Secret, as the template says.
				a := []v1alpha1.Argument{arg("check", tc.check), arg("revision", "a-"+tc.check), arg("duration", "3s"), arg("canary-url", d.url)}
				run := c.analyse(t, "run-"+tc.check, compress(tmpl), a, nil)
				require.Equal(t, tc.want, run.Status.Phase, run.Status.Message)
				res := run.Status.MetricResults[0]
				require.GreaterOrEqual(t, res.Inconclusive, int32(1), "the run was polled while running")
				require.EqualValues(t, 1, res.Successful+res.Failed, "one result ends the analysis")
				last := res.Measurements[len(res.Measurements)-1]
				require.Equal(t, fmt.Sprintf("%q", map[v1alpha1.AnalysisPhase]string{v1alpha1.AnalysisPhaseSuccessful: "passed", v1alpha1.AnalysisPhaseFailed: "failed"}[tc.want]), last.Value)
			})
		}
	})

	// A run cut short (here: the daemon stopped during it) ends
	// "inconclusive", which the same request keeps answering after a
	// restart: an Inconclusive measurement, never Successful.
	t.Run("an inconclusive run", func(t *testing.T) {
		a := args("good", "m-cut", "1m")
		m := measure(t, tmpl, a...)
		require.Equal(t, `"running"`, m.Value)
		d.stop(t)
		d = startDaemon(t, dir, target)
		a = args("good", "m-cut", "1m") // the restarted daemon's address
		m = measure(t, tmpl, a...)
		require.Equal(t, v1alpha1.AnalysisPhaseInconclusive, m.Phase)
		require.Equal(t, `"inconclusive"`, m.Value)
	})
}
