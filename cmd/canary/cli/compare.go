package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/canaryproj/canary/compare"
	"github.com/canaryproj/canary/redact"
	"github.com/canaryproj/canary/report"
	"github.com/canaryproj/canary/run"
	"github.com/canaryproj/canary/scenario"
	"github.com/canaryproj/canary/slo"
)

// DefaultCompareSeed seeds a comparison when --seed is not given: the same
// measurements always get the same intervals and the same order of sides.
const DefaultCompareSeed = 1

type compareFlags struct {
	loadFlags
	baseline, candidate string
	objectives          []string
	confidence          string
	seed                uint64
	out, html, junit    string
}

func newCompareCmd(env Env) *cobra.Command {
	f := &compareFlags{}
	cmd := &cobra.Command{
		Use:   "compare --baseline URL --candidate URL [SCENARIO.yaml] [flags]",
		Short: "Drive a baseline and a candidate with the same load and judge the candidate against it",
		Long: `compare drives two versions of a service with one schedule: every iteration goes
to both at its due time, so that noise that varies with time hits both alike.
It then judges the candidate against the baseline with statistics, on relative
objectives (--objective, repeatable; default: latency not worse by more than 5%,
p99 not worse by more than 10%, errors not higher by more than 0.1pp), and exits:

  0   the candidate is not worse than allowed
  99  it is worse (an objective failed)
  3   too little data to tell, the load generator saturated, or aborted
  2   bad input or usage
  1   internal error

With a scenario, each side's URL replaces the scheme and host of every request
of the scenario, and its path goes in front of theirs (docs/compare.md). Without
one, the two URLs themselves are probed, as canary run URL does.

Load: as canary run (--rate R --duration D, --vus, --iterations, --profile). A
comparison needs samples: p99 needs at least 1000 iterations a side.`,
		Example: `  canary compare --baseline http://127.0.0.1:8080/products --candidate http://127.0.0.1:8081/products --rate 200/s --duration 30s
  canary compare --baseline http://stable.staging:8080 --candidate http://canary.staging:8080 examples/checkout.yaml \
      --rate 50/s --duration 5m --objective 'p99(login) not worse by more than 10%' --out compare.json --html compare.html`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCompare(cmd.Context(), env, args, f, cmd)
		},
	}
	addLoadFlags(cmd, &f.loadFlags)
	fl := cmd.Flags()
	fl.StringVar(&f.baseline, "baseline", "", "the baseline's URL: its base URL with a scenario, else the URL to probe (required)")
	fl.StringVar(&f.candidate, "candidate", "", "the candidate's URL, as --baseline (required)")
	fl.StringArrayVar(&f.objectives, "objective", nil, "relative objective, repeatable: 'p99 not worse by more than 10%', 'errors not higher by more than 0.1pp'")
	fl.StringVar(&f.confidence, "confidence", "95%", "confidence level of every interval, two-sided")
	fl.Uint64Var(&f.seed, "seed", DefaultCompareSeed, "seeds the order of the sides in each iteration and the bootstrap")
	fl.StringVar(&f.out, "out", "", "write the comparison as JSON (schema canary.compare/v1) here")
	fl.StringVar(&f.html, "html", "", "write a self-contained HTML page of the comparison here")
	fl.StringVar(&f.junit, "junit", "", "write a JUnit XML file here (a test case per objective)")
	return cmd
}

