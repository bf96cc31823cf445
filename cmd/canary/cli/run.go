package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/canaryproj/canary/config"
	"github.com/canaryproj/canary/internal/envfile"
	"github.com/canaryproj/canary/internal/yamlfile"
	"github.com/canaryproj/canary/profiles"
	"github.com/canaryproj/canary/redact"
	"github.com/canaryproj/canary/report"
	"github.com/canaryproj/canary/run"
	"github.com/canaryproj/canary/scenario"
	"github.com/canaryproj/canary/slo"
)

// DefaultMaxRate is `canary run`'s safety cap (docs/run.md, "Safety"),
// iterations/s.
const DefaultMaxRate = 1000.0

// loadFlags are the flags `run` and `compare` share: the load, the
// scenario's inputs, URL mode's request, and the generator's resources.
type loadFlags struct {
	profile     string
	rate        string
	vus         int
	duration    time.Duration
	iterations  uint64
	maxInflight int
	maxLag      time.Duration
	maxRate     float64
	vars        []string
	envFile     string
	quiet       bool
	method      string
	headers     []string
	body        string
	timeout     time.Duration
	caFile      string
	grace       time.Duration
	cpus        int
}

type runFlags struct {
	loadFlags
	slos        []string
	out         string
	html        string
	hdrLog      string
	junit       string
	segment     string
	metricsAddr string
	cpuProfile  string
	memProfile  string
	// A distributed run's segment (docs/deployment.md).
	segmentIndex string
	startAt      string
	push         string
	runID        string
	token        string
	pushRetry    time.Duration
}

// addLoadFlags registers f's flags on cmd.
func addLoadFlags(cmd *cobra.Command, f *loadFlags) {
	fl := cmd.Flags()
	fl.StringVar(&f.profile, "profile", "", "load profile file (docs/profile.md)")
	fl.StringVar(&f.rate, "rate", "", "open-model arrival rate: 100/s, 100/1m, 0.5/s")
	fl.IntVar(&f.vus, "vus", 0, "closed model: virtual users (or the workers of --iterations)")
	fl.DurationVar(&f.duration, "duration", 0, "how long to run with --rate or --vus")
	fl.Uint64Var(&f.iterations, "iterations", 0, "run each scenario iteration once, N times, as fast as --vus allow")
	fl.IntVar(&f.maxInflight, "max-inflight", 0, "open model: concurrent iterations bound (default 1000)")
	fl.DurationVar(&f.maxLag, "max-lag", profiles.DefaultMaxLag, "open model: drop iterations later than this (0 = never wait for a slot)")
	fl.StringArrayVar(&f.vars, "var", nil, "set a scenario variable, repeatable: key=value")
	fl.StringVar(&f.envFile, "env-file", "", "read KEY=VALUE lines into the environment for ${VAR} expansion")
	fl.Float64Var(&f.maxRate, "max-rate", DefaultMaxRate, "safety cap: refuse profiles above this many iterations/s")
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "no progress on stderr")
	fl.StringVar(&f.method, "method", "GET", "URL mode: request method")
	fl.StringArrayVarP(&f.headers, "header", "H", nil, "URL mode: request header, repeatable: 'K: V'")
	fl.StringVar(&f.body, "body", "", "URL mode: request body")
	fl.DurationVar(&f.timeout, "timeout", 0, "URL mode: request timeout (default 5s)")
	fl.StringVar(&f.caFile, "ca-file", "", "URL mode: PEM certificates to trust besides the system's (a self-signed https target)")
	fl.DurationVar(&f.grace, "grace", run.DefaultGrace, "how long in-flight iterations may finish after the end or Ctrl-C")
	fl.IntVar(&f.cpus, "cpus", 0, "CPUs the generator may use, 0 = all (default: half of them, at least 1; $GOMAXPROCS when set)")
}

