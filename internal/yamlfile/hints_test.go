package yamlfile

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

func TestParseTabs(t *testing.T) {
	for _, tc := range []struct {
		name, src, want string
	}{
		{"a tab where a key should start", "name: x\nsteps:\n\t- name: a\n",
			"f.yaml:3:1: YAML does not allow tabs for indentation, line 3: indent with spaces"},
		{"reported on the line before the tab", "a:\n  b: 1\n\tc: 2\n",
			"f.yaml:3:1: YAML does not allow tabs for indentation, line 3: indent with spaces"},
		{"after spaces", "a:\n  b:\n    c: 1\n  \td: 2\n",
			"f.yaml:4:3: YAML does not allow tabs for indentation, line 4: indent with spaces"},
		{"in a block scalar", "a:\n  b: |\n    x\n\ty\n",
			"f.yaml:4:1: YAML does not allow tabs for indentation, line 4: indent with spaces"},
		{"another character that cannot start a token", "a:\n  b: 1\n  c: `x`\n",
			"f.yaml:3:1: found character that cannot start any token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("f.yaml", []byte(tc.src))
			assert.EqualError(t, err, tc.want, "Parse(%q)", tc.src)
		})
	}
	_, err := Parse("f.yaml", []byte("a:\t1\n"))
	assert.NoError(t, err, "a tab after a colon is not indentation")
}

type hintFile struct {
	Name     string                `yaml:"name"`
	Defaults hintDefaults          `yaml:"defaults"`
	Steps    []hintStep            `yaml:"steps"`
	Extra    map[string]hintExpect `yaml:"extras"`
}

type hintDefaults struct {
	Timeout string `yaml:"timeout"`
}

type hintStep struct {
	Name    string      `yaml:"name"`
	Request hintRequest `yaml:"request"`
	Expect  *hintExpect `yaml:"expect"`
	Custom  upper       `yaml:"custom"`
	Raw     *yaml.Node  `yaml:"raw"`
}

type hintRequest struct {
	URL     string            `yaml:"url"`
	Method  string            `yaml:"method"`
	Headers map[string]string `yaml:"headers"`
	JSON    *yaml.Node        `yaml:"json"`
}

type hintExpect struct {
	Status     int               `yaml:"status"`
	MaxLatency string            `yaml:"max_latency"`
	Headers    map[string]string `yaml:"headers"`
	JSON       *yaml.Node        `yaml:"json"`
}

// A key one level too deep or too shallow is named for what it is and
// where it belongs.
func TestKeysAtTheWrongDepth(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		want      []string
		// request is what the request decoded into: the keys of a
		// misplaced expect are not silently taken as the request's.
		request *hintRequest
	}{
		{name: "a step key indented under request", src: `
steps:
  - name: a
    request:
      url: http://x
      expect:
        status: 200
`, want: []string{"f.yaml:6:7: `expect` is a step key; it is indented under `request`: move it left, in line with `request:`"}},
		{name: "an empty step key under request, its keys beside it", src: `
steps:
  - name: a
    request:
      url: http://x
      expect:
      status: 200
      headers: {Content-Type: json}
      json: {ok: true}
      method: POST
`, want: []string{
			"f.yaml:6:7: `expect` is a step key; it is indented under `request`: move it left, in line with `request:`",
			"f.yaml:7:7: `status` belongs to the empty `expect:` on line 6: indent it under `expect:`",
			"f.yaml:8:7: `headers` belongs to the empty `expect:` on line 6: indent it under `expect:`",
			"f.yaml:9:7: `json` belongs to the empty `expect:` on line 6: indent it under `expect:`",
		}, request: &hintRequest{URL: "http://x", Method: "POST"}},
		{name: "a request key at the step's level", src: `
steps:
  - name: a
    url: http://x
    request: {method: GET}
`, want: []string{"f.yaml:4:5: `url` is a request key: indent it under `request:`"}},
		{name: "an expect key at the step's level", src: `
steps:
  - name: a
    request: {url: http://x}
    max_latency: 1s
`, want: []string{"f.yaml:5:5: `max_latency` is an expect key: indent it under `expect:`"}},
		{name: "a key of two structs below", src: `
steps:
  - name: a
    request: {url: http://x}
    headers: {A: b}
`, want: []string{"f.yaml:5:5: `headers` is not a step key: it belongs under `request:` or `expect:`"}},
		{name: "a top-level key under defaults", src: `
defaults:
  timeout: 1s
  name: x
`, want: []string{"f.yaml:4:3: `name` is a top-level key; it is indented under `defaults`: move it left, in line with `defaults:`"}},
		{name: "a step key at the top", src: `
name: x
request: {url: http://x}
`, want: []string{"f.yaml:3:1: `request` is a step key: indent it under an item of `steps:`"}},
		{name: "a key of a map's items", src: `
extras:
  one: {status: 200, url: http://x}
`, want: []string{"f.yaml:3:22: unknown key \"url\""}},
		{name: "a typo is still a typo", src: `
steps:
  - name: a
    request: {url: http://x}
    expct: {status: 200}
`, want: []string{"f.yaml:5:5: unknown key \"expct\" (did you mean \"expect\"?)"}},
		{name: "a merge key keeps the level", src: `
base: &base {url: http://x}
steps:
  - name: a
    request:
      <<: *base
      name: b
`, want: []string{
			"f.yaml:2:1: unknown key \"base\" (did you mean \"name\"?)",
			"f.yaml:7:7: `name` is a step key; it is indented under `request`: move it left, in line with `request:`",
		}},
		{name: "types that decode themselves offer no keys", src: `
steps:
  - name: a
    request: {url: http://x}
    anything: 1
`, want: []string{"f.yaml:5:5: unknown key \"anything\""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := Parse("f.yaml", []byte(tc.src))
			require.NoError(t, err)
			d := NewDecoder("f.yaml", Options{})
			var out hintFile
			d.Decode(n, &out)
			require.Error(t, d.Err())
			assert.Equal(t, strings.Join(tc.want, "\n"), d.Err().Error())
			if tc.request != nil {
				require.NotEmpty(t, out.Steps)
				assert.Equal(t, *tc.request, out.Steps[0].Request)
			}
		})
	}
}

