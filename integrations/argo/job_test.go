package argo

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// kubelet plays the Job controller and the kubelet for the Jobs Argo's Job
// provider creates: it runs the Job's one container with the repository's
// canary binary (the image's entrypoint), its args and env as written, the
// ConfigMap mounted at /etc/canary replaced by a directory holding the
// user's scenario; then it marks the Job the way Kubernetes does with
// backoffLimit 0: Complete on exit 0, Failed on any other exit code.
type kubelet struct {
	c        *analysisController
	scenario string // the directory standing in for the ConfigMap
	exits    map[string]int
	duration string // the run's --duration, shortened for the test
}

func (k *kubelet) step(t *testing.T) {
	jobs, err := k.c.kube.BatchV1().Jobs(namespace).List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	for _, job := range jobs.Items {
		if _, done := k.exits[job.Name]; done {
			continue
		}
		spec := job.Spec.Template.Spec
		require.Len(t, spec.Containers, 1)
		c := spec.Containers[0]
		require.Empty(t, c.Command, "the image's entrypoint runs: canary")
		require.Equal(t, int32(0), *job.Spec.BackoffLimit)
		require.Equal(t, corev1.RestartPolicyNever, spec.RestartPolicy)
		require.Equal(t, "canary-analysis", spec.Volumes[0].ConfigMap.Name)
		require.Equal(t, "/etc/canary", c.VolumeMounts[0].MountPath)

		var args []string
		for _, a := range c.Args {
			a = strings.ReplaceAll(a, "/etc/canary/", k.scenario+"/")
			if strings.HasPrefix(a, "--duration=") {
				a = "--duration=" + k.duration
			}
			args = append(args, a)
		}
		cmd := exec.Command(canaryBin, args...)
		cmd.Env = []string{"HOME=" + t.TempDir()}
		for _, e := range c.Env {
			require.Nil(t, e.ValueFrom, "env %s", e.Name)
			cmd.Env = append(cmd.Env, e.Name+"="+e.Value)
		}
		out, err := cmd.CombinedOutput()
		code := 0
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			code = exit.ExitCode()
		} else {
			require.NoError(t, err)
		}
		k.exits[job.Name] = code
		t.Logf("job %s: canary %s: exit %d\n%s", job.Name, strings.Join(args, " "), code, out)

		cond := batchv1.JobComplete
		if code != 0 {
			cond = batchv1.JobFailed
		}
		now := metav1.Now()
		job.Status.StartTime = &now
		job.Status.Conditions = append(job.Status.Conditions, batchv1.JobCondition{Type: cond, Status: corev1.ConditionTrue, LastTransitionTime: now})
		_, err = k.c.kube.BatchV1().Jobs(namespace).UpdateStatus(context.Background(), &job, metav1.UpdateOptions{})
		require.NoError(t, err)
	}
}

// TestJobTemplate runs deploy/argo/job.yaml through Argo's analysis
// controller and Job provider: the exit code of `canary run` decides.
func TestJobTemplate(t *testing.T) {
	target := demoTarget(t)
	broken := demoTarget(t, "--error-ratio", "1") // /products answers 503, /health 200
	scenario := t.TempDir()
	// The user's scenario, as `kubectl create configmap canary-analysis
	// --from-file=checkout.yaml` would hold it.
	raw, err := os.ReadFile(filepath.Join(root, "deploy", "kubernetes", "loadtest", "checkout.yaml"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(scenario, "checkout.yaml"), raw, 0o600))
	tmpl := template(t, "job")

	for _, tc := range []struct {
		name, baseURL string
		exit          int
		want          v1alpha1.AnalysisPhase
	}{
		{"every SLO passes", target, 0, v1alpha1.AnalysisPhaseSuccessful},
		{"the new version answers 503", broken, 99, v1alpha1.AnalysisPhaseFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := startController(t)
			k := &kubelet{c: c, scenario: scenario, exits: map[string]int{}, duration: "2s"}
			name := "job-" + strings.ReplaceAll(tc.name, " ", "-")
			run := c.analyse(t, name, tmpl, []v1alpha1.Argument{arg("base-url", tc.baseURL)}, func() { k.step(t) })
			require.Len(t, k.exits, 1, "one Job")
			for _, code := range k.exits {
				require.Equal(t, tc.exit, code)
			}
			require.Equal(t, tc.want, run.Status.Phase, run.Status.Message)
			require.Equal(t, tc.want, run.Status.MetricResults[0].Measurements[0].Phase)
		})
	}
}
