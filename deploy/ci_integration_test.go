//go:build integration

package deploy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"gopkg.in/yaml.v3"
)

// The CI jobs under deploy/ci, run as GitHub's and GitLab's runners would
// run them: each job's shell steps in order in one working directory (a
// user's repository with a scenario and a deploy script), against the
// canary built from this tree, a demo target and a daemon on 127.0.0.1.

var (
	ciBinOnce sync.Once
	ciBinDir  string
	ciBinErr  error
)

// ciBin builds canary into a directory that the jobs find on PATH, as the
// "Install canary" step would leave it.
func ciBin(t *testing.T) string {
	ciBinOnce.Do(func() {
		ciBinDir, ciBinErr = os.MkdirTemp("", "canary-ci-bin")
		if ciBinErr != nil {
			return
		}
		out, err := exec.Command("go", "build", "-o", filepath.Join(ciBinDir, "canary"), "../cmd/canary").CombinedOutput()
		if err != nil {
			ciBinErr = fmt.Errorf("go build: %v: %s", err, out)
		}
	})
	require.NoError(t, ciBinErr)
	return ciBinDir
}

// proc is a process started by a test and stopped when it ends.
func startProc(t *testing.T, ready *regexp.Regexp, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	found := make(chan string, 1)
	var reader sync.WaitGroup
	reader.Add(1)
	go func() {
		defer reader.Done()
		sc := bufio.NewScanner(stderr)
		sent := false
		for sc.Scan() {
			if m := ready.FindStringSubmatch(sc.Text()); m != nil && !sent {
				found <- m[1]
				sent = true
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		timer := time.AfterFunc(20*time.Second, func() { _ = cmd.Process.Kill() })
		defer timer.Stop()
		reader.Wait()
		_ = cmd.Wait()
	})
	select {
	case v := <-found:
		return v
	case <-time.After(60 * time.Second):
		t.Fatalf("%s %v: not ready within 60 s", name, args)
	}
	return ""
}

func ciDemoTarget(t *testing.T, flags ...string) string {
	return startProc(t, regexp.MustCompile(`listening on (http://127\.0\.0\.1:\d+)`), filepath.Join(ciBin(t), "canary"),
		append([]string{"demo-target", "--listen", "127.0.0.1:0", "--seed", "7"}, flags...)...)
}

// userScenario is the scenario the jobs run (loadtest/checkout.yaml in the
// user's repository) and the daemon's check "checkout" runs: a login and a
// product list on the demo target at $BASE_URL. It has no max_latency
// expectation, so that a busy test machine cannot fail it.
const userScenario = `name: checkout
vars:
  base: "${BASE_URL}"
steps:
  - name: login
    request: {method: POST, url: "{{ .base }}/login", json: {user: ci, password: ci}}
    expect: {status: 200}
  - name: products
    request: {url: "{{ .base }}/products"}
    expect: {status: 200}
`

// ciDaemon runs a daemon whose check "checkout" (the jobs' gate asks
// about it) runs userScenario against target.
func ciDaemon(t *testing.T, target string) string {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "checkout.yaml"), []byte(userScenario), 0o600))
	cfg := `server: {listen: 127.0.0.1:0}
state_dir: ` + filepath.Join(dir, "state") + `
allowed_hosts: [127.0.0.1]
checks:
  - name: checkout
    scenario: checkout.yaml
    profile: {rate: 10/s}
    slos: [{name: availability, success: 99%}]
    window: 1m
    min_samples: 20
`
	require.NoError(t, os.WriteFile(filepath.Join(dir, "canary.yaml"), []byte(cfg), 0o600))
	cmd := []string{"daemon", "--config", filepath.Join(dir, "canary.yaml"), "--log-format", "json"}
	t.Setenv("BASE_URL", target) // the daemon expands ${BASE_URL} in the scenario
	addr := startProc(t, regexp.MustCompile(`"msg":"canary daemon serving".*"listen":"([^"]+)"`), filepath.Join(ciBin(t), "canary"), cmd...)
	return "http://" + addr
}

// repository is the user's repository a job runs in: the scenario the jobs
// name, and a deploy script.
func repository(t *testing.T) string {
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "loadtest"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "loadtest", "checkout.yaml"), []byte(userScenario), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "deploy.sh"), []byte("#!/bin/sh\necho \"deployed to $1\"\n"), 0o755))
	return dir
}

