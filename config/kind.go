package config

import (
	"fmt"
	"slices"

	"gopkg.in/yaml.v3"

	"github.com/canaryproj/canary/internal/yamlfile"
)

// The kinds of canary's YAML files, as messages name them.
const (
	KindScenario = "scenario"
	KindProfile  = "load profile"
	KindConfig   = "daemon config"
)

// profileKeys are the top-level keys that make a file a profile (stages
// or one of the shorthands).
var profileKeys = []string{"rate", "constant", "spike", "sine", "model", "start", "loop", "max_inflight", "max_lag"}

// kindOf tells a file's kind by its top-level keys; "" when it cannot.
func kindOf(root *yaml.Node) string {
	keys := map[string]bool{}
	stepsList := false
	if root = yamlfile.Resolve(root); root != nil && root.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(root.Content); i += 2 {
			keys[root.Content[i].Value] = true
			if root.Content[i].Value == "steps" {
				v := yamlfile.Resolve(root.Content[i+1])
				stepsList = v != nil && v.Kind == yaml.SequenceNode
			}
		}
	}
	shorthand := slices.ContainsFunc(profileKeys, func(k string) bool { return keys[k] })
	switch {
	case keys["checks"] || keys["server"] || keys["alerting"]:
		return KindConfig
	case keys["steps"] && stepsList, keys["name"] && !keys["stages"] && !keys["steps"] && !shorthand:
		return KindScenario
	case keys["stages"] || keys["steps"] || shorthand:
		return KindProfile
	}
	return ""
}

// WrongKind reads the file at path, which was to be of kind want and did
// not load as one, and when it is plainly of another kind, says so and how
// to use it: "examples/canary.yaml:1:1: this is a daemon config, not a
// scenario: use `canary daemon --config examples/canary.yaml`". It returns
// nil when the file is of kind want, or when it cannot tell; the loader's
// own errors then stand.
func WrongKind(path, want string) error {
	data, err := yamlfile.ReadFile("", path)
	if err != nil {
		return nil
	}
	root, err := yamlfile.Parse(path, data)
	if err != nil {
		return nil
	}
	return wrongKind(path, root, want)
}

func wrongKind(path string, root *yaml.Node, want string) error {
	got := kindOf(root)
	if got == "" || got == want {
		return nil
	}
	use := ""
	switch got {
	case KindConfig:
		use = fmt.Sprintf("use `canary daemon --config %s`", path)
	case KindScenario:
		use = fmt.Sprintf("run it with `canary run %s`", path)
		if want == KindConfig {
			use += ", or name it in a check's scenario: in the daemon config"
		}
	case KindProfile:
		use = fmt.Sprintf("give it to `canary run SCENARIO.yaml --profile %s`", path)
		if want == KindConfig {
			use += ", or name it in a check's profile: in the daemon config"
		}
	}
	return &yamlfile.Error{File: path, Line: 1, Column: 1, Msg: fmt.Sprintf("this is a %s, not a %s: %s", got, want, use)}
}
