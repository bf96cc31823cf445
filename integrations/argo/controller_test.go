package argo

import (
	"context"
	"testing"
	"time"

	"github.com/argoproj/argo-rollouts/analysis"
	"github.com/argoproj/argo-rollouts/controller/metrics"
	"github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	argofake "github.com/argoproj/argo-rollouts/pkg/client/clientset/versioned/fake"
	argoinformers "github.com/argoproj/argo-rollouts/pkg/client/informers/externalversions"
	analysisutil "github.com/argoproj/argo-rollouts/utils/analysis"
	"github.com/argoproj/argo-rollouts/utils/queue"
	"github.com/argoproj/argo-rollouts/utils/record"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	kubeinformers "k8s.io/client-go/informers"
	k8sfake "k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
	k8srecord "k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
)

const namespace = "staging"

// analysisController is Argo Rollouts' analysis controller, the code that
// takes an AnalysisRun's measurements and judges them, running on fake
// Kubernetes and Argo API servers (client-go's and Argo's own fakes).
type analysisController struct {
	kube *k8sfake.Clientset
	argo *argofake.Clientset
}

// events drops the controller's Kubernetes events: they are not under test,
// and Argo's own fake recorder starts informers that never stop.
type events struct{}

func (events) Eventf(runtime.Object, record.EventOptions, string, ...any) {}
func (events) Warnf(runtime.Object, record.EventOptions, string, ...any)  {}
func (events) K8sRecorder() k8srecord.EventRecorder {
	return &k8srecord.FakeRecorder{} // with no Events channel it drops them
}

var _ record.EventRecorder = events{}

// startController runs the controller until the test ends; kubeObjects are
// in the fake Kubernetes API (the Secret a template reads, say).
func startController(t *testing.T, kubeObjects ...runtime.Object) *analysisController {
	t.Helper()
	c := &analysisController{kube: k8sfake.NewSimpleClientset(kubeObjects...), argo: argofake.NewSimpleClientset()}
	ai := argoinformers.NewSharedInformerFactory(c.argo, 0)
	ki := kubeinformers.NewSharedInformerFactory(c.kube, 0)
	q := workqueue.NewNamedRateLimitingQueue(queue.DefaultArgoRolloutsRateLimiter(), "AnalysisRuns")
	ctrl := analysis.NewController(analysis.ControllerConfig{
		KubeClientSet:        c.kube,
		ArgoProjClientset:    c.argo,
		AnalysisRunInformer:  ai.Argoproj().V1alpha1().AnalysisRuns(),
		JobInformer:          ki.Batch().V1().Jobs(),
		AnalysisRunWorkQueue: q,
		MetricsServer:        metrics.NewMetricsServer(metrics.ServerConfig{K8SRequestProvider: &metrics.K8sRequestsCountProvider{}}),
		Recorder:             events{},
	})
	// A Job the Job provider creates is in the controller's Job cache
	// before the create returns. In this in-process fake the AnalysisRun's
	// own update event often wins the race, and Argo's provider, finding
	// no Job in its cache, records an Error and creates another Job 10 s
	// later: the same race exists in a cluster, but there it is rare, and
	// here it would only slow the tests down (and, after 5 in a row, end
	// them with Error). The informer updates its cache before it calls
	// handlers, so a Job's add event means the provider can see it.
	cached := make(chan string, 16) // one Job at a time in these tests
	_, err := ki.Batch().V1().Jobs().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: func(obj any) {
		if job, ok := obj.(*batchv1.Job); ok {
			select {
			case cached <- job.Name:
			default:
			}
		}
	}})
	require.NoError(t, err)
	c.kube.PrependReactor("create", "jobs", func(action k8stesting.Action) (bool, runtime.Object, error) {
		job := action.(k8stesting.CreateAction).GetObject().(*batchv1.Job)
		if err := c.kube.Tracker().Create(batchv1.SchemeGroupVersion.WithResource("jobs"), job, job.Namespace); err != nil {
			return true, nil, err
		}
		timeout := time.After(10 * time.Second)
		for {
			select {
			case name := <-cached:
				if name == job.Name {
					return true, job, nil
				}
			case <-timeout:
				return true, job, nil
			}
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	ai.Start(ctx.Done())
	ki.Start(ctx.Done())
	ai.WaitForCacheSync(ctx.Done())
	ki.WaitForCacheSync(ctx.Done())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = ctrl.Run(ctx, 1)
	}()
	t.Cleanup(func() {
		cancel()
		q.ShutDown() // the workers return once the queue is shut down
		<-done
		ai.Shutdown()
		ki.Shutdown()
	})
	return c
}

// compress shortens a template's waits for a test: measurements one second
// apart and no initial delay. Counts and limits, which decide the outcome,
// stay as written.
func compress(tmpl *v1alpha1.AnalysisTemplate) *v1alpha1.AnalysisTemplate {
	tmpl = tmpl.DeepCopy()
	for i := range tmpl.Spec.Metrics {
		if tmpl.Spec.Metrics[i].Interval != "" {
			tmpl.Spec.Metrics[i].Interval = "1s"
		}
		tmpl.Spec.Metrics[i].InitialDelay = ""
	}
	return tmpl
}

// analyse creates an AnalysisRun from the template, as a Rollout's step
// would, and waits until the controller completes it. step, if not nil, is
// called while waiting (to play the part of other controllers).
func (c *analysisController) analyse(t *testing.T, name string, tmpl *v1alpha1.AnalysisTemplate, args []v1alpha1.Argument, step func()) *v1alpha1.AnalysisRun {
	t.Helper()
	run, err := analysisutil.NewAnalysisRunFromTemplates([]*v1alpha1.AnalysisTemplate{tmpl}, nil, args, nil, nil, nil, nil, name, "", namespace)
	require.NoError(t, err)
	run.UID = types.UID("uid-" + run.GetName())
	runs := c.argo.ArgoprojV1alpha1().AnalysisRuns(namespace)
	_, err = runs.Create(context.Background(), run, metav1.CreateOptions{})
	require.NoError(t, err)
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		got, err := runs.Get(context.Background(), name, metav1.GetOptions{})
		require.NoError(t, err)
		if got.Status.Phase.Completed() {
			return got
		}
		if step != nil {
			step()
		}
		select {
		case <-time.After(100 * time.Millisecond):
		case <-t.Context().Done():
			t.Fatal("test ended")
		}
	}
	t.Fatalf("analysis %s did not complete in 3 minutes", name)
	return nil
}