// A struct decoded on its own, from inside a file (a scenario inline in
// the daemon config), does not know what its parent's keys are called.
func TestKeysAtTheWrongDepthInline(t *testing.T) {
	n, err := Parse("f.yaml", []byte("check:\n  scenario:\n    name: x\n    defaults:\n      steps: []\n"))
	require.NoError(t, err)
	d := NewDecoder("f.yaml", Options{})
	var out hintFile
	d.Decode(Child(Child(n, "check"), "scenario"), &out)
	assert.EqualError(t, d.Err(), "f.yaml:5:7: `steps` belongs one level up; it is indented under `defaults`: move it left, in line with `defaults:`")
}

func TestReadErrorSuggestsAFile(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"examples/smoke.yaml", "examples/checkout.yaml", "examples/profiles/ramp.yaml", "examples/profiles/spike.yaml", "tab.yaml"} {
		require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(dir, f)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), []byte("x: 1\n"), 0o644))
	}
	t.Chdir(dir)
	for _, tc := range []struct {
		name, what, path, want string
	}{
		{"a letter missing", "scenario", "examples/smok.yaml",
			`scenario examples/smok.yaml: no such file or directory (did you mean "examples/smoke.yaml"?)`},
		{"two letters swapped", "profile", "examples/profiles/rmap.yaml",
			`profile examples/profiles/rmap.yaml: no such file or directory (did you mean "examples/profiles/ramp.yaml"?)`},
		{"another extension", "scenario", "examples/smoke.yml",
			`scenario examples/smoke.yml: no such file or directory (did you mean "examples/smoke.yaml"?)`},
		{"a folder misspelt", "scenario", "exmaples/checkout.yaml",
			`scenario exmaples/checkout.yaml: no such file or directory (did you mean "examples/checkout.yaml"?)`},
		{"a short name is not a typo of another", "profile", "nah.yaml",
			`profile nah.yaml: no such file or directory`},
		{"nothing close", "scenario", "examples/payments.yaml",
			`scenario examples/payments.yaml: no such file or directory`},
		{"no kind", "", "examples/smok.yaml",
			`examples/smok.yaml: no such file or directory (did you mean "examples/smoke.yaml"?)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := os.ReadFile(tc.path)
			require.Error(t, err)
			got := ReadError(tc.what, tc.path, err)
			assert.EqualError(t, got, tc.want)
			assert.ErrorIs(t, got, fs.ErrNotExist)
		})
	}
}

func TestReadErrorOtherThanMissing(t *testing.T) {
	dir := t.TempDir()
	_, err := os.ReadFile(dir) // a folder
	require.Error(t, err)
	assert.EqualError(t, ReadError("scenario", dir, err), "scenario "+dir+": is a directory")
}
