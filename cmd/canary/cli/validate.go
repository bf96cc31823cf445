package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/canaryproj/canary/config"
)

func newValidateCmd(env Env) *cobra.Command {
	return &cobra.Command{
		Use:   "validate FILE...",
		Short: "Check scenario, profile and daemon-config files",
		Long: `validate checks each file — a scenario, a load profile or a daemon config,
recognised by its keys — and prints every problem as file:line:col: message.
Exit 0 when all are valid, 2 otherwise. ${VAR}s are expanded from the
environment, as they would be at run time.`,
		Example: `  canary validate examples/*.yaml examples/profiles/*.yaml
  canary validate canary.yaml`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			bad := 0
			for _, f := range files {
				kind, err := config.ValidateFile(f, env.Getenv)
				if err != nil {
					bad++
					fmt.Fprintln(env.Stdout, err.Error())
					continue
				}
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
}