// compress shortens a job's waits for the test: the load test's duration
// and the gate's longest wait. It also gives login's p99 the room a busy
// CI machine needs (login took 440 ms at p99 beside a loaded build, against
// the job's 300 ms): the test is about exit codes, JUnit and the summary,
// which a healthy and a broken target tell apart at any threshold. These
// are the only changes made to the commands.
func compress(script string) string {
	return strings.NewReplacer("--duration 2m", "--duration 3s", "--wait 10m", "--wait 1m",
		"'p99(login)<300ms'", "'p99(login)<5s'").Replace(script)
}

// expressionRE is a GitHub expression, ${{ … }}.
var expressionRE = regexp.MustCompile(`\$\{\{\s*(.*?)\s*\}\}`)

// ghExpand replaces ${{ vars.X }} and ${{ secrets.X }} as the runner does
// before a step's shell starts; any other expression is an error here.
func ghExpand(t *testing.T, s string, vars map[string]string) string {
	return expressionRE.ReplaceAllStringFunc(s, func(m string) string {
		expr := expressionRE.FindStringSubmatch(m)[1]
		for _, ctx := range []string{"vars.", "secrets."} {
			if name, ok := strings.CutPrefix(expr, ctx); ok {
				v, ok := vars[name]
				require.True(t, ok, "the test gives no value for %s", expr)
				return v
			}
		}
		t.Fatalf("expression %s: only vars and secrets are expected in env and run", m)
		return ""
	})
}

// The subset of a GitHub workflow the jobs use; any other key is an error
// (a misspelt `steps` or `run` would otherwise be ignored by this test,
// while GitHub rejects the workflow).
type ghWorkflow struct {
	Name string            `yaml:"name"`
	On   yaml.Node         `yaml:"on"`
	Env  map[string]string `yaml:"env"`
	Jobs map[string]ghJob  `yaml:"jobs"`
}

type ghJob struct {
	If          string            `yaml:"if"`
	Needs       string            `yaml:"needs"`
	RunsOn      string            `yaml:"runs-on"`
	Environment string            `yaml:"environment"`
	Env         map[string]string `yaml:"env"`
	Steps       []ghStep          `yaml:"steps"`
}

type ghStep struct {
	Name string            `yaml:"name"`
	If   string            `yaml:"if"`
	Uses string            `yaml:"uses"`
	With map[string]any    `yaml:"with"`
	Env  map[string]string `yaml:"env"`
	Run  string            `yaml:"run"`
}

func decodeStrict(t *testing.T, path string, into any) {
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	require.NoError(t, dec.Decode(into), path)
}

// stepResult is a step's exit code; -1 when it was skipped.
type stepResult struct {
	name string
	exit int
}

// ciEnv is the environment every job starts from: canary on PATH first.
func ciEnv(t *testing.T) []string {
	return []string{"PATH=" + ciBin(t) + ":/usr/local/bin:/usr/bin:/bin", "HOME=" + t.TempDir(), "CI=true", "LANG=C.UTF-8"}
}

// runGitHubJob runs a job's steps as GitHub's runner does on ubuntu: each
// `run` in `bash --noprofile --norc -eo pipefail`, lines appended to
// $GITHUB_ENV becoming variables of later steps, $GITHUB_STEP_SUMMARY a
// file; after a failed step the rest are skipped. Action steps (`uses`)
// are not run here; "Install canary" is replaced by the binary on PATH.
func runGitHubJob(t *testing.T, wf ghWorkflow, name, workdir string, vars map[string]string) ([]stepResult, string) {
	job, ok := wf.Jobs[name]
	require.True(t, ok, "job %s", name)
	ghEnv := filepath.Join(t.TempDir(), "github_env")
	summary := filepath.Join(t.TempDir(), "step_summary.md")
	require.NoError(t, os.WriteFile(ghEnv, nil, 0o600))
	env := append(ciEnv(t), "GITHUB_ACTIONS=true", "GITHUB_WORKSPACE="+workdir, "GITHUB_ENV="+ghEnv, "GITHUB_STEP_SUMMARY="+summary)
	for _, m := range []map[string]string{wf.Env, job.Env} {
		for k, v := range m {
			env = append(env, k+"="+ghExpand(t, v, vars))
		}
	}
	var results []stepResult
	failed := false
	for _, s := range job.Steps {
		require.True(t, (s.Uses == "") != (s.Run == ""), "step %q: uses or run", s.Name)
		if s.Uses != "" || failed {
			results = append(results, stepResult{s.Name, -1})
			continue
		}
		if s.Name == "Install canary" {
			require.Regexp(t, `^go install "github\.com/canaryproj/canary/cmd/canary@\$\{CANARY_VERSION\}"$`, strings.TrimSpace(s.Run))
			results = append(results, stepResult{s.Name, -1})
			continue
		}
		stepEnv := append([]string{}, env...)
		for k, v := range s.Env {
			stepEnv = append(stepEnv, k+"="+ghExpand(t, v, vars))
		}
		// Variables from $GITHUB_ENV, as the runner reads them between steps.
		raw, err := os.ReadFile(ghEnv)
		require.NoError(t, err)
		for _, l := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
			if l != "" {
				require.Contains(t, l, "=", "$GITHUB_ENV line %q", l)
				stepEnv = append(stepEnv, l)
			}
		}
		code := shell(t, workdir, stepEnv, compress(ghExpand(t, s.Run, vars)))
		results = append(results, stepResult{s.Name, code})
		failed = code != 0
	}
	md, _ := os.ReadFile(summary)
	return results, string(md)
}

