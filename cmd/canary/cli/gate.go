package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/canaryproj/canary/config"
	"github.com/canaryproj/canary/dashboards"
	"github.com/canaryproj/canary/gate"
	"github.com/canaryproj/canary/slo"
)

func newGateCmd(env Env) *cobra.Command {
	var (
		server, prom, configPath, check, since, runProfile, runID, duration, key, token string
		output                                                                          string
		window, wait                                                                    time.Duration
		minSamples                                                                      int
		quiet                                                                           bool
	)
	cmd := &cobra.Command{
		Use:   "gate --server URL --check NAME | --server URL --run-id ID | --prometheus URL --config canary.yaml --check NAME",
		Short: "Ask for a verdict: exit 0 pass, 99 fail, 3 inconclusive",
		Long: `gate answers "is this version good?" for CI jobs and deployment pipelines.

With --server it asks a canary daemon for a check's verdict over its window
(or --window/--since), keeps asking while the verdict is inconclusive for up
to --wait, or with --run starts an on-demand load test there and waits for
its verdict, or with --run-id waits for the merged verdict of a distributed
run (canary run --segment-index … --push). With --prometheus it judges the config's SLOs for the check in
PromQL, over every instance exporting its metrics (the pods of a distributed
run: canary run --segment i/n --metrics-addr).

Exit codes: 0 pass, 99 fail, 3 inconclusive (not enough data before --wait
ran out), 2 usage, 1 internal error (e.g. the daemon unreachable).

It prints the verdict and why on stdout ("checkout: FAIL", then each objective
and reason); --output json prints the daemon's JSON answer instead (with
--prometheus, {"check", "verdict", "reasons"}).`,
		Example: `  canary gate --server http://canary:9090 --check checkout
  canary gate --server http://canary:9090 --check checkout --since 2026-11-24T10:00:00Z --wait 5m
  canary gate --server http://canary:9090 --check checkout --run profiles/steady.yaml --duration 2m --token $CANARY_TOKEN
  canary gate --server http://canary:9090 --run-id checkout-20261207T100000Z      # a distributed run's merged verdict
  canary gate --prometheus http://prometheus:9090 --config canary.yaml --check checkout --window 10m`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runID != "" && (prom != "" || runProfile != "") {
				return usageErr("--run-id waits for a run on a daemon (--server); it goes without --run and --prometheus")
			}
			if check == "" && runID == "" {
				return usageErr("--check is required")
			}
			if output != "text" && output != "json" {
				return usageErr("--output %q: want text or json", output)
			}
			if !cmd.Flags().Changed("min-samples") {
				minSamples = -1 // the check's own
			}
			if (server == "") == (prom == "") {
				return usageErr("give --server (a canary daemon) or --prometheus (with --config)")
			}
			var sinceT time.Time
			if since != "" {
				t, err := time.Parse(time.RFC3339, since)
				if err != nil {
					return usageErr("--since %q: want an RFC 3339 time like 2026-11-24T10:00:00Z", since)
				}
				sinceT = t
			}
			ctx := cmd.Context()
			var (
				res *gate.Result
				err error
			)
			progress := func(msg string) {
				if !quiet {
					fmt.Fprintln(env.Stderr, "canary gate:", msg)
				}
			}
			if server != "" {
				if token == "" {
					token, _ = env.Getenv("CANARY_TOKEN")
				}
				o := gate.ServerOptions{URL: server, Check: check, Token: token, Window: window, Since: sinceT,
					MinSamples: minSamples, Wait: wait, Progress: progress, RunID: runID}
				if runID != "" && check == "" {
					check = runID // what the verdict line names
				}
				if runProfile != "" || cmd.Flags().Changed("duration") || runID != "" {
					if runID == "" {
						o.Run = &gate.RunRequest{Profile: runProfile, Duration: duration, Key: key}
					}
					if !cmd.Flags().Changed("wait") {
						o.Wait = 30 * time.Minute
					}
				}
				res, err = gate.AskServer(ctx, o)
			} else {
				res, err = askPrometheus(ctx, env, prom, configPath, check, window, minSamples)
			}
			if err != nil {
				var ee *exitError
				if errors.As(err, &ee) {
					return err // interrupted while reading the config
				}
				if errors.Is(err, gate.ErrUsage) {
					// Exit 2 says it was a usage error; the message need not.
					return &exitError{code: ExitUsage, err: errors.New(strings.TrimPrefix(err.Error(), gate.ErrUsage.Error()+": "))}
				}
				return &exitError{code: ExitInternal, err: err}
			}
			if output == "json" {
				err = writeGateJSON(env.Stdout, check, res)
			} else {
				err = writeGateText(env.Stdout, check, res)
			}
			if err != nil {
				return &exitError{code: ExitInternal, err: err}
			}
			switch res.Verdict {
			case slo.Pass:
				return nil
			case slo.Fail:
				return &exitError{code: ExitSLOFailed}
			}
			return &exitError{code: ExitInconclusive}
		},
	}
	f := cmd.Flags()
	f.StringVar(&server, "server", "", "a canary daemon's base URL")
	f.StringVar(&prom, "prometheus", "", "a Prometheus base URL (with --config)")
	f.StringVar(&configPath, "config", "", "the daemon config defining the check's SLOs (with --prometheus)")
	f.StringVar(&check, "check", "", "the check to judge")
	f.DurationVar(&window, "window", 0, "the verdict window (default: the check's window)")
	f.StringVar(&since, "since", "", "judge only what happened since this RFC 3339 time (e.g. the deploy)")
	f.IntVar(&minSamples, "min-samples", 0, "fewer iterations are inconclusive (default: the check's min_samples)")
	f.DurationVar(&wait, "wait", 0, "keep asking while inconclusive for up to this long")
	f.StringVar(&runID, "run-id", "", "wait for the verdict of this run on the daemon (a distributed run's id, as its segments print it; --wait defaults to 30m)")
	f.StringVar(&runProfile, "run", "", "start an on-demand run with this profile (a path on the daemon, or inline JSON like '{\"rate\":\"20/s\"}')")
	f.StringVar(&duration, "duration", "", "with --run: how long the run lasts (e.g. 2m)")
	f.StringVar(&key, "key", "", "with --run: an idempotency key (the same key returns the same run)")
	f.StringVar(&token, "token", "", "bearer token for --run (default $CANARY_TOKEN)")
	f.BoolVarP(&quiet, "quiet", "q", false, "no progress on stderr")
	f.StringVarP(&output, "output", "o", "text", "text (the verdict and why) or json (the daemon's answer as it came)")
	return cmd
}

