package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/canaryproj/canary/config"
	"github.com/canaryproj/canary/internal/yamlfile"
)

func newValidateCmd(env Env) *cobra.Command {
	var strictEnv bool
	cmd := &cobra.Command{
		Use:   "validate FILE...",
		Short: "Check scenario, profile and daemon-config files",
		Long: `validate checks each file — a scenario, a load profile or a daemon config,
recognised by its keys — and prints every problem as file:line:col: message.
Exit 0 when all are valid, 2 otherwise.

${VAR}s are expanded from the environment. One that is not set (and has no
${VAR:-default}) is a warning naming it and its file:line:col — a pull
request can validate a config without the production secrets — and what
depends on it is not checked; --strict-env makes it an error, as it is for
canary run and canary daemon, which need the values.

SIGINT or SIGTERM stops it between files (and between a config's checks):
exit 130 or 143.`,
		Example: `  canary validate examples/*.yaml examples/profiles/*.yaml
  canary validate canary.yaml
  canary validate --strict-env canary.yaml    # as the daemon will read it`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			ctx := cmd.Context()
			bad := 0
			for _, f := range files {
				if err := interrupted(ctx); err != nil {
					return err
				}
				kind, warnings, err := config.ValidateFile(ctx, f, config.Options{Env: env.Getenv, AllowUnset: !strictEnv})
				if err := interrupted(ctx); err != nil {
					return err
				}
				if err != nil {
					bad++
					fmt.Fprintln(env.Stdout, err.Error())
					continue
				}
				printWarnings(env.Stdout, warnings)
				fmt.Fprintf(env.Stdout, "%s: ok (%s)\n", f, kind)
			}
			if bad > 0 {
				// Below the messages, on the same stream, so that it
				// stays there when stdout and stderr are merged.
				fmt.Fprintf(env.Stdout, "%d of %d files invalid\n", bad, len(files))
				return &exitError{code: ExitUsage}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&strictEnv, "strict-env", false, "an unset ${VAR} is an error, as canary run and canary daemon will find it")
	return cmd
}

// printWarnings prints each warning on a line of its own.
func printWarnings(w interface{ Write([]byte) (int, error) }, warnings []*yamlfile.Error) {
	for _, e := range warnings {
		fmt.Fprintln(w, yamlfile.Warning(e))
	}
}