func newRunCmd(env Env) *cobra.Command {
	f := &runFlags{}
	cmd := &cobra.Command{
		Use:   "run SCENARIO.yaml|URL [flags]",
		Short: "Run a load test once and judge it by its SLOs",
		Long: `run executes a scenario (or a single URL) under a load profile, shows live
progress on stderr and a summary on stdout, and exits by its SLOs:

  0   every SLO passed
  99  an SLO failed (with no --slo: any iteration failed)
  3   inconclusive: the load generator itself saturated, or the run was aborted
  2   bad input or usage
  1   internal error

Load: --profile FILE, or --rate R --duration D (open model, free of
coordinated omission), or --vus N --duration D (closed model), or
--iterations N [--vus M]. With none, one iteration runs: a smoke test.`,
		Example: `  canary run examples/smoke.yaml
  canary run examples/checkout.yaml --rate 50/s --duration 1m --slo 'p99(login)<300ms' --slo 'errors<1%'
  canary run examples/checkout.yaml --profile examples/profiles/ramp.yaml --out report.json --html report.html
  canary run http://127.0.0.1:8080/health --rate 200/s --duration 30s --slo 'p99<50ms'
  canary run examples/checkout.yaml --vus 20 --duration 2m --segment 1/4 --metrics-addr 127.0.0.1:9464
  canary run http://127.0.0.1:8080/ --rate 20000/s --max-rate 20000 --duration 1m --cpus 0   # every CPU`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRun(cmd.Context(), env, args[0], f, cmd)
		},
	}
	fl := cmd.Flags()
	addLoadFlags(cmd, &f.loadFlags)
	fl.StringArrayVar(&f.slos, "slo", nil, "SLO, repeatable, instead of the scenario's slos: p99<300ms, p95(login)<200ms, errors(login)<0.1%, p99(region=eu)<400ms, success>=99.9%, rps>=90; add abort_on_fail to stop as soon as it is lost")
	fl.StringVar(&f.out, "out", "", "write the JSON report (schema canary.report/v1) here; - for stdout (the summary then goes to stderr)")
	fl.StringVar(&f.html, "html", "", "write a self-contained HTML report here (- for stdout)")
	fl.StringVar(&f.hdrLog, "hdr-log", "", "write an HdrHistogram interval log here (- for stdout)")
	fl.StringVar(&f.junit, "junit", "", "write a JUnit XML file here, a test case per SLO and per step (- for stdout)")
	fl.StringVar(&f.segment, "segment", "", "run the i-th of n equal slices of the profile: 2/4")
	fl.StringVar(&f.segmentIndex, "segment-index", "", "--segment counted from 0, as a Kubernetes Indexed Job's $(JOB_COMPLETION_INDEX): 1/4 is --segment 2/4")
	fl.StringVar(&f.startAt, "start-at", "", "start exactly at this RFC 3339 time, like the run's other segments; more than 100ms late, do not run (exit 3)")
	fl.StringVar(&f.push, "push", "", "send the report to this daemon's runs API, which merges the segments of the run and judges them once")
	fl.StringVar(&f.runID, "run-id", "", "with --push: the id the run's segments share (default SCENARIO-STARTAT, from --start-at)")
	fl.StringVar(&f.token, "token", "", "with --push: the daemon's auth_token or run_token (default $CANARY_TOKEN)")
	fl.DurationVar(&f.pushRetry, "push-retry", 2*time.Minute, "with --push: keep trying this long when the daemon cannot be reached")
	fl.StringVar(&f.metricsAddr, "metrics-addr", "", "serve Prometheus /metrics here while running (then linger two scrape intervals)")
	fl.StringVar(&f.cpuProfile, "cpu-profile", "", "write a Go CPU profile of the run here (diagnostics: go tool pprof)")
	fl.StringVar(&f.memProfile, "mem-profile", "", "write a Go heap profile here at the end of the run (diagnostics: go tool pprof)")
	return cmd
}

