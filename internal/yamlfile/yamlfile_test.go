package yamlfile

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/canaryproj/canary/internal/membound"
	"github.com/canaryproj/canary/redact"
)

type inner struct {
	Timeout time.Duration     `yaml:"timeout"`
	Headers map[string]string `yaml:"headers"`
}

type doc struct {
	Name    string         `yaml:"name" required:"true"`
	Count   int            `yaml:"count"`
	Ratio   float64        `yaml:"ratio"`
	On      bool           `yaml:"on"`
	Tags    []string       `yaml:"tags"`
	Inner   *inner         `yaml:"inner"`
	Body    any            `yaml:"body"`
	Raw     *yaml.Node     `yaml:"raw"`
	Custom  upper          `yaml:"custom"`
	Members map[string]int `yaml:"members"`
}

// upper decodes a scalar and upper-cases it, rejecting "bad".
type upper string

func (u *upper) UnmarshalYAMLNode(d *Decoder, n *yaml.Node) error {
	s, ok := d.Scalar(n, "a word")
	if !ok {
		return nil
	}
	if s == "bad" {
		return errors.New("custom value must not be bad")
	}
	*u = upper(strings.ToUpper(s))
	return nil
}

func decodeDoc(t *testing.T, src string, env map[string]string) (doc, *redact.Set, error) {
	t.Helper()
	n, err := Parse("f.yaml", []byte(src))
	if err != nil {
		return doc{}, nil, err
	}
	secrets := &redact.Set{}
	d := NewDecoder("f.yaml", Options{
		Env:     func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		Secrets: secrets,
	})
	var out doc
	d.Decode(n, &out)
	return out, secrets, d.Err()
}

func TestDecodeValid(t *testing.T) {
	src := `
name: demo
count: 3
ratio: 0.5
on: true
tags: [a, b]
inner: {timeout: 2s, headers: {X: "${TOKEN}"}}
body: {user: "${USER:-anon}", n: 1, ok: false, list: [1, "x"]}
raw: [1, 2]
custom: word
members: {a: 1}
`
	out, secrets, err := decodeDoc(t, src, map[string]string{"TOKEN": "s3cr3t-token"})
	require.NoError(t, err)
	assert.Equal(t, "demo", out.Name)
	assert.Equal(t, 3, out.Count)
	assert.Equal(t, 0.5, out.Ratio)
	assert.True(t, out.On)
	assert.Equal(t, []string{"a", "b"}, out.Tags)
	assert.Equal(t, 2*time.Second, out.Inner.Timeout)
	assert.Equal(t, "s3cr3t-token", out.Inner.Headers["X"])
	assert.Equal(t, map[string]any{"user": "anon", "n": 1, "ok": false, "list": []any{1, "x"}}, out.Body)
	require.NotNil(t, out.Raw)
	assert.Equal(t, yaml.SequenceNode, out.Raw.Kind)
	assert.Equal(t, upper("WORD"), out.Custom)
	assert.Equal(t, "<redacted> and anon", secrets.String("s3cr3t-token and anon"),
		"environment values are secrets, defaults written in the file are not")
}

func TestDecodeReportsEveryProblemWithPosition(t *testing.T) {
	src := `count: many
ratio: [1]
on: maybe
nmae: x
inner:
  timeout: 5 seconds
  extra: 1
body: "${UNSET}"
custom: bad
members: {a: 1, a: 2}
`
	_, _, err := decodeDoc(t, src, nil)
	require.Error(t, err)
	want := []string{
		`f.yaml:1:1: missing required key "name"`,
		`f.yaml:1:8: expected an integer, got "many"`,
		`f.yaml:2:8: expected a number, got a list`,
		`f.yaml:3:5: expected a boolean (true or false), got "maybe"`,
		`f.yaml:4:1: unknown key "nmae" (did you mean "name"?)`,
		`f.yaml:6:12: invalid duration "5 seconds" (use a number and a unit: ms, s, m, h, d)`,
		`f.yaml:7:3: unknown key "extra"`,
		`f.yaml:8:7: environment variable UNSET is not set (write ${UNSET:-default} to give a default)`,
		`f.yaml:9:9: custom value must not be bad`,
		`f.yaml:10:17: duplicate key "a"`,
	}
	assert.Equal(t, strings.Join(want, "\n"), err.Error())
}

func TestParseSyntaxError(t *testing.T) {
	_, err := Parse("bad.yaml", []byte("a: b\n  c: d\n"))
	require.Error(t, err)
	assert.Regexp(t, `^bad\.yaml:\d+:1: `, err.Error())

	_, err = Parse("empty.yaml", []byte("  \n"))
	assert.EqualError(t, err, "empty.yaml:1:1: empty document")
}

func TestParseDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{"0", 0, false},
		{"250ms", 250 * time.Millisecond, false},
		{"1m30s", 90 * time.Second, false},
		{"30d", 30 * 24 * time.Hour, false},
		{"1w", 7 * 24 * time.Hour, false},
		{"1d12h", 36 * time.Hour, false},
		{"10", 0, true},
		{"", 0, true},
		{"-1s", 0, true},
		{"fast", 0, true},
		{"d", 0, true},
	} {
		got, err := ParseDuration(tc.in)
		if tc.err {
			assert.Error(t, err, "ParseDuration(%q)", tc.in)
			continue
		}
		require.NoError(t, err, "ParseDuration(%q)", tc.in)
		assert.Equal(t, tc.want, got, "ParseDuration(%q)", tc.in)
	}
}

// TestParseDurationIsLinear: a number was built up one digit at a time, so
// its cost grew with the square of its length (found by FuzzParseRate: a
// 5,000-digit rate allocated 8.2 MiB; a 1 MiB duration in a YAML file or an
// API body would have allocated hundreds of GB).
func TestParseDurationIsLinear(t *testing.T) {
	for _, tc := range []struct {
		name, in string
	}{
		{"digits then a unit", strings.Repeat("5", 1<<20) + "s"},
		{"digits then days", strings.Repeat("5", 1<<20) + "d"},
		{"digits without a unit", strings.Repeat("5", 1<<20)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			membound.Check(t, 8*membound.MiB, func() {
				_, err := ParseDuration(tc.in)
				require.Error(t, err)
			})
		})
	}
}

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"0", "250ms", "1m30s", "30d", "1w", "1d12h", "10", "-1s", "1.5h", "d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		membound.Check(t, 8*membound.MiB, func() {
			d, err := ParseDuration(s)
			if err == nil && d < 0 {
				t.Fatalf("ParseDuration(%q) = %v", s, d)
			}
		})
	})
}

func TestExpandDollarEscape(t *testing.T) {
	d := NewDecoder("f", Options{Env: func(string) (string, bool) { return "", false }})
	got, ok := d.Expand(nil, "cost: $$5 ${X:-y}")
	require.True(t, ok)
	assert.Equal(t, "cost: $5 y", got)
}

func FuzzDecode(f *testing.F) {
	f.Add("name: x\ncount: 1\n")
	f.Add("inner: {timeout: 1d, headers: {a: b}}\nbody: [1, {a: ${X:-1}}]\n")
	f.Add("a: &x {b: 1}\nc: *x\n<<: *x\n")
	f.Add(bomb(9, 9) + "body: *i\n")
	f.Fuzz(func(t *testing.T, src string) {
		// A document within budget (250,000 values once expanded) costs
		// well under this to decode; more means a path around the budget.
		membound.Check(t, 128*membound.MiB, func() {
			n, err := Parse("f", []byte(src))
			if err != nil {
				return
			}
			d := NewDecoder("f", Options{Env: func(string) (string, bool) { return "v", true }, Secrets: &redact.Set{}})
			var out doc
			d.Decode(n, &out)
			_ = d.Any(n)
			_ = d.Err()
		})
	})
}

// bomb is the alias bomb: anchors a, b, c…, each a list of width
// aliases to the one before, the first a list of width strings.
func bomb(levels, width int) string {
	var b strings.Builder
	for i := range levels {
		name := string(rune('a' + i))
		item := `"x"`
		if i > 0 {
			item = "*" + string(rune('a'+i-1))
		}
		fmt.Fprintf(&b, "%s: &%s [%s]\n", name, name, strings.TrimSuffix(strings.Repeat(item+",", width), ","))
	}
	return b.String()
}