func askPrometheus(ctx context.Context, env Env, prom, configPath, check string, window time.Duration, minSamples int) (*gate.Result, error) {
	if configPath == "" {
		return nil, fmt.Errorf("%w: --prometheus needs --config (the SLOs to judge)", gate.ErrUsage)
	}
	cfg, err := readConfig(ctx, env, configPath)
	if err != nil {
		var ee *exitError
		if errors.As(err, &ee) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %v", gate.ErrUsage, err)
	}
	o, err := gate.PromOptionsFor(cfg, prom, check, window, minSamples)
	if err != nil {
		return nil, err
	}
	return gate.AskPrometheus(ctx, o)
}

// readConfig reads a daemon config for a command that does not run it
// (rules, dashboards, gate --prometheus): an unset ${VAR} is a warning on
// stderr, not an error, since none of them needs its secrets. A signal
// stops it between the checks (an *exitError).
func readConfig(ctx context.Context, env Env, configPath string) (*config.Config, error) {
	cfg, err := config.LoadWith(ctx, configPath, config.Options{Env: env.Getenv, AllowUnset: true})
	if ierr := interrupted(ctx); ierr != nil {
		return nil, ierr
	}
	if err != nil {
		return nil, err
	}
	printWarnings(env.Stderr, cfg.Warnings)
	return cfg, nil
}

func loadForGeneration(ctx context.Context, env Env, configPath string) (*config.Config, error) {
	if configPath == "" {
		return nil, usageErr("--config is required")
	}
	cfg, err := readConfig(ctx, env, configPath)
	var ee *exitError
	switch {
	case errors.As(err, &ee):
		return nil, err
	case err != nil:
		return nil, usageErr("%v", err)
	}
	return cfg, nil
}

