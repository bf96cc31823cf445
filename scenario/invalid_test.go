package scenario

import (
	"bytes"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canaryproj/canary/internal/membound"
)

// One file per validation rule with its exact message(s) pinned, in the
// blackbox_exporter style: a change to a message is a visible change here.
func TestInvalidScenarios(t *testing.T) {
	want := map[string][]string{
		"bad_body_regex.yaml": {
			"testdata/invalid/bad_body_regex.yaml:5:29: step \"a\" body_matches: bad regular expression \"[a-\": missing closing ]: `[a-`",
		},
		"bad_capture_kind.yaml": {
			`testdata/invalid/bad_capture_kind.yaml:5:21: step "a" capture tok: unknown kind "xpath" (want json, header or regex)`,
		},
		"bad_duration.yaml": {
			`testdata/invalid/bad_duration.yaml:4:50: invalid duration "2": missing unit (e.g. 2s)`,
		},
		"bad_expr.yaml": {
			`testdata/invalid/bad_expr.yaml:5:20: step "a" expr: unexpected token EOF (1:10)`,
		},
		"bad_header_regex.yaml": {
			"testdata/invalid/bad_header_regex.yaml:5:38: step \"a\" expect header Content-Type: bad regular expression \"applic(ation\": missing closing ): `applic(ation`",
		},
		"bad_json_op.yaml": {
			`testdata/invalid/bad_json_op.yaml:5:29: step "a" json total: unknown operator "greater" (want one of exists, equals, gt, gte, lt, lte, contains, matches, len)`,
		},
		"bad_json_path.yaml": {
			`testdata/invalid/bad_json_path.yaml:5:21: step "a" expect json: path "items.#(id==1": unbalanced '('`,
		},
		"bad_max_body.yaml": {
			`testdata/invalid/bad_max_body.yaml:2:22: max_body "lots": want a size like 10MiB, 512KiB or a number of bytes`,
		},
		"bad_method.yaml": {
			`testdata/invalid/bad_method.yaml:3:33: method "GE T": want an HTTP method like GET or POST`,
		},
		"bad_name.yaml": {
			`testdata/invalid/bad_name.yaml:1:7: name "Checkout!": use lower-case letters, digits, '-' and '_', starting with a letter or digit`,
		},
		"bad_slo.yaml": {
			`testdata/invalid/bad_slo.yaml:5:5: slo "errors<1": value "1": a ratio needs a %: errors<1% is 1 percent, errors<100% is the fraction 1`,
			`testdata/invalid/bad_slo.yaml:6:5: slo "p99(b)<1s": the scenario has no step "b" (steps: a)`,
			`testdata/invalid/bad_slo.yaml:7:12: slo "p99(region=us) < 1s": no step has region=us (steps a: method=GET, region=eu)`,
			`testdata/invalid/bad_slo.yaml:8:43: invalid duration "-1s": must not be negative`,
		},
		"bad_status.yaml": {
			`testdata/invalid/bad_status.yaml:5:22: status "700": want a code between 100 and 599 or a class like "2xx"`,
		},
		"bad_status_class.yaml": {
			`testdata/invalid/bad_status_class.yaml:5:22: status "2zz": want a code between 100 and 599 or a class like "2xx"`,
		},
		"bad_tag.yaml": {
			`testdata/invalid/bad_tag.yaml:3:30: step "a" tag "method": method, status and step are filters of their own, not tags`,
			`testdata/invalid/bad_tag.yaml:3:43: step "a" tag region "e u": want a non-empty value of at most 100 characters without spaces, ',', '(', ')', '=', '<' or '>'`,
		},
		"bad_template.yaml": {
			`testdata/invalid/bad_template.yaml:4:20: step "a" url: bad template: unclosed action`,
		},
		"bad_think_time.yaml": {
			`testdata/invalid/bad_think_time.yaml:2:13: think_time "500ms-100ms": the range's minimum is above its maximum`,
		},
		"bad_url.yaml": {
			`testdata/invalid/bad_url.yaml:3:30: url "ftp://127.0.0.1/": want an http:// or https:// URL`,
		},
		"capture_two_groups.yaml": {
			`testdata/invalid/capture_two_groups.yaml:5:27: step "a" capture id: regex "(a)(b)" has 2 groups; give one group (its match is captured) or none (the whole match is)`,
		},
		"duplicate_step.yaml": {
			`testdata/invalid/duplicate_step.yaml:4:12: duplicate step name "a"`,
		},
		"expr_repeat.yaml": {
			`testdata/invalid/expr_repeat.yaml:5:20: step "a" expr: unknown name repeat (1:5)`,
		},
		"expr_not_bool.yaml": {
			`testdata/invalid/expr_not_bool.yaml:5:20: step "a" expr: expected bool, but got int`,
		},
		"later_capture.yaml": {
			`testdata/invalid/later_capture.yaml:5:62: step "a" header Authorization: {{ .token }} is captured only by a later step (step "b"); a step can use what earlier steps captured`,
		},
		"many_problems.yaml": {
			`testdata/invalid/many_problems.yaml:2:1: unknown key "nmae" (did you mean "name"?)`,
			`testdata/invalid/many_problems.yaml:3:21: invalid duration "soon" (use a number and a unit: ms, s, m, h, d)`,
			`testdata/invalid/many_problems.yaml:6:20: step "a" url: {{ .nope }} is not defined by any var, --var, data column or capture`,
			`testdata/invalid/many_problems.yaml:7:22: status "999": want a code between 100 and 599 or a class like "2xx"`,
		},
		"max_body_nan.yaml": {
			`testdata/invalid/max_body_nan.yaml:2:22: max_body "NaN": want a size like 10MiB, 512KiB or a number of bytes`,
		},
		"max_body_under_a_byte.yaml": {
			`testdata/invalid/max_body_under_a_byte.yaml:2:22: max_body "0.0001KiB": at least 1 byte`,
		},
		"missing_data.yaml": {
			`testdata/invalid/missing_data.yaml:2:7: data nothere.csv: no such file or directory`,
		},
		"missing_name.yaml": {
			`testdata/invalid/missing_name.yaml:1:1: missing required key "name"`,
		},
		"missing_step_name.yaml": {
			`testdata/invalid/missing_step_name.yaml:3:5: missing required key "name"`,
		},
		"missing_tls_file.yaml": {
			`testdata/invalid/missing_tls_file.yaml:2:27: tls ca_file nothere.pem: no such file or directory`,
		},
		"missing_url.yaml": {
			`testdata/invalid/missing_url.yaml:4:14: missing required key "url"`,
		},
		"no_steps.yaml": {
			`testdata/invalid/no_steps.yaml:2:8: steps: give at least one step`,
		},
		"ragged_data.yaml": {
			`testdata/invalid/ragged_data.yaml:2:7: data ragged.csv: record on line 3: wrong number of fields`,
		},
		"two_bodies.yaml": {
			`testdata/invalid/two_bodies.yaml:4:47: give one of json, body or form, not json and body`,
		},
		"undefined_var.yaml": {
			`testdata/invalid/undefined_var.yaml:4:20: step "a" url: {{ .base }} is not defined by any var, --var, data column or capture`,
		},
		"unknown_function.yaml": {
			`testdata/invalid/unknown_function.yaml:4:20: step "a" url: bad template: function "nope" not defined`,
		},
		"unknown_key.yaml": {
			`testdata/invalid/unknown_key.yaml:3:5: missing required key "request"`,
			`testdata/invalid/unknown_key.yaml:4:5: unknown key "requset" (did you mean "request"?)`,
		},
		"unset_env.yaml": {
			`testdata/invalid/unset_env.yaml:2:12: environment variable CANARY_TEST_UNSET_PASSWORD is not set (write ${CANARY_TEST_UNSET_PASSWORD:-default} to give a default)`,
		},
	}
	files, err := filepath.Glob("testdata/invalid/*.yaml")
	require.NoError(t, err)
	require.Len(t, files, len(want), "one pinned expectation per file")
	for _, f := range files {
		msgs, ok := want[filepath.Base(f)]
		require.True(t, ok, "no expectation for %s", f)
		_, err := Load(f, LoadOptions{})
		if assert.Error(t, err, f) {
			assert.Equal(t, strings.Join(msgs, "\n"), err.Error(), f)
		}
	}
}