func runRun(ctx context.Context, env Env, target string, f *runFlags, cmd *cobra.Command) error {
	getenv, vars, err := f.inputs(env)
	if err != nil {
		return usageErr("%v", err)
	}
	secrets := &redact.Set{}

	// The scenario: a file, or a URL for the ad-hoc one-step scenario.
	sc, err := f.scenario(cmd, target, getenv, vars, secrets)
	if err != nil {
		return usageErr("%v", err)
	}
	p, err := f.load(cmd, getenv, secrets)
	if err != nil {
		return usageErr("%v", err)
	}
	if i, n, ok, err := segmentFlags(f.segment, f.segmentIndex); err != nil {
		return usageErr("%v", err)
	} else if ok {
		if p, err = p.Segment(i, n); err != nil {
			return usageErr("%v", err)
		}
	}
	var startAt time.Time
	if f.startAt != "" {
		if startAt, err = time.Parse(time.RFC3339Nano, f.startAt); err != nil {
			return usageErr("--start-at %q: want an RFC 3339 time like 2026-12-07T10:00:00Z", f.startAt)
		}
	}
	dist, err := newDistributed(env, f, cmd, sc.Name, p, startAt)
	if err != nil {
		return usageErr("%v", err)
	}
	if err := f.checkRate(p); err != nil {
		return usageErr("%v", err)
	}

	// --slo replaces the scenario's own objectives (its slos).
	objs := sc.SLOs
	if len(f.slos) > 0 {
		objs = nil
		for _, s := range f.slos {
			o, err := slo.ParseExpr(s)
			if err != nil {
				return usageErr("%v", err)
			}
			objs = append(objs, o)
		}
		if err := sc.BindSLOs(objs); err != nil {
			return usageErr("%v", err)
		}
	}

	// A signal while the files loaded: stop before running anything.
	if err := interrupted(ctx); err != nil {
		return err
	}

	// Outputs are opened before the run, so a bad path fails fast.
	outs, err := openOutputs(f, env.Stdout)
	if err != nil {
		return usageErr("%v", err)
	}
	defer outs.close()

	opts := run.Options{Scenario: sc, Profile: p, SLOs: objs, Grace: f.grace, StartAt: startAt}
	opts.HdrLog = outs.hdr
	var srv *metricsServer
	if f.metricsAddr != "" {
		srv, err = startMetrics(ctx, f.metricsAddr, sc, objs, env.Stderr)
		if err != nil {
			return usageErr("%v", err)
		}
		opts.Also = srv.check
	}
	if !f.quiet {
		pw := report.NewProgressWriter(env.Stderr, isTerminal(env.Stderr))
		opts.Progress = pw.Update
		defer pw.Done()
	}
	restore, err := f.useCPUs(env, cmd)
	if err != nil {
		return usageErr("%v", err)
	}
	defer restore()
	if f.cpuProfile != "" {
		stop, err := startCPUProfile(f.cpuProfile)
		if err != nil {
			return usageErr("--cpu-profile: %v", err)
		}
		defer stop()
	}
	if dist != nil {
		dist.start(ctx)
	}
	outcome, err := run.Run(ctx, opts)
	if f.memProfile != "" {
		if perr := writeHeapProfile(f.memProfile); perr != nil {
			fmt.Fprintf(env.Stderr, "canary: --mem-profile: %v\n", perr)
		}
	}
	if srv != nil {
		// The summary and the files first; then the final metrics are
		// served a little longer, for the last scrape.
		defer srv.finish(outcome)
	}
	if se := (*run.StartError)(nil); errors.As(err, &se) {
		return dist.startError(ctx, se)
	}
	if outcome == nil {
		return &exitError{code: ExitInternal, err: err}
	}
	// A run that finished but could not write its HDR log still has its
	// summary and files written; then it exits 1 with that error.
	runErr := err
	rep := outcome.Report
	report.Redact(rep, secrets, sc.Secrets)

	summary := env.Stdout
	if outs.toStdout {
		summary = env.Stderr
	}
	if err := report.WriteSummary(summary, rep); err != nil {
		return &exitError{code: ExitInternal, err: err}
	}
	if err := outs.write(rep); err != nil {
		return &exitError{code: ExitInternal, err: err}
	}
	if path, ok := env.Getenv("GITHUB_STEP_SUMMARY"); ok && path != "" {
		if err := appendFile(path, func(w io.Writer) error { return report.WriteMarkdown(w, rep) }); err != nil {
			fmt.Fprintf(env.Stderr, "canary: $GITHUB_STEP_SUMMARY: %v\n", err)
		}
	}
	if dist != nil {
		// The segment's own verdict is on its slice; the run's is the
		// daemon's, and it cannot make it without this report.
		if err := dist.done(ctx, rep); err != nil {
			return &exitError{code: ExitInternal, err: err}
		}
	}
	if runErr != nil {
		return &exitError{code: ExitInternal, err: runErr}
	}
	return verdictExit(outcome.Judgement.Verdict)
}

