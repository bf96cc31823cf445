package profiles

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canaryproj/canary/internal/membound"
	"github.com/canaryproj/canary/internal/yamlfile"
)

// One file per validation rule, with its exact message (blackbox_exporter
// style).
func TestInvalidProfiles(t *testing.T) {
	want := map[string]string{
		"unknown_key.yaml":      `testdata/invalid/unknown_key.yaml:4:1: unknown key "modle" (did you mean "model"?)`,
		"bad_model.yaml":        `testdata/invalid/bad_model.yaml:1:8: model "sideways": want open or closed`,
		"no_shape.yaml":         `testdata/invalid/no_shape.yaml:1:1: profile has no shape: give stages, or one of rate, constant, spike, sine, steps`,
		"two_shapes.yaml":       `testdata/invalid/two_shapes.yaml:2:11: give one of stages, rate, constant, spike, sine or steps, not stages and constant`,
		"zero_stage.yaml":       `testdata/invalid/zero_stage.yaml:2:16: stage duration must be positive`,
		"negative_target.yaml":  `testdata/invalid/negative_target.yaml:2:28: target -5: want 0..1e+07`,
		"bad_duration.yaml":     `testdata/invalid/bad_duration.yaml:2:16: invalid duration "soon" (use a number and a unit: ms, s, m, h, d)`,
		"missing_duration.yaml": `testdata/invalid/missing_duration.yaml:2:5: missing required key "duration"`,
		"bad_rate.yaml":         `testdata/invalid/bad_rate.yaml:1:7: rate "fast": want N/PERIOD like 100/s, 100/1m, 0.5/s or 1/10s`,
		"closed_rate.yaml":      `testdata/invalid/closed_rate.yaml:2:7: rate is an arrival rate: it needs the open model`,
		"max_inflight.yaml":     `testdata/invalid/max_inflight.yaml:1:15: max_inflight 0: want 1..100000`,
		"closed_max_lag.yaml":   `testdata/invalid/closed_max_lag.yaml:1:8: max_inflight and max_lag belong to the open model; a closed model's concurrency is its VU count`,
		"spike_overflow.yaml":   `testdata/invalid/spike_overflow.yaml:1:42: at (5m0s) + hold (10m0s) must fit in duration (10m0s)`,
		"sine_inverted.yaml":    `testdata/invalid/sine_inverted.yaml:1:22: max (10) must not be below min (50)`,
		"steps_zero.yaml":       `testdata/invalid/steps_zero.yaml:1:32: step must be positive`,
		"loop_never.yaml":       `testdata/invalid/loop_never.yaml:1:1: a looping profile whose rate is always 0 never runs an iteration`,
		"too_long.yaml":         `testdata/invalid/too_long.yaml:2:16: duration 9600h0m0s: at most 8760h0m0s`,
		"many_problems.yaml": strings.Join([]string{
			`testdata/invalid/many_problems.yaml:1:8: expected a number, got "many"`,
			`testdata/invalid/many_problems.yaml:2:7: expected a boolean (true or false), got "sometimes"`,
			`testdata/invalid/many_problems.yaml:4:31: unknown key "extra"`,
		}, "\n"),
	}
	files, err := filepath.Glob("testdata/invalid/*.yaml")
	require.NoError(t, err)
	require.Len(t, files, len(want), "one pinned message per file")
	for _, f := range files {
		_, err := Load(f, yamlfile.Options{})
		msg, ok := want[filepath.Base(f)]
		require.True(t, ok, "no expectation for %s", f)
		if assert.Error(t, err, f) {
			assert.Equal(t, msg, err.Error(), f)
		}
	}
}

func TestExampleProfilesLoad(t *testing.T) {
	files, err := filepath.Glob("../examples/profiles/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		_, err := Load(f, yamlfile.Options{Env: func(string) (string, bool) { return "", false }})
		assert.NoError(t, err, f)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"), yamlfile.Options{})
	require.Error(t, err)
	assert.True(t, os.IsNotExist(errorsUnwrap(err)), "%v", err)
}

func errorsUnwrap(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		err = u.Unwrap()
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"rate: 1/10s\n", "stages: [{duration: 1s, target: 5}]\nstart: 2\nloop: true\n",
		"spike: {base: 1, peak: 9, at: 1s, hold: 1s, duration: 5s}\n", "sine: {min: 1, max: 5, period: 1s, duration: 3s}\n",
		"model: closed\nsteps: {from: 1, to: 9, step: 2, every: 1s}\n", "constant: {target: 0.001, duration: 1h}\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		membound.Check(t, 128*membound.MiB, func() {
			p, err := Parse("f.yaml", []byte(src), yamlfile.Options{})
			if err != nil {
				return
			}
			// A valid profile answers for its first iterations without
			// panicking and monotonically.
			var prev int64 = -1
			for k := uint64(0); k < 50; k++ {
				d, ok := p.Due(k)
				if !ok {
					break
				}
				if int64(d) < prev {
					t.Fatalf("Due not monotone at %d for %q", k, src)
				}
				prev = int64(d)
			}
			_ = p.Target(p.PassDuration() / 2)
			_ = p.Describe()
		})
	})
}

func FuzzParseRate(f *testing.F) {
	for _, s := range []string{"100/s", "1/10s", "0.5/m", "7", "1/1d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		membound.Check(t, 8*membound.MiB, func() {
			r, err := ParseRate(s)
			if err == nil && (r < 0 || r > MaxTarget || r != r) {
				t.Fatalf("ParseRate(%q) = %v", s, r)
			}
		})
	})
}

func FuzzParseSegment(f *testing.F) {
	for _, s := range []string{"1/1", "2/4", " 3 / 10 ", "0/4", "5/4", "1/10000", "-1/2", "1/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		membound.Check(t, 8*membound.MiB, func() {
			i, n, err := ParseSegment(s)
			if err != nil {
				if !strings.HasPrefix(err.Error(), "segment ") {
					t.Fatalf("ParseSegment(%q): error %q does not name the flag's value", s, err)
				}
				return
			}
			if n < 1 || n > 10000 || i < 0 || i >= n {
				t.Fatalf("ParseSegment(%q) = %d, %d: want 0 ≤ i < n ≤ 10000", s, i, n)
			}
			// The profile of a segment is built from it without error.
			p, err := FromFlags(Flags{Rate: "100/s", Duration: 10 * time.Second})
			if err != nil {
				t.Fatalf("FromFlags: %v", err)
			}
			if _, err := p.Segment(i, n); err != nil {
				t.Fatalf("Segment(%d, %d) of %q: %v", i, n, s, err)
			}
		})
	})
}
