package config

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/canaryproj/canary/internal/yamlfile"
	"github.com/canaryproj/canary/profiles"
	"github.com/canaryproj/canary/scenario"
)

// profileKeys are the top-level keys that make a file a profile (stages
// or one of the shorthands).
var profileKeys = []string{"rate", "constant", "spike", "sine", "model", "start", "loop", "max_inflight", "max_lag"}

// ValidateFile loads any of canary's YAML files — a scenario, a load profile
// or a daemon config, told apart by their top-level keys — as the run time
// would, and describes it ("scenario \"checkout\", 3 steps"). Its error lists
// every problem as file:line:col.
func ValidateFile(path string, env func(string) (string, bool)) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s: %v", path, err)
	}
	root, err := yamlfile.Parse(path, data)
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
	shorthand := slices.ContainsFunc(profileKeys, func(k string) bool { return keys[k] })
	switch {
	case keys["checks"] || keys["server"] || keys["alerting"]:
		cfg, err := Parse(path, data, env)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("daemon config, %s", plural(len(cfg.Checks), "check")), nil
	case keys["steps"] && stepsList, keys["name"] && !keys["stages"] && !keys["steps"] && !shorthand:
		sc, err := scenario.Parse(path, data, scenario.LoadOptions{Env: env})
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("scenario %q, %s", sc.Name, plural(len(sc.Steps), "step")), nil
	case keys["stages"] || keys["steps"] || shorthand:
		p, err := profiles.Parse(path, data, yamlfile.Options{Env: env})
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%s-model profile", p.Model), nil
	}
	return "", fmt.Errorf("%s:1:1: not a scenario (steps:), a profile (stages: or a shorthand) or a daemon config (checks:); keys found: %s",
		path, strings.Join(slices.Sorted(maps.Keys(keys)), ", "))
}

func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}