// TestExpansionBudget decodes documents at and over the budget. Before the
// budget, the nine-level bomb grew `canary validate` to 24 GB: each case
// runs under a memory bound, so that a regression fails here instead of
// exhausting the machine.
func TestExpansionBudget(t *testing.T) {
	for _, tc := range []struct {
		name    string
		src     string
		wantErr string
	}{
		{
			name:    "the issue's bomb: nine anchors of nine aliases (436 bytes)",
			src:     bomb(9, 9),
			wantErr: "f.yaml:6:14: alias *e: with its aliases expanded the document has more than 250000 values (each use of an alias counts every value under its anchor); write the values out or use fewer levels of aliases",
		},
		{
			name:    "the bomb as a value decoded into any",
			src:     bomb(9, 9) + "body: *i\n",
			wantErr: "f.yaml:6:14: alias *e",
		},
		{
			name: "merge keys repeated at every level",
			src: "a: &a {x: 1, y: 2, z: 3}\n" +
				"b: &b {<<: *a, <<: *a, <<: *a, <<: *a, <<: *a, <<: *a, <<: *a, <<: *a}\n" +
				"c: &c {<<: *b, <<: *b, <<: *b, <<: *b, <<: *b, <<: *b, <<: *b, <<: *b}\n" +
				"d: &d {<<: *c, <<: *c, <<: *c, <<: *c, <<: *c, <<: *c, <<: *c, <<: *c}\n" +
				"e: &e {<<: *d, <<: *d, <<: *d, <<: *d, <<: *d, <<: *d, <<: *d, <<: *d}\n" +
				"f: &f {<<: *e, <<: *e, <<: *e, <<: *e, <<: *e, <<: *e, <<: *e, <<: *e}\n" +
				"inner: {<<: *f}\n",
			wantErr: "f.yaml:6:60: alias *e",
		},
		{
			// Found by FuzzDecode: yaml.v3 builds the cycle, and walking it
			// overflowed the stack.
			name:    "an alias inside its own anchor's value",
			src:     "0: &c [0,0,*c,*c,*c,*c,*c]\n",
			wantErr: "f.yaml:1:12: alias *c is part of the value it refers to, which would never end",
		},
		{
			name:    "too many values without any alias",
			src:     "tags: [" + strings.Repeat("1,", 250_000) + "1]\n",
			wantErr: "f.yaml:1:500002: the document has more than 250000 values, the limit",
		},
		{
			name:    "a file over the size limit",
			src:     "name: x\n#" + strings.Repeat("x", 1<<20),
			wantErr: "f.yaml:1:1: the file is 1048585 bytes, more than the 1 MiB a YAML file may be",
		},
		{
			name: "aliases within budget",
			src:  bomb(5, 9) + "name: x\ninner: &in {timeout: 2s}\nbody: *d\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			membound.Check(t, 192*membound.MiB, func() {
				_, _, err := decodeDocLoose(t, tc.src)
				if tc.wantErr == "" {
					require.NoError(t, err)
					return
				}
				require.ErrorContains(t, err, tc.wantErr)
			})
		})
	}
}

// decodeDocLoose decodes src into a doc that accepts any keys, so that the
// test documents need not match doc's schema.
func decodeDocLoose(t *testing.T, src string) (map[string]any, *Decoder, error) {
	t.Helper()
	n, err := Parse("f.yaml", []byte(src))
	if err != nil {
		return nil, nil, err
	}
	d := NewDecoder("f.yaml", Options{Env: func(string) (string, bool) { return "", false }, Secrets: &redact.Set{}})
	var out map[string]any
	d.Decode(n, &out)
	return out, d, d.Err()
}

// TestDecoderBudgetWithoutParse decodes trees that did not go through
// Parse: the decoder's own count stops them.
func TestDecoderBudgetWithoutParse(t *testing.T) {
	for _, tc := range []struct {
		name    string
		src     string
		into    func(d *Decoder, n *yaml.Node)
		wantErr string
	}{
		{
			name:    "Any",
			src:     bomb(9, 9) + "body: *i\n",
			into:    func(d *Decoder, n *yaml.Node) { d.Any(n) },
			wantErr: "f.yaml:7:8: alias *f: decoding it passes 1000000 values, the limit for one file",
		},
		{
			name: "struct with an any field",
			src:  bomb(9, 9) + "body: *i\n",
			into: func(d *Decoder, n *yaml.Node) {
				var out struct {
					Body any `yaml:"body"`
				}
				d.Decode(Child(n, "body"), &out.Body)
			},
			wantErr: "f.yaml:10:7: alias *i: decoding it passes 1000000 values, the limit for one file",
		},
		{
			name:    "an alias inside its own anchor's value",
			src:     "a: &c [0, {b: *c}]\n",
			into:    func(d *Decoder, n *yaml.Node) { d.Any(n) },
			wantErr: "f.yaml:1:15: alias *c: aliases nested more than 100 deep (is one part of the value it refers to?)",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var doc yaml.Node
			require.NoError(t, yaml.Unmarshal([]byte(tc.src), &doc))
			membound.Check(t, 192*membound.MiB, func() {
				d := NewDecoder("f.yaml", Options{})
				tc.into(d, doc.Content[0])
				require.ErrorContains(t, d.Err(), tc.wantErr)
			})
		})
	}
}

func TestErrorsAreBounded(t *testing.T) {
	src := strings.Repeat("- {name: x, count: many}\n", 3000)
	n, err := Parse("f.yaml", []byte(src))
	require.NoError(t, err)
	d := NewDecoder("f.yaml", Options{})
	var out []doc
	d.Decode(n, &out)
	errs := strings.Split(d.Err().Error(), "\n")
	require.Len(t, errs, maxErrors+1)
	require.Equal(t, "f.yaml: 2000 more problems not shown", errs[maxErrors])
}