func newRulesCmd(env Env) *cobra.Command {
	var configPath, format, name, namespace string
	cmd := &cobra.Command{
		Use:   "rules --config canary.yaml [--format rules|prometheusrule]",
		Short: "Print Prometheus recording and burn-rate alerting rules for the config's SLOs",
		Long: `rules prints Prometheus rules generated from the daemon config's SLOs: SLI
error ratios per window (canary:sli_error:ratio_rate<window>), multi-window
multi-burn-rate alerts matching the daemon's own alerting policy, and an
alert for checks that stopped reporting. The output passes promtool check
rules; --format prometheusrule wraps it in a prometheus-operator
PrometheusRule. See docs/rules-and-dashboards.md.`,
		Example: `  canary rules --config canary.yaml > canary.rules.yml && promtool check rules canary.rules.yml
  canary rules --config canary.yaml --format prometheusrule --namespace monitoring | kubectl apply -f -`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadForGeneration(cmd.Context(), env, configPath)
			if err != nil {
				return err
			}
			rf, err := dashboards.Rules(dashboards.FromConfig(cfg))
			if err != nil {
				return usageErr("%v", err)
			}
			var out []byte
			switch format {
			case "rules":
				out, err = rf.YAML()
			case "prometheusrule":
				out, err = rf.PrometheusRule(name, namespace, nil)
			default:
				return usageErr("--format %q: want rules or prometheusrule", format)
			}
			if err != nil {
				return usageErr("%v", err)
			}
			_, err = env.Stdout.Write(out)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&configPath, "config", "", "daemon config file")
	f.StringVar(&format, "format", "rules", "rules (a Prometheus rule file) or prometheusrule (the prometheus-operator CRD)")
	f.StringVar(&name, "name", "canary", "the PrometheusRule's name")
	f.StringVar(&namespace, "namespace", "", "the PrometheusRule's namespace")
	return cmd
}

func newDashboardsCmd(env Env) *cobra.Command {
	var configPath string
	cmd := &cobra.Command{
		Use:   "dashboards --config canary.yaml",
		Short: "Print a Grafana dashboard (JSON) for the config's checks",
		Long: `dashboards prints a Grafana dashboard for the config's checks: target vs
achieved rate, in-flight and dropped iterations, latency percentiles per step,
errors by class and status code, SLO burn rates and remaining error budget,
verdicts, firing alerts and config reloads. Import it in Grafana (it asks for
the Prometheus data source). See docs/rules-and-dashboards.md.`,
		Example: `  canary dashboards --config canary.yaml > canary.json`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadForGeneration(cmd.Context(), env, configPath)
			if err != nil {
				return err
			}
			out, err := dashboards.Dashboard(dashboards.FromConfig(cfg))
			if err != nil {
				return usageErr("%v", err)
			}
			_, err = env.Stdout.Write(out)
			return err
		},
	}
	cmd.Flags().StringVar(&configPath, "config", "", "daemon config file")
	return cmd
}

// gateAnswer is what the text output reads of the daemon's answer: a
// verdict (GET /api/v1/checks/{name}/verdict) or a run (GET /api/v1/runs/{id}).
type gateAnswer struct {
	ID         string `json:"id"`
	Window     string `json:"window"`
	Since      string `json:"since"`
	Samples    *int64 `json:"samples"`
	Objectives []struct {
		Name      string `json:"name"`
		Objective string `json:"objective"`
		Observed  string `json:"observed"`
		Pass      bool   `json:"pass"`
	} `json:"objectives"`
}

// writeGateText writes the verdict for a person: "checkout: FAIL" with what
// it was judged on, each objective with its observed value, and the reasons.
func writeGateText(w io.Writer, check string, res *gate.Result) error {
	var a gateAnswer
	if len(res.Body) > 0 {
		_ = json.Unmarshal(res.Body, &a) // best effort: the verdict and reasons are already read
	}
	var on []string
	if a.ID != "" {
		on = append(on, "run "+a.ID)
	}
	if a.Samples != nil {
		on = append(on, fmt.Sprintf("n=%d", *a.Samples))
	}
	if a.Window != "" {
		on = append(on, "window "+a.Window)
	}
	if a.Since != "" {
		on = append(on, "since "+a.Since)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s", check, strings.ToUpper(string(res.Verdict)))
	if len(on) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(on, ", "))
	}
	b.WriteString("\n")
	for _, o := range a.Objectives {
		mark := "✓"
		if !o.Pass {
			mark = "✗"
		}
		fmt.Fprintf(&b, "  %s %s  %s  observed %s\n", mark, o.Name, o.Objective, orDash(o.Observed))
	}
	for _, r := range res.Reasons {
		fmt.Fprintf(&b, "  %s\n", r)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeGateJSON writes the daemon's answer as it came or, for a verdict
// judged here (--prometheus), the same fields a daemon's verdict has.
func writeGateJSON(w io.Writer, check string, res *gate.Result) error {
	if len(res.Body) > 0 {
		_, err := fmt.Fprintln(w, strings.TrimSpace(string(res.Body)))
		return err
	}
	reasons := res.Reasons
	if reasons == nil {
		reasons = []string{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		Check   string   `json:"check"`
		Verdict string   `json:"verdict"`
		Reasons []string `json:"reasons"`
	}{check, string(res.Verdict), reasons})
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
