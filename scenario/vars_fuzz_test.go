package scenario

import (
	"strings"
	"testing"

	"github.com/canaryproj/canary/internal/membound"
)

// The parser of run's --var flags.
func FuzzParseVars(f *testing.F) {
	for _, s := range []string{"a=1", "base=http://127.0.0.1:8080\nuser=ada", "novalue", "=x", " k = v ", "k=a=b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		membound.Check(t, 8*membound.MiB, func() {
			vars, err := ParseVars(strings.Split(s, "\n"))
			if err != nil {
				return
			}
			for k := range vars {
				if k == "" || k != strings.TrimSpace(k) {
					t.Fatalf("ParseVars(%q): key %q", s, k)
				}
			}
		})
	})
}
