// Package envfile reads `--env-file` files (KEY=VALUE lines, # comments,
// an optional `export ` and optional quotes) and layers them over the
// process environment, which is where every ${VAR} of a scenario, profile or
// config is looked up.
package envfile

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/canaryproj/canary/internal/limits"
)

// MaxBytes bounds an env file: past it, reading is an error rather than a
// file cut short without a word.
const MaxBytes = limits.MaxFileBytes

// Lookup finds a variable; ok is false when it is not set.
type Lookup func(key string) (value string, ok bool)

// Layer returns base with the file at path over it: the file's values win.
// An empty path is base itself.
func Layer(base Lookup, path string) (Lookup, error) {
	if path == "" {
		return base, nil
	}
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--env-file: %w", err)
	}
	defer fh.Close()
	vals, err := Parse(path, fh)
	if err != nil {
		return nil, err
	}
	return func(k string) (string, bool) {
		if v, ok := vals[k]; ok {
			return v, true
		}
		return base(k)
	}, nil
}

// Parse reads KEY=VALUE lines from r (at most MaxBytes); name is the file
// errors name, with the line.
func Parse(name string, r io.Reader) (map[string]string, error) {
	vals := map[string]string{}
	sc := bufio.NewScanner(limits.Reader(r, MaxBytes, name))
	line := 0
	for sc.Scan() {
		line++
		t := strings.TrimSpace(sc.Text())
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		t = strings.TrimPrefix(t, "export ")
		k, v, ok := strings.Cut(t, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			return nil, fmt.Errorf("%s:%d:1: want KEY=VALUE", name, line)
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' && v[len(v)-1] == '"' || v[0] == '\'' && v[len(v)-1] == '\'') {
			v = v[1 : len(v)-1]
		}
		vals[k] = v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("--env-file %s: %w", name, err)
	}
	return vals, nil
}
