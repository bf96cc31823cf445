package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/canaryproj/canary/daemon"
	"github.com/canaryproj/canary/internal/yamlfile"
	"github.com/canaryproj/canary/profiles"
	"github.com/canaryproj/canary/scenario"
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
				kind, err := validateFile(f, env.Getenv)
				if err != nil {
					bad++
					fmt.Fprintln(env.Stdout, err.Error())
					continue
				}
				fmt.Fprintf(env.Stdout, "%s: ok (%s)\n", f, kind)
			}
			if bad > 0 {
				return &exitError{code: ExitUsage, err: fmt.Errorf("%d of %d files invalid", bad, len(files))}
			}
			return nil
		},
	}
}

// validateFile loads f as whatever it is and returns a short description.
func validateFile(f string, getenv func(string) (string, bool)) (string, error) {
	data, err := yamlfile.ReadFile(f)
	var pe *yamlfile.Error
	if errors.As(err, &pe) {
		return "", err
	}
	if err != nil {
		return "", fmt.Errorf("%s: %v", f, err)
	}
	root, err := yamlfile.Parse(f, data)
	if err != nil {
		return "", err
	}
	keys := map[string]bool{}
	stepsList := false
	if root.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(root.Content); i += 2 {
			keys[root.Content[i].Value] = true
			if root.Content[i].Value == "steps" {
				stepsList = yamlfile.Resolve(root.Content[i+1]).Kind == yaml.SequenceNode
			}
		}
	}
	switch {
	case keys["checks"] || keys["server"] || keys["alerting"]:
		cfg, err := daemon.ParseConfig(f, data, getenv)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("daemon config, %s", plural(len(cfg.Checks), "check")), nil
	case keys["steps"] && stepsList, keys["name"] && !keys["stages"] && !keys["steps"] && !isProfileShorthand(keys):
		sc, err := scenario.Parse(f, data, scenario.LoadOptions{Env: getenv})
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("scenario %q, %s", sc.Name, plural(len(sc.Steps), "step")), nil
	default:
		for _, k := range []string{"stages", "steps", "rate", "constant", "spike", "sine", "model", "start", "loop", "max_inflight", "max_lag"} {
			if keys[k] {
				p, err := profiles.Parse(f, data, yamlfile.Options{Env: getenv})
				if err != nil {
					return "", err
				}
				return fmt.Sprintf("%s-model profile", p.Model), nil
			}
		}
		return "", fmt.Errorf("%s:1:1: not a scenario (steps:), a profile (stages: or a shorthand) or a daemon config (checks:); keys found: %s", f, strings.Join(sortedKeyList(keys), ", "))
	}
}

func isProfileShorthand(keys map[string]bool) bool {
	for _, k := range []string{"rate", "constant", "spike", "sine", "model", "start", "loop", "max_inflight", "max_lag"} {
		if keys[k] {
			return true
		}
	}
	return false
}

func sortedKeyList(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}
