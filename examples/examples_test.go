// Package examples holds canary's example scenarios, profiles and daemon
// config (see README.md); this test keeps them to the syntax of SPEC §2, §3
// and §5 and runnable without any environment variable set.
//
// It checks the shape of the files (keys, nesting, the operators and capture
// kinds the SPEC shows), names, unique step names, template variables, file
// references and durations. `canary validate examples/*.yaml
// examples/profiles/*.yaml` is the full check once the loaders exist.
package examples

import (
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/canaryproj/canary/internal/yamlfile"
)

// shape is the structure a YAML node must have.
type shape struct {
	keys     map[string]*shape // a mapping with (some of) these keys
	values   *shape            // a mapping with any keys whose values have this shape
	list     *shape            // a sequence of this
	scalar   bool              // a scalar
	free     bool              // anything (vars, headers, a JSON body)
	orScalar bool              // a mapping or list as above, or a scalar instead (a path, a status)
	oneKey   bool              // a mapping with exactly one of keys
}

var (
	scalar = &shape{scalar: true}
	free   = &shape{free: true}
)

func mapping(keys map[string]*shape) *shape { return &shape{keys: keys} }

// The shapes of SPEC §2, §3 and §5, with only the operators, capture kinds
// and shorthands the SPEC shows.
var (
	scenarioShape = mapping(map[string]*shape{
		"name": scalar, "vars": free, "data": scalar, "think_time": scalar,
		"defaults": mapping(map[string]*shape{
			"timeout": scalar, "headers": free, "follow_redirects": scalar, "max_body": scalar,
			"tls": mapping(map[string]*shape{"insecure_skip_verify": scalar, "ca_file": scalar, "cert_file": scalar, "key_file": scalar}),
		}),
		"steps": {list: mapping(map[string]*shape{
			"name": scalar, "continue_on_failure": scalar,
			"request": mapping(map[string]*shape{
				"method": scalar, "url": scalar, "headers": free, "query": free,
				"json": free, "body": scalar, "form": free, "timeout": scalar,
			}),
			"expect": mapping(map[string]*shape{
				"status":        {list: scalar, orScalar: true},
				"max_latency":   scalar,
				"headers":       free,
				"body_contains": {list: scalar},
				"json": {values: &shape{orScalar: true, keys: map[string]*shape{
					"exists": scalar, "gt": scalar, "gte": scalar,
				}}},
				"expr": scalar,
			}),
			"capture": {values: &shape{oneKey: true, keys: map[string]*shape{
				"json": scalar, "header": scalar, "regex": scalar,
			}}},
		})},
	})

	profileKeys = map[string]*shape{
		"name": scalar, "model": scalar, "start": scalar, "max_inflight": scalar, "max_lag": scalar, "loop": scalar,
		"stages":   {list: mapping(map[string]*shape{"duration": scalar, "target": scalar})},
		"rate":     scalar,
		"constant": mapping(map[string]*shape{"target": scalar, "duration": scalar}),
		"spike":    mapping(map[string]*shape{"base": scalar, "peak": scalar, "at": scalar, "hold": scalar, "duration": scalar}),
		"sine":     mapping(map[string]*shape{"min": scalar, "max": scalar, "period": scalar, "duration": scalar}),
		"steps":    mapping(map[string]*shape{"from": scalar, "to": scalar, "step": scalar, "every": scalar}),
	}
	profileShape = mapping(profileKeys)

	configShape = mapping(map[string]*shape{
		"server":        mapping(map[string]*shape{"listen": scalar, "auth_token": scalar, "shutdown_grace": scalar}),
		"state_dir":     scalar,
		"allowed_hosts": {list: scalar},
		"max_rate":      scalar,
		"alerting": mapping(map[string]*shape{
			"slack":           mapping(map[string]*shape{"webhook_url": scalar, "token": scalar, "channel": scalar}),
			"repeat_interval": scalar, "resolve_after": scalar, "evaluate_every": scalar, "slo_period": scalar,
			"burn_rates": {list: mapping(map[string]*shape{"long": scalar, "short": scalar, "factor": scalar, "severity": scalar})},
		}),
		"checks": {list: mapping(map[string]*shape{
			"name": scalar, "schedule": scalar, "labels": free, "window": scalar, "min_samples": scalar,
			"scenario": {orScalar: true, keys: scenarioShape.keys},
			"profile":  {orScalar: true, keys: profileKeys},
			"slos": {list: mapping(map[string]*shape{
				"name": scalar, "success": scalar,
				"latency": mapping(map[string]*shape{"step": scalar, "percentile": scalar, "below": scalar}),
			})},
			"alert": mapping(map[string]*shape{"slack_channel": scalar}),
		})},
	})
)

