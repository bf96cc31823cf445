package envfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/canaryproj/canary/internal/membound"
)

func FuzzEnvFile(f *testing.F) {
	for _, s := range []string{
		"A=1\nB=two\n",
		"# comment\n\nexport TOKEN='s3cr3t'\nQUOTED=\"a b\"\n",
		"NOEQUALS\n",
		"=value\n",
		"K=\"unterminated\n",
		"SPACE IN KEY=1\n",
		"A=" + strings.Repeat("x", 70000) + "\n",
	} {
		f.Add(s)
	}
	path := filepath.Join(f.TempDir(), "env")
	base := func(k string) (string, bool) {
		if k == "FROM_PROCESS" {
			return "p", true
		}
		return "", false
	}
	f.Fuzz(func(t *testing.T, src string) {
		if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
		membound.Check(t, 16*membound.MiB, func() {
			env, err := Layer(base, path)
			if err != nil {
				if strings.Contains(err.Error(), src) && len(src) > 8 {
					t.Fatalf("the error quotes the file: %v", err)
				}
				return
			}
			if v, ok := env("FROM_PROCESS"); !ok || (v != "p" && !strings.Contains(src, "FROM_PROCESS")) {
				t.Fatalf("the process environment is lost under the file: %q, %v", v, ok)
			}
		})
	})
}
