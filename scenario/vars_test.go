package scenario

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseVars(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []string
		want map[string]string
		err  string
	}{
		{name: "none", want: map[string]string{}},
		{name: "pairs", in: []string{"a=1", " b =x=y", "c="}, want: map[string]string{"a": "1", "b": "x=y", "c": ""}},
		{name: "last wins", in: []string{"a=1", "a=2"}, want: map[string]string{"a": "2"}},
		{name: "no equals", in: []string{"a"}, err: `--var "a": want key=value`},
		{name: "empty key", in: []string{" =1"}, err: `--var " =1": want key=value`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseVars(tc.in)
			if tc.err != "" {
				assert.EqualError(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestIsURL(t *testing.T) {
	for in, want := range map[string]bool{
		"http://127.0.0.1:8080/health": true,
		"https://example.com":          true,
		"examples/smoke.yaml":          false,
		"ftp://example.com":            false,
		"HTTP://x":                     false, // a scenario file may be named anything but a URL
	} {
		assert.Equal(t, want, IsURL(in), "IsURL(%q)", in)
	}
}