// shell runs a script with bash as CI runners do, returning its exit code.
func shell(t *testing.T, dir string, env []string, script string) int {
	cmd := exec.Command("bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script)
	cmd.Dir, cmd.Env = dir, env
	out, err := cmd.CombinedOutput()
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else {
		require.NoError(t, err)
	}
	t.Logf("$ %s\n%s(exit %d)", script, out, code)
	return code
}

func exitOf(t *testing.T, results []stepResult, step string) int {
	for _, r := range results {
		if r.name == step {
			return r.exit
		}
	}
	t.Fatalf("no step %q", step)
	return 0
}

type junit struct {
	Suites []struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
	} `xml:"testsuite"`
}

func readJUnit(t *testing.T, path string) junit {
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	var j junit
	require.NoError(t, xml.Unmarshal(raw, &j))
	require.Len(t, j.Suites, 1)
	return j
}

func reportVerdict(t *testing.T, path string) string {
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	var r struct{ Verdict string }
	require.NoError(t, json.Unmarshal(raw, &r))
	return r.Verdict
}

// targets are a healthy demo target and one whose shop answers 503 to
// every faultable request (login, cart, products).
func targets(t *testing.T) (healthy, broken string) {
	return ciDemoTarget(t), ciDemoTarget(t, "--error-ratio", "1")
}

func TestGitHubActionsJobs(t *testing.T) {
	var wf ghWorkflow
	decodeStrict(t, "ci/github-actions.yml", &wf)
	require.ElementsMatch(t, []string{"load-test", "deploy"}, keys(wf.Jobs))
	healthy, broken := targets(t)

	t.Run("load-test", func(t *testing.T) {
		for _, tc := range []struct {
			name, target, verdict, summary string
			exit, failures                 int
		}{
			{"every SLO passes", healthy, "pass", "### canary: ✅ pass — checkout", 0, 0},
			{"the preview answers 503", broken, "fail", "### canary: ❌ fail — checkout", 99, 1},
		} {
			t.Run(tc.name, func(t *testing.T) {
				repo := repository(t)
				results, summary := runGitHubJob(t, wf, "load-test", repo, map[string]string{"PREVIEW_URL": tc.target})
				require.Equal(t, tc.exit, exitOf(t, results, "Load test the preview"), "the step's exit code is canary's")
				require.Equal(t, tc.verdict, reportVerdict(t, filepath.Join(repo, "report.json")))
				j := readJUnit(t, filepath.Join(repo, "junit.xml"))
				require.Positive(t, j.Suites[0].Tests)
				if tc.failures == 0 {
					require.Zero(t, j.Suites[0].Failures)
				} else {
					require.GreaterOrEqual(t, j.Suites[0].Failures, tc.failures)
				}
				require.Contains(t, summary, tc.summary)
			})
		}
	})

	t.Run("deploy", func(t *testing.T) {
		for _, tc := range []struct {
			name, target string
			exit         int
		}{
			{"the verdict passes", healthy, 0},
			{"the verdict fails", broken, 99},
		} {
			t.Run(tc.name, func(t *testing.T) {
				results, _ := runGitHubJob(t, wf, "deploy", repository(t), map[string]string{"CANARY_URL": ciDaemon(t, tc.target)})
				require.Equal(t, 0, exitOf(t, results, "Deploy"))
				require.Equal(t, tc.exit, exitOf(t, results, "Wait for the canary verdict"), "the gate holds the job, then exits with the verdict")
			})
		}
	})
}

