package scenario

import (
	"strings"
	"testing"
	"time"

	"github.com/canaryproj/canary/internal/membound"
	"github.com/canaryproj/canary/transport"
)

// FuzzExpr compiles an expect.expr assertion and evaluates it against an
// answer, as each response of a step would be: whatever the expression,
// one evaluation stays within a small memory budget.
func FuzzExpr(f *testing.F) {
	for _, s := range []string{
		`status == 200`,
		`status == 200 && json.user.name != ""`,
		`headers["content-type"] startsWith "application/json" && latency < 300`,
		`len(json.items) >= 1 && all(json.items, # > 0)`,
		`body contains "token" || vars.a == "v"`,
		`len(map(1..1000, # * 2)) == 1000`,
		`string(1..999999) != ""`,
		`len(repeat(body, 100000)) > 0`,
		`count(json.items, # > 1) == 2 and none(json.items, # > 9)`,
	} {
		f.Add(s)
	}
	resp := &transport.Response{
		Status: 200,
		Header: []transport.Header{{Name: "Content-Type", Value: "application/json"}},
		Body:   []byte(`{"user":{"name":"ada","id":7},"items":[1,2,3],"token":"t"}`),
	}
	f.Fuzz(func(t *testing.T, text string) {
		membound.Check(t, 32*membound.MiB, func() {
			src := "name: a\nvars: {a: v}\nsteps:\n  - name: s\n    request: {url: \"http://127.0.0.1/\"}\n    expect: {expr: " + quote(text) + "}\n"
			s, err := Parse("f.yaml", []byte(src), LoadOptions{})
			if err != nil {
				return
			}
			_, _, _ = s.Steps[0].expect.check(resp, 3*time.Millisecond, map[string]string{"a": "v"})
		})
	})
}

// FuzzDataCSV reads a scenario's data file.
func FuzzDataCSV(f *testing.F) {
	for _, s := range []string{
		"user,password\nada,x\nbob,y\n",
		"a\n1\n2\n",
		"a,b\n\"q,uoted\",\"multi\nline\"\n",
		"a,a\n1,2\n",
		"a,b\n1\n",
		"9bad\n1\n",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		membound.Check(t, 32*membound.MiB, func() {
			fd, err := readCSV(strings.NewReader(src))
			if err != nil {
				return
			}
			if len(fd.columns) == 0 || len(fd.rows) == 0 || len(fd.rows) > MaxDataRows {
				t.Fatalf("readCSV(%q): %d columns, %d rows", src, len(fd.columns), len(fd.rows))
			}
			for i, r := range fd.rows {
				if len(r) != len(fd.columns) {
					t.Fatalf("readCSV(%q): row %d has %d fields for %d columns", src, i, len(r), len(fd.columns))
				}
			}
		})
	})
}

// FuzzParseByteSize reads defaults.max_body.
func FuzzParseByteSize(f *testing.F) {
	for _, s := range []string{"10MiB", "512KiB", "1MB", "2048", "1.5GiB", "0", "-1KB", "1e3B", "NaN", "Inf", "1e-9"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		membound.Check(t, 8*membound.MiB, func() {
			v, err := parseByteSize(s)
			if err == nil && (v < 1 || v > MaxBodyLimit) {
				t.Fatalf("parseByteSize(%q) = %d: want 1 byte .. 1 GiB or an error", s, v)
			}
		})
	})
}
