package config

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/canaryproj/canary/internal/yamlfile"
	"github.com/canaryproj/canary/profiles"
	"github.com/canaryproj/canary/scenario"
)

// ValidateFile loads any of canary's YAML files — a scenario, a load profile
// or a daemon config, told apart by their top-level keys — as the run time
// would, and describes it ("scenario \"checkout\", 3 steps"). Its error lists
// every problem as file:line:col.
func ValidateFile(path string, env func(string) (string, bool)) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", yamlfile.ReadError("", path, err)
	}
	root, err := yamlfile.Parse(path, data)
	if err != nil {
		return "", err
	}
	switch kindOf(root) {
	case KindConfig:
		cfg, err := Parse(path, data, env)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("daemon config, %s", plural(len(cfg.Checks), "check")), nil
	case KindScenario:
		sc, err := scenario.Parse(path, data, scenario.LoadOptions{Env: env})
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("scenario %q, %s", sc.Name, plural(len(sc.Steps), "step")), nil
	case KindProfile:
		p, err := profiles.Parse(path, data, yamlfile.Options{Env: env})
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%s-model profile", p.Model), nil
	}
	return "", fmt.Errorf("%s:1:1: not a scenario (steps:), a profile (stages: or a shorthand) or a daemon config (checks:); keys found: %s",
		path, strings.Join(topKeys(root), ", "))
}

func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// topKeys lists a mapping's keys, sorted.
func topKeys(root *yaml.Node) []string {
	var keys []string
	if root.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(root.Content); i += 2 {
			keys = append(keys, root.Content[i].Value)
		}
	}
	slices.Sort(keys)
	return slices.Compact(keys)
}