// The subset of .gitlab-ci.yml the jobs use.
type glJob struct {
	Extends      string            `yaml:"extends"`
	Stage        string            `yaml:"stage"`
	Image        string            `yaml:"image"`
	Variables    map[string]string `yaml:"variables"`
	BeforeScript []string          `yaml:"before_script"`
	Script       []string          `yaml:"script"`
	Rules        []struct {
		If string `yaml:"if"`
	} `yaml:"rules"`
	Environment string `yaml:"environment"`
	Artifacts   struct {
		When    string   `yaml:"when"`
		Paths   []string `yaml:"paths"`
		Reports struct {
			JUnit string `yaml:"junit"`
		} `yaml:"reports"`
	} `yaml:"artifacts"`
}

// gitlabJobs decodes the file's jobs strictly; hidden jobs (.name) are
// templates merged by `extends`.
func gitlabJobs(t *testing.T) map[string]glJob {
	raw, err := os.ReadFile("ci/gitlab-ci.yml")
	require.NoError(t, err)
	var top map[string]yaml.Node
	require.NoError(t, yaml.Unmarshal(raw, &top))
	jobs := map[string]glJob{}
	for name, node := range top {
		switch name {
		case "stages", "variables":
			continue
		}
		var buf bytes.Buffer
		require.NoError(t, yaml.NewEncoder(&buf).Encode(&node))
		dec := yaml.NewDecoder(&buf)
		dec.KnownFields(true)
		var j glJob
		require.NoError(t, dec.Decode(&j), "job %s", name)
		jobs[name] = j
	}
	for name, j := range jobs {
		if j.Extends != "" {
			base, ok := jobs[j.Extends]
			require.True(t, ok, "%s extends %s", name, j.Extends)
			if j.Image == "" {
				j.Image = base.Image
			}
			if j.BeforeScript == nil {
				j.BeforeScript = base.BeforeScript
			}
			jobs[name] = j
		}
	}
	return jobs
}

// runGitLabJob runs a job as GitLab's runner does with a bash image: its
// variables expanded from the CI/CD variables, before_script and script in
// one shell session that stops at the first failing line.
func runGitLabJob(t *testing.T, j glJob, workdir string, vars map[string]string) int {
	require.Equal(t, []string{`go install "github.com/canaryproj/canary/cmd/canary@${CANARY_VERSION}"`}, j.BeforeScript, "the install, replaced by the binary on PATH")
	env := append(ciEnv(t), "GITLAB_CI=true")
	lookup := func(k string) string { return vars[k] }
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	names := keys(j.Variables)
	sort.Strings(names)
	for _, k := range names {
		env = append(env, k+"="+os.Expand(j.Variables[k], lookup))
	}
	return shell(t, workdir, env, compress(strings.Join(j.Script, "\n")))
}

func TestGitLabCIJobs(t *testing.T) {
	jobs := gitlabJobs(t)
	require.ElementsMatch(t, []string{".canary", "load-test", "deploy-staging"}, keys(jobs))
	healthy, broken := targets(t)

	t.Run("load-test", func(t *testing.T) {
		j := jobs["load-test"]
		require.Equal(t, "always", j.Artifacts.When, "the report is kept when the job fails")
		for _, tc := range []struct {
			name, target string
			exit         int
		}{
			{"every SLO passes", healthy, 0},
			{"the preview answers 503", broken, 99},
		} {
			t.Run(tc.name, func(t *testing.T) {
				repo := repository(t)
				require.Equal(t, tc.exit, runGitLabJob(t, j, repo, map[string]string{"PREVIEW_URL": tc.target, "CANARY_VERSION": "main"}))
				readJUnit(t, filepath.Join(repo, j.Artifacts.Reports.JUnit))
				for _, p := range j.Artifacts.Paths {
					require.FileExists(t, filepath.Join(repo, p))
				}
			})
		}
	})

	t.Run("deploy-staging", func(t *testing.T) {
		for _, tc := range []struct {
			name, target string
			exit         int
		}{
			{"the verdict passes", healthy, 0},
			{"the verdict fails", broken, 99},
		} {
			t.Run(tc.name, func(t *testing.T) {
				require.Equal(t, tc.exit, runGitLabJob(t, jobs["deploy-staging"], repository(t), map[string]string{"CANARY_URL": ciDaemon(t, tc.target), "CANARY_VERSION": "main"}))
			})
		}
	})
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestMain(m *testing.M) {
	code := m.Run()
	if ciBinDir != "" {
		os.RemoveAll(ciBinDir)
	}
	// Every process a test started was stopped and its output read to the
	// end by then.
	if err := goleak.Find(); code == 0 && err != nil {
		fmt.Fprintln(os.Stderr, "goleak:", err)
		code = 1
	}
	os.Exit(code)
}