// exists reports whether there is a file (or anything else) at path.
func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// inputs are the environment ${VAR}s are expanded from (with --env-file)
// and the --var values.
func (f *loadFlags) inputs(env Env) (func(string) (string, bool), map[string]string, error) {
	getenv, err := envfile.Layer(env.Getenv, f.envFile)
	if err != nil {
		return nil, nil, err
	}
	vars, err := scenario.ParseVars(f.vars)
	if err != nil {
		return nil, nil, err
	}
	return getenv, vars, nil
}

// scenario loads target: a scenario file, or a URL for the one-step
// scenario of URL mode (--method, -H, --body, --timeout, --ca-file).
func (f *loadFlags) scenario(cmd *cobra.Command, target string, getenv func(string) (string, bool), vars map[string]string, secrets *redact.Set) (*scenario.Scenario, error) {
	if scenario.IsURL(target) {
		if cmd.Flags().Changed("var") {
			return nil, errors.New("--var applies to scenario files, not to a URL")
		}
		return scenario.FromURL(target, scenario.URLOptions{Method: f.method, Headers: f.headers, Body: f.body, Timeout: f.timeout, CAFile: f.caFile})
	}
	for _, fl := range []string{"method", "header", "body", "timeout", "ca-file"} {
		if cmd.Flags().Changed(fl) {
			return nil, fmt.Errorf("--%s applies to a URL; a scenario file sets its own requests", fl)
		}
	}
	if u, ok := scenario.SchemelessURL(target); ok && !exists(target) {
		return nil, fmt.Errorf("%s is not a file, and it looks like a URL without a scheme: canary %s %s", target, cmd.Name(), u)
	}
	sc, err := scenario.Load(target, scenario.LoadOptions{Env: getenv, Vars: vars, Secrets: secrets})
	if wk := config.WrongKind(target, config.KindScenario); err != nil && wk != nil {
		err = wk
	}
	return sc, err
}

// load is the profile: a file (--profile) or the flags.
func (f *loadFlags) load(cmd *cobra.Command, getenv func(string) (string, bool), secrets *redact.Set) (*profiles.Profile, error) {
	var p *profiles.Profile
	var err error
	if f.profile != "" {
		for _, fl := range []string{"rate", "vus", "duration", "iterations"} {
			if cmd.Flags().Changed(fl) {
				return nil, fmt.Errorf("--profile and --%s: choose one way to describe the load", fl)
			}
		}
		p, err = profiles.Load(f.profile, yamlfile.Options{Env: getenv, Secrets: secrets})
		if wk := config.WrongKind(f.profile, config.KindProfile); err != nil && wk != nil {
			err = wk
		}
		if err == nil && (cmd.Flags().Changed("max-inflight") || cmd.Flags().Changed("max-lag")) {
			err = errors.New("--max-inflight and --max-lag: set max_inflight and max_lag in the profile file")
		}
	} else {
		var lag *time.Duration
		if cmd.Flags().Changed("max-lag") {
			lag = &f.maxLag
		}
		p, err = profiles.FromFlags(profiles.Flags{Rate: f.rate, VUs: f.vus, Duration: f.duration, Iterations: f.iterations, MaxInflight: f.maxInflight, MaxLag: lag})
	}
	if err != nil {
		return nil, err
	}
	if p.Loop {
		return nil, fmt.Errorf("profile %s loops forever: `canary %s` needs an end (set loop: false, or use the daemon)", f.profile, cmd.Name())
	}
	return p, nil
}

// checkRate refuses a profile above the safety cap (--max-rate).
func (f *loadFlags) checkRate(p *profiles.Profile) error {
	if p.Model == profiles.Open && p.PeakTarget() > f.maxRate {
		return fmt.Errorf("the profile peaks at %.4g iterations/s, above the safety cap of %.4g/s: raise it with --max-rate %.0f if you mean it",
			p.PeakTarget(), f.maxRate, p.PeakTarget())
	}
	return nil
}

// useCPUs sets the generator's Go processors (--cpus); restore undoes it.
func (f *loadFlags) useCPUs(env Env, cmd *cobra.Command) (restore func(), err error) {
	_, envProcs := env.Getenv("GOMAXPROCS")
	cpus, err := runCPUs(f.cpus, cmd.Flags().Changed("cpus"), envProcs, startProcs)
	if err != nil {
		return nil, err
	}
	return setCPUs(cpus), nil
}