// check reports every place where n does not have shape s.
func check(file string, n *yaml.Node, s *shape, path string) []string {
	n = yamlfile.Resolve(n)
	at := func(format string, args ...any) string {
		return fmt.Sprintf("%s:%d:%d: %s: %s", file, n.Line, n.Column, path, fmt.Sprintf(format, args...))
	}
	atKey := func(k *yaml.Node, format string, args ...any) string {
		return fmt.Sprintf("%s:%d:%d: %s: %s", file, k.Line, k.Column, path, fmt.Sprintf(format, args...))
	}
	switch {
	case s.free:
		return nil
	case n.Kind == yaml.ScalarNode && (s.scalar || s.orScalar):
		return nil
	case n.Kind == yaml.SequenceNode && s.list != nil:
		var errs []string
		for i, item := range n.Content {
			errs = append(errs, check(file, item, s.list, fmt.Sprintf("%s[%d]", path, i))...)
		}
		return errs
	case n.Kind == yaml.MappingNode && (s.keys != nil || s.values != nil):
		var errs []string
		if s.oneKey && len(n.Content) != 2 {
			errs = append(errs, at("want exactly one of %v", sortedKeys(s.keys)))
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			kn, v := n.Content[i], n.Content[i+1]
			k := kn.Value
			sub := s.values
			if s.keys != nil {
				var ok bool
				if sub, ok = s.keys[k]; !ok {
					errs = append(errs, atKey(kn, "unknown key %q (SPEC allows %v)", k, sortedKeys(s.keys)))
					continue
				}
			}
			errs = append(errs, check(file, v, sub, path+"."+k)...)
		}
		return errs
	}
	return []string{at("unexpected %s", yamlfile.KindName(n))}
}

func sortedKeys(m map[string]*shape) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func load(t *testing.T, file string) *yaml.Node {
	t.Helper()
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	n, err := yamlfile.Parse(file, data)
	require.NoError(t, err)
	require.Equal(t, yaml.MappingNode, n.Kind, "%s: want a mapping at the top", file)
	return n
}

// get returns the value of key in mapping n, or nil.
func get(n *yaml.Node, key string) *yaml.Node {
	n = yamlfile.Resolve(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return yamlfile.Resolve(n.Content[i+1])
		}
	}
	return nil
}

// scalars calls fn for every scalar value under n with its key path.
func scalars(n *yaml.Node, path string, fn func(path string, n *yaml.Node)) {
	n = yamlfile.Resolve(n)
	switch n.Kind {
	case yaml.ScalarNode:
		fn(path, n)
	case yaml.SequenceNode:
		for i, c := range n.Content {
			scalars(c, fmt.Sprintf("%s[%d]", path, i), fn)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			scalars(n.Content[i+1], path+"."+n.Content[i].Value, fn)
		}
	}
}

