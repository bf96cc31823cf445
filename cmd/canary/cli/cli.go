// Package cli is canary's command line: it parses flags, wires the packages
// together and maps outcomes to exit codes (docs/run.md). It holds no logic of
// its own that a library user would need.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"

	"github.com/spf13/cobra"
)

// Exit codes, the same for every command (docs/run.md, "Exit codes").
const (
	ExitOK           = 0
	ExitInternal     = 1
	ExitUsage        = 2
	ExitInconclusive = 3
	ExitSLOFailed    = 99
)

// Set by the linker (see Makefile).
var (
	version = "dev"
	commit  = "none"
)

// exitError carries an exit code through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}
func (e *exitError) Unwrap() error { return e.err }

func usageErr(format string, args ...any) error {
	return &exitError{code: ExitUsage, err: fmt.Errorf(format, args...)}
}

// Env is what commands read from the process: kept explicit for tests.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Getenv         func(string) (string, bool)
}

// Run executes canary with args and returns the process exit code.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return RunEnv(ctx, args, Env{Stdin: stdin, Stdout: stdout, Stderr: stderr, Getenv: lookupEnv})
}

// RunEnv is Run with an explicit environment.
func RunEnv(ctx context.Context, args []string, env Env) int {
	root := newRoot(env)
	root.SetArgs(args)
	root.SetIn(env.Stdin)
	root.SetOut(env.Stdout)
	root.SetErr(env.Stderr)
	root.SetVersionTemplate("{{.Version}}\n") // the line canary version prints
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintf(env.Stderr, "canary: %v\n", ee.err)
		}
		return ee.code
	}
	// Errors from cobra itself (unknown command or flag) are usage errors.
	fmt.Fprintf(env.Stderr, "canary: %v\n", err)
	return ExitUsage
}

func newRoot(env Env) *cobra.Command {
	root := &cobra.Command{
		Use:   "canary",
		Short: "Canary load-tester and synthetic monitor",
		Long: `canary runs YAML acceptance scenarios against HTTP endpoints under load profiles,
records latency in HdrHistograms, exposes it to Prometheus, evaluates SLOs and
pages Slack when they are breached: one scenario, three modes (run, daemon, gate).`,
		SilenceUsage:  true,
		SilenceErrors: true,
		// canary --version says what canary version says.
		Version: versionLine(),
	}
	root.AddCommand(newVersionCmd(env), newDemoTargetCmd(env), newRunCmd(env), newReportCmd(env), newValidateCmd(env), newDaemonCmd(env), newGateCmd(env), newRulesCmd(env), newDashboardsCmd(env), newCompareCmd(env))
	return root
}

func newVersionCmd(env Env) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print version, commit and Go version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintln(env.Stdout, versionLine())
			return nil
		},
	}
}

func versionLine() string {
	return fmt.Sprintf("canary %s (commit %s, %s)", version, commit, runtime.Version())
}