func runCompare(ctx context.Context, env Env, args []string, f *compareFlags, cmd *cobra.Command) error {
	if f.baseline == "" || f.candidate == "" {
		return usageErr("--baseline and --candidate are both required")
	}
	getenv, vars, err := f.inputs(env)
	if err != nil {
		return usageErr("%v", err)
	}
	secrets := &redact.Set{}
	var base, cand *scenario.Scenario
	if len(args) == 1 {
		if scenario.IsURL(args[0]) {
			return usageErr("%q: give a scenario file, or no argument to probe --baseline and --candidate themselves", redact.UserInfo(args[0]))
		}
		sc, err := f.scenario(cmd, args[0], getenv, vars, secrets)
		if err != nil {
			return usageErr("%v", err)
		}
		if base, err = sc.WithBase(f.baseline); err != nil {
			return usageErr("--baseline: %v", err)
		}
		if cand, err = sc.WithBase(f.candidate); err != nil {
			return usageErr("--candidate: %v", err)
		}
	} else {
		for _, side := range []struct{ flag, url string }{{"baseline", f.baseline}, {"candidate", f.candidate}} {
			if !scenario.IsURL(side.url) {
				return usageErr("--%s %q: want an http:// or https:// URL", side.flag, redact.UserInfo(side.url))
			}
		}
		if base, err = f.scenario(cmd, f.baseline, getenv, vars, secrets); err != nil {
			return usageErr("--baseline: %v", err)
		}
		if cand, err = f.scenario(cmd, f.candidate, getenv, vars, secrets); err != nil {
			return usageErr("--candidate: %v", err)
		}
	}
	p, err := f.load(cmd, getenv, secrets)
	if err != nil {
		return usageErr("%v", err)
	}
	if err := f.checkRate(p); err != nil {
		return usageErr("%v", err)
	}
	objs, err := parseObjectives(f.objectives, cand.StepNames())
	if err != nil {
		return usageErr("%v", err)
	}
	confidence, err := slo.ParseRatio(f.confidence)
	if err != nil {
		return usageErr("--confidence %q: %v", f.confidence, err)
	}
	judge := compare.Options{Confidence: confidence, Seed: f.seed}
	if err := judge.Validate(); err != nil {
		return usageErr("--confidence %q: %v", f.confidence, err)
	}

	// Outputs are created before the comparison, so a bad path fails fast.
	files, err := createAll(f.out, f.html, f.junit)
	if err != nil {
		return usageErr("%v", err)
	}
	defer closeAll(files)

	opts := run.CompareOptions{
		Baseline:  run.Side{URL: f.baseline, Scenario: base},
		Candidate: run.Side{URL: f.candidate, Scenario: cand},
		Profile:   p, Objectives: objs, Judge: judge, Grace: f.grace,
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
	outcome, err := run.Compare(ctx, opts)
	if err != nil {
		return &exitError{code: ExitInternal, err: err}
	}
	doc := outcome.Document
	report.RedactComparison(doc, secrets, base.Secrets, cand.Secrets)
	if err := report.WriteComparisonSummary(env.Stdout, doc); err != nil {
		return &exitError{code: ExitInternal, err: err}
	}
	for i, write := range []func(io.Writer, *report.Comparison) error{report.WriteComparisonJSON, report.WriteComparisonHTML, report.WriteComparisonJUnit} {
		if files[i] == nil {
			continue
		}
		if err := write(files[i], doc); err != nil {
			return &exitError{code: ExitInternal, err: fmt.Errorf("%s: %w", files[i].Name(), err)}
		}
	}
	return verdictExit(doc.Verdict)
}

// parseObjectives reads --objective expressions; a step they name must be
// one of steps.
func parseObjectives(exprs, steps []string) ([]compare.Objective, error) {
	return parseEach(exprs, compare.ParseObjective, func(o compare.Objective) string { return o.Step }, "objective", "the scenario has", steps)
}

// parseEach parses every expression (an SLO, a relative objective), and
// refuses one naming a step that is not among steps; has says whose they
// are ("the scenario has"), and an error names the expression as what
// ("slo").
func parseEach[T any](exprs []string, parse func(string) (T, error), step func(T) string, what, has string, steps []string) ([]T, error) {
	out := make([]T, 0, len(exprs))
	for _, e := range exprs {
		o, err := parse(e)
		if err != nil {
			return nil, err
		}
		if st := step(o); st != "" && !slices.Contains(steps, st) {
			return nil, fmt.Errorf("%s %q: %s no step %q (steps: %s)", what, e, has, st, strings.Join(steps, ", "))
		}
		out = append(out, o)
	}
	return out, nil
}

// createAll creates a file at each path that is not empty (nil for the
// others); on an error, those created are closed.
func createAll(paths ...string) ([]*os.File, error) {
	files := make([]*os.File, len(paths))
	for i, p := range paths {
		if p == "" {
			continue
		}
		fh, err := os.Create(p)
		if err != nil {
			closeAll(files)
			return nil, err
		}
		files[i] = fh
	}
	return files, nil
}

func closeAll(files []*os.File) {
	for _, fh := range files {
		if fh != nil {
			fh.Close()
		}
	}
}