var (
	scenarios = []string{"smoke.yaml", "checkout.yaml", "shoppers.yaml"}
	profiles  = []string{"profiles/ramp.yaml", "profiles/steady.yaml", "profiles/spike.yaml", "profiles/users-steps.yaml"}
	configs   = []string{"canary.yaml"}

	nameRE     = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)
	envRefRE   = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}`)
	templateRE = regexp.MustCompile(`\{\{-?\s*\.([A-Za-z_][A-Za-z0-9_]*)\s*-?\}\}`)
	// Durations: the keys whose values must parse as one.
	durationKeys = map[string]bool{
		"timeout": true, "max_latency": true, "max_lag": true, "duration": true, "at": true, "hold": true,
		"every": true, "period": true, "window": true, "repeat_interval": true, "evaluate_every": true,
		"long": true, "short": true, "slo_period": true, "below": true, "shutdown_grace": true,
	}
)

func TestEveryExampleIsListed(t *testing.T) {
	var found []string
	for _, pattern := range []string{"*.yaml", "profiles/*.yaml"} {
		m, err := filepath.Glob(pattern)
		require.NoError(t, err)
		found = append(found, m...)
	}
	assert.ElementsMatch(t, slices.Concat(scenarios, profiles, configs), found,
		"a new example file must be added to this test")
}

func TestShapes(t *testing.T) {
	for _, tc := range []struct {
		files []string
		shape *shape
	}{
		{scenarios, scenarioShape},
		{profiles, profileShape},
		{configs, configShape},
	} {
		for _, file := range tc.files {
			t.Run(file, func(t *testing.T) {
				for _, e := range check(file, load(t, file), tc.shape, "") {
					t.Error(e)
				}
			})
		}
	}
}

// Every example runs with no environment set: each ${VAR} has a default.
func TestEnvRefsHaveDefaults(t *testing.T) {
	for _, file := range slices.Concat(scenarios, profiles, configs) {
		t.Run(file, func(t *testing.T) {
			scalars(load(t, file), "", func(path string, n *yaml.Node) {
				for _, m := range envRefRE.FindAllStringSubmatch(n.Value, -1) {
					assert.NotEmpty(t, m[2], "%s:%d:%d: %s: ${%s} has no default", file, n.Line, n.Column, path, m[1])
				}
				assert.NotContains(t, strings.ReplaceAll(envRefRE.ReplaceAllString(n.Value, ""), "$$", ""), "$",
					"%s:%d: %s: a stray $ (write $$ for a literal one)", file, n.Line, path)
			})
		})
	}
}

func TestDurations(t *testing.T) {
	for _, file := range slices.Concat(scenarios, profiles, configs) {
		t.Run(file, func(t *testing.T) {
			scalars(load(t, file), "", func(path string, n *yaml.Node) {
				key := path[strings.LastIndex(path, ".")+1:]
				if !durationKeys[key] && key != "think_time" {
					return
				}
				for _, part := range strings.SplitN(n.Value, "-", 2) {
					_, err := yamlfile.ParseDuration(part)
					assert.NoError(t, err, "%s:%d:%d: %s", file, n.Line, n.Column, path)
				}
			})
		})
	}
}

func TestNames(t *testing.T) {
	for _, file := range slices.Concat(scenarios, profiles) {
		name := get(load(t, file), "name")
		if assert.NotNil(t, name, "%s: name is required", file) {
			assert.Regexp(t, nameRE, name.Value, file)
		}
	}
	for i, c := range get(load(t, "canary.yaml"), "checks").Content {
		assert.Regexp(t, nameRE, get(c, "name").Value, "canary.yaml checks[%d]", i)
	}
}

// dataColumns returns the CSV header of a scenario's data file.
func dataColumns(t *testing.T, file string) []string {
	t.Helper()
	f, err := os.Open(file)
	require.NoError(t, err)
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	require.NoError(t, err, file)
	require.Greater(t, len(rows), 1, "%s: a header and at least one row", file)
	return rows[0]
}

// Every {{ .x }} is defined by a var, a data column or a capture of an
// earlier step, and step names are unique — the rules of SPEC §2.
func TestTemplateVariablesAreDefined(t *testing.T) {
	for _, file := range scenarios {
		t.Run(file, func(t *testing.T) {
			root := load(t, file)
			defined := map[string]bool{}
			if vars := get(root, "vars"); vars != nil {
				for i := 0; i < len(vars.Content); i += 2 {
					defined[vars.Content[i].Value] = true
				}
			}
			if data := get(root, "data"); data != nil {
				for _, col := range dataColumns(t, filepath.Join(filepath.Dir(file), data.Value)) {
					defined[col] = true
				}
			}
			use := func(n *yaml.Node, what string) {
				scalars(n, what, func(path string, s *yaml.Node) {
					for _, m := range templateRE.FindAllStringSubmatch(s.Value, -1) {
						assert.True(t, defined[m[1]], "%s:%d:%d: %s uses {{ .%s }}, which nothing defines before it",
							file, s.Line, s.Column, path, m[1])
					}
				})
			}
			seen := map[string]bool{}
			for _, step := range get(root, "steps").Content {
				name := get(step, "name").Value
				assert.False(t, seen[name], "%s: duplicate step %q", file, name)
				seen[name] = true
				use(get(step, "request"), name+".request")
				if c := get(step, "capture"); c != nil {
					for i := 0; i < len(c.Content); i += 2 {
						defined[c.Content[i].Value] = true
					}
				}
			}
		})
	}
}

// Files that the examples name exist, and latency SLOs name real steps.
func TestReferences(t *testing.T) {
	stepsOf := func(file string) []string {
		var names []string
		for _, step := range get(load(t, file), "steps").Content {
			names = append(names, get(step, "name").Value)
		}
		return names
	}
	for i, c := range get(load(t, "canary.yaml"), "checks").Content {
		sc := get(c, "scenario")
		require.Equal(t, yaml.ScalarNode, sc.Kind, "checks[%d]: these examples name scenario files", i)
		assert.Contains(t, scenarios, sc.Value, "checks[%d].scenario", i)
		if p := get(c, "profile"); p.Kind == yaml.ScalarNode {
			assert.Contains(t, profiles, p.Value, "checks[%d].profile", i)
		}
		for j, slo := range get(c, "slos").Content {
			if lat := get(slo, "latency"); lat != nil {
				assert.Contains(t, stepsOf(sc.Value), get(lat, "step").Value, "checks[%d].slos[%d]: no such step in %s", i, j, sc.Value)
			}
		}
	}
}
