package scenario

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSchemelessURL(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"ip, port and path", "127.0.0.1:8080/health", "http://127.0.0.1:8080/health"},
		{"localhost", "localhost:8080", "http://localhost:8080"},
		{"localhost alone", "localhost", "http://localhost"},
		{"a name with a port", "api:8080/x", "http://api:8080/x"},
		{"a dotted name", "api.example.com/health", "http://api.example.com/health"},
		{"ipv6", "[::1]:8080/", "http://[::1]:8080/"},
		{"a scenario file", "examples/smoke.yaml", ""},
		{"a file in this folder", "smoke.yaml", ""},
		{"a folder", "examples", ""},
		{"a URL already", "http://127.0.0.1/", ""},
		{"another scheme", "ftp://127.0.0.1/", ""},
		{"empty", "", ""},
		{"spaces", "127.0.0.1 :8080", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := SchemelessURL(tc.in)
			assert.Equal(t, tc.want != "", ok, "SchemelessURL(%q)", tc.in)
			assert.Equal(t, tc.want, got, "SchemelessURL(%q)", tc.in)
		})
	}
}

// A URL without a scheme is told as such, with the scheme to add, where it
// was written: the url, or the var it starts with.
func TestURLWithoutAScheme(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		opts       LoadOptions
		want       string
	}{
		{"literal", "literal.yaml", LoadOptions{},
			`testdata/urls/literal.yaml:5:12: url "127.0.0.1:8080/health" has no scheme: write "http://127.0.0.1:8080/health"`},
		{"from a var, once for all its steps", "from_var.yaml", LoadOptions{},
			`testdata/urls/from_var.yaml:3:9: var base "127.0.0.1:8080" starts a url but has no scheme: write "http://127.0.0.1:8080"`},
		{"from --var", "from_var.yaml", LoadOptions{Vars: map[string]string{"base": "localhost:8080"}},
			"testdata/urls/from_var.yaml:7:12: url \"localhost:8080/health\": --var base=localhost:8080 has no scheme: give --var base=http://localhost:8080\n" +
				"testdata/urls/from_var.yaml:10:12: url \"localhost:8080/cart\": --var base=localhost:8080 has no scheme: give --var base=http://localhost:8080"},
		{"from the environment, a secret", "from_env.yaml", LoadOptions{Env: func(k string) (string, bool) {
			return map[string]string{"CANARY_TEST_BASE": "10.1.2.3:8080"}[k], k == "CANARY_TEST_BASE"
		}}, `testdata/urls/from_env.yaml:3:9: var base "<redacted>", from $CANARY_TEST_BASE, starts a url but has no scheme: write "http://<redacted>"`},
		{"another scheme is another problem", "other_scheme.yaml", LoadOptions{},
			`testdata/urls/other_scheme.yaml:7:12: url "ftp://127.0.0.1/health": want an http:// or https:// URL`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load("testdata/urls/"+tc.file, tc.opts)
			require.Error(t, err)
			assert.Equal(t, tc.want, err.Error())
			assert.NotContains(t, err.Error(), "10.1.2.3", "a value from the environment is a secret")
		})
	}
}