func TestExampleScenariosLoad(t *testing.T) {
	files, err := filepath.Glob("../examples/*.yaml")
	require.NoError(t, err)
	n := 0
	for _, f := range files {
		if filepath.Base(f) == "canary.yaml" {
			continue // the daemon config
		}
		n++
		_, err := Load(f, LoadOptions{})
		assert.NoError(t, err, f)
	}
	assert.GreaterOrEqual(t, n, 3)
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"name: a\nsteps:\n  - {name: s, request: {url: \"http://127.0.0.1/\"}}\n",
		"name: a\nvars: {b: \"{{ vu }}\"}\nsteps:\n  - name: s\n    request: {method: POST, url: \"http://h/{{ .b }}\", json: {a: [1, \"{{ .b }}\"]}}\n    expect: {status: [200, \"3xx\"], json: {a.#: {gte: 1}}, expr: 'status == 200'}\n    capture: {t: {regex: 'x(\\d)'}}\n",
		"name: a\nthink_time: 1ms-2ms\nsteps: [{name: s, request: {url: \"{{ .x }}\"}}]\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		// The budget of a document (250,000 values, 5,000 templates) keeps
		// the worst within-budget scenario near 80 MB of allocation.
		membound.Check(t, 128*membound.MiB, func() {
			s, err := Parse("f.yaml", []byte(src), LoadOptions{})
			if err != nil {
				if !strings.HasPrefix(err.Error(), "f.yaml:") {
					t.Fatalf("error without a position: %v", err)
				}
				return
			}
			_ = s.StaticHosts()
			_ = s.StepNames()
		})
	})
}

func FuzzTemplate(f *testing.F) {
	for _, s := range []string{"{{ .a }}", "x{{ vu }}-{{ iteration }}", "{{ randInt 1 5 }}", "{{ randString 3 }}{{ base64 .a }}", "{{ if .a }}y{{ end }}", "{{ now }} {{ unix }} {{ uuid }}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		// Rendering runs once per request: its allocation must stay small
		// whatever the template (randString and randInt are bounded).
		membound.Check(t, 32*membound.MiB, func() {
			src := "name: a\nvars: {a: v}\nsteps:\n  - {name: s, request: {url: \"http://127.0.0.1/\", headers: {X: " + quote(text) + "}}}\n"
			s, err := Parse("f.yaml", []byte(src), LoadOptions{})
			if err != nil {
				return
			}
			st := s.Steps[0]
			data := map[string]string{"a": "v", keyIteration: "1", keyVU: "2"}
			var buf bytesBuffer
			for _, h := range st.headers {
				_, _ = h.t.render(&buf.b, data) // errors are fine; panics are not
			}
		})
	})
}

type bytesBuffer struct{ b bytes.Buffer }

func quote(s string) string { return strconv.Quote(s) }
