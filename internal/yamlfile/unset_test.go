package yamlfile

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// With Options.Unset, an unset ${VAR} is a warning at its position, stays
// as written, and what is wrong with its (unknown) value is not reported;
// without, it is an error with the same message.
func TestUnsetVariables(t *testing.T) {
	src := "token: \"Bearer ${TOKEN}\"\nrate: \"${RATE}\"\nport: ${PORT:-80}\n"
	env := func(string) (string, bool) { return "", false }
	var out struct {
		Token string `yaml:"token"`
		Rate  int    `yaml:"rate"`
		Port  int    `yaml:"port"`
	}
	root, err := Parse("f.yaml", []byte(src))
	require.NoError(t, err)

	for _, tc := range []struct {
		name    string
		unset   *Unset
		errs    []string
		warns   []string
		token   string
		unknown bool
	}{
		{name: "running: errors", errs: []string{
			"f.yaml:1:8: environment variable TOKEN is not set (write ${TOKEN:-default} to give a default)",
			"f.yaml:2:7: environment variable RATE is not set (write ${RATE:-default} to give a default)",
		}},
		{name: "reading: warnings", unset: &Unset{}, warns: []string{
			"f.yaml:1:8: warning: environment variable TOKEN is not set (write ${TOKEN:-default} to give a default)",
			"f.yaml:2:7: warning: environment variable RATE is not set (write ${RATE:-default} to give a default)",
		}, token: "Bearer ${TOKEN}", unknown: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out.Token, out.Rate, out.Port = "", 0, 0
			d := NewDecoder("f.yaml", Options{Env: env, Unset: tc.unset})
			d.Decode(root, &out)
			var errs []string
			if err := d.Err(); err != nil {
				for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
					errs = append(errs, e.Error())
				}
			}
			assert.Equal(t, tc.errs, errs)
			var warns []string
			for _, w := range tc.unset.Warnings() {
				warns = append(warns, Warning(w))
			}
			assert.Equal(t, tc.warns, warns)
			assert.Equal(t, tc.token, out.Token)
			assert.Equal(t, 80, out.Port, "a default is no warning")
			assert.Equal(t, tc.unknown, d.Unknown(Child(root, "token")))
			assert.False(t, d.Unknown(Child(root, "port")))
		})
	}
}

// An Unset serving several decoders lists each warning once, in file
// order; Join adds them to an error they may explain.
func TestUnsetCollectsOnce(t *testing.T) {
	u := &Unset{}
	env := func(string) (string, bool) { return "", false }
	for _, f := range []string{"b.yaml", "a.yaml", "b.yaml"} {
		var n yaml.Node
		require.NoError(t, yaml.Unmarshal([]byte("x: ${X}\n"), &n))
		var out struct {
			X string `yaml:"x"`
		}
		NewDecoder(f, Options{Env: env, Unset: u}).Decode(n.Content[0], &out)
	}
	require.Len(t, u.Warnings(), 2)
	assert.Equal(t, "a.yaml", u.Warnings()[0].File)
	assert.NoError(t, u.Join(nil))
	assert.EqualError(t, u.Join(assert.AnError), assert.AnError.Error()+
		"\na.yaml:1:4: warning: environment variable X is not set (write ${X:-default} to give a default)"+
		"\nb.yaml:1:4: warning: environment variable X is not set (write ${X:-default} to give a default)")
	var none *Unset
	assert.Nil(t, none.Warnings())
}
