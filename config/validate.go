package config

import (
	"context"
	"fmt"
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
// every problem as file:line:col. With o.AllowUnset, the unset ${VAR}s are
// warnings, returned (and what depends on them is not checked).
// It stops once ctx ends (between the checks of a config), with ctx's
// cause.
func ValidateFile(ctx context.Context, path string, o Options) (kind string, warnings []*yamlfile.Error, err error) {
	data, err := yamlfile.ReadFile("", path)
	if err != nil {
		return "", nil, err
	}
	root, err := yamlfile.Parse(path, data)
	if err != nil {
		return "", nil, err
	}
	var unset *yamlfile.Unset
	if o.AllowUnset {
		unset = &yamlfile.Unset{}
	}
	switch kindOf(root) {
	case KindConfig:
		cfg, err := ParseWith(ctx, path, data, o)
		if err != nil {
			return "", nil, err
		}
		return fmt.Sprintf("daemon config, %s", plural(len(cfg.Checks), "check")), cfg.Warnings, nil
	case KindScenario:
		sc, err := scenario.Parse(path, data, scenario.LoadOptions{Env: o.Env, Unset: unset})
		if err != nil {
			return "", nil, unset.Join(err)
		}
		return fmt.Sprintf("scenario %q, %s", sc.Name, plural(len(sc.Steps), "step")), unset.Warnings(), nil
	case KindProfile:
		p, err := profiles.Parse(path, data, yamlfile.Options{Env: o.Env, Unset: unset})
		if err != nil {
			return "", nil, unset.Join(err)
		}
		return fmt.Sprintf("%s-model profile", p.Model), unset.Warnings(), nil
	}
	return "", nil, fmt.Errorf("%s:1:1: not a scenario (steps:), a profile (stages: or a shorthand) or a daemon config (checks:); keys found: %s",
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
