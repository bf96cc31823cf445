package envfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     map[string]string
		err      string
	}{
		{name: "empty", in: "", want: map[string]string{}},
		{name: "plain and comments", in: "# c\nA=1\n\n  B = two words \n", want: map[string]string{"A": "1", "B": "two words"}},
		{name: "export and quotes", in: "export A=\"x y\"\nB='z'\nC=\"unbalanced'\n", want: map[string]string{"A": "x y", "B": "z", "C": "\"unbalanced'"}},
		{name: "equals in the value", in: "URL=http://h/?a=b\n", want: map[string]string{"URL": "http://h/?a=b"}},
		{name: "last wins", in: "A=1\nA=2\n", want: map[string]string{"A": "2"}},
		{name: "no equals", in: "A=1\nnonsense\n", err: "f.env:2:1: want KEY=VALUE"},
		{name: "space in the key", in: "A B=1\n", err: "f.env:1:1: want KEY=VALUE"},
		{name: "empty key", in: "=1\n", err: "f.env:1:1: want KEY=VALUE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse("f.env", strings.NewReader(tc.in))
			if tc.err != "" {
				assert.EqualError(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestLayer(t *testing.T) {
	base := func(k string) (string, bool) {
		v, ok := map[string]string{"A": "base", "B": "base"}[k]
		return v, ok
	}
	same, err := Layer(base, "")
	require.NoError(t, err)
	v, ok := same("A")
	assert.True(t, ok)
	assert.Equal(t, "base", v)

	path := filepath.Join(t.TempDir(), "f.env")
	require.NoError(t, os.WriteFile(path, []byte("A=file\nC=file\n"), 0o600))
	env, err := Layer(base, path)
	require.NoError(t, err)
	for k, want := range map[string]string{"A": "file", "B": "base", "C": "file"} {
		v, ok := env(k)
		assert.True(t, ok, k)
		assert.Equal(t, want, v, "the file's values win: %s", k)
	}
	_, ok = env("D")
	assert.False(t, ok)

	_, err = Layer(base, filepath.Join(t.TempDir(), "missing.env"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "--env-file: open ")
}

func TestAFileOverTheCapIsAnError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "env")
	big := strings.Repeat("K=v\n", MaxBytes/4+1)
	require.NoError(t, os.WriteFile(path, []byte(big), 0o600))
	_, err := Layer(func(string) (string, bool) { return "", false }, path)
	require.Error(t, err, "a file past the cap was cut short without a word")
}
