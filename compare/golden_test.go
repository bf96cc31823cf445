package compare

import (
	"encoding/json"
	"math"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The goldens are SciPy's results for fixed inputs, computed from the raw
// samples by scripts/compare-goldens.py (regenerate with
// `/usr/bin/python3 scripts/compare-goldens.py > compare/testdata/scipy-goldens.json`).
func readGoldens(t *testing.T) (mw, hl, props []map[string]json.RawMessage) {
	t.Helper()
	data, err := os.ReadFile("testdata/scipy-goldens.json")
	require.NoError(t, err)
	var doc struct {
		MannWhitney   []map[string]json.RawMessage `json:"mann_whitney"`
		HodgesLehmann []map[string]json.RawMessage `json:"hodges_lehmann"`
		Proportions   []map[string]json.RawMessage `json:"proportions"`
	}
	require.NoError(t, json.Unmarshal(data, &doc))
	require.NotEmpty(t, doc.MannWhitney)
	require.Len(t, doc.HodgesLehmann, len(doc.MannWhitney))
	require.NotEmpty(t, doc.Proportions)
	return doc.MannWhitney, doc.HodgesLehmann, doc.Proportions
}

func field[T any](t *testing.T, m map[string]json.RawMessage, key string) T {
	t.Helper()
	raw, ok := m[key]
	require.True(t, ok, "golden %s has no %q", m["name"], key)
	var v T
	require.NoError(t, json.Unmarshal(raw, &v), "golden %s %q", m["name"], key)
	return v
}

func sampleOf(bins [][2]int64) Sample {
	s := make(Sample, len(bins))
	for i, b := range bins {
		s[i] = Bin{Value: b[0], Count: b[1]}
	}
	return s
}

// assertClose checks got against SciPy's want to 1e-9 relative (1e-300
// absolute, for p-values that underflow the same way).
func assertClose(t *testing.T, want, got float64, msg string, args ...any) {
	t.Helper()
	if want == got {
		return
	}
	assert.LessOrEqual(t, math.Abs(got-want), 1e-9*math.Abs(want)+1e-300, append([]any{msg + ": got %v, want %v"}, append(args, got, want)...)...)
}

func TestMannWhitneyAgainstSciPy(t *testing.T) {
	mws, _, _ := readGoldens(t)
	for _, g := range mws {
		name := field[string](t, g, "name")
		x, y := sampleOf(field[[][2]int64](t, g, "x")), sampleOf(field[[][2]int64](t, g, "y"))
		for _, tc := range []struct {
			key   string
			alt   Alternative
			exact bool
		}{
			{"two-sided/auto", TwoSided, true},
			{"greater/auto", Greater, true},
			{"two-sided/asymptotic", TwoSided, false},
			{"greater/asymptotic", Greater, false},
		} {
			t.Run(name+"/"+tc.key, func(t *testing.T) {
				want := field[struct{ U, P float64 }](t, g, tc.key)
				got, err := mannWhitney(x, y, tc.alt, tc.exact)
				require.NoError(t, err)
				assert.Equal(t, want.U, got.U, "U of %s", name)
				assertClose(t, want.P, got.P, "p-value of %s %s", name, tc.key)
			})
		}
	}
}

func TestHodgesLehmannAgainstSciPy(t *testing.T) {
	mws, hls, _ := readGoldens(t)
	for i, g := range hls {
		name := field[string](t, g, "name")
		require.Equal(t, name, field[string](t, mws[i], "name"))
		x, y := sampleOf(field[[][2]int64](t, mws[i], "x")), sampleOf(field[[][2]int64](t, mws[i], "y"))
		for _, conf := range []struct {
			key   string
			level float64
		}{{"interval/0.95", 0.95}, {"interval/0.9", 0.9}} {
			t.Run(name+"/"+conf.key, func(t *testing.T) {
				got, err := HodgesLehmann(x, y, conf.level)
				require.NoError(t, err)
				assert.Equal(t, field[float64](t, g, "estimate"), got.Estimate, "estimate of %s", name)
				want := field[[2]float64](t, g, conf.key)
				assert.Equal(t, want, [2]float64{got.Low, got.High}, "%s of %s", conf.key, name)
			})
		}
	}
}

func TestProportionsAgainstSciPy(t *testing.T) {
	_, _, props := readGoldens(t)
	for _, g := range props {
		name := field[string](t, g, "name")
		xk, xn := field[int64](t, g, "xk"), field[int64](t, g, "xn")
		yk, yn := field[int64](t, g, "yk"), field[int64](t, g, "yn")
		t.Run(name, func(t *testing.T) {
			for _, conf := range []struct {
				key   string
				level float64
			}{{"0.95", 0.95}, {"0.9", 0.9}} {
				wilson := field[[2][2]float64](t, g, "wilson/"+conf.key)
				lo, hi := Wilson(xk, xn, conf.level)
				assertClose(t, wilson[0][0], lo, "Wilson low of %d/%d at %s", xk, xn, conf.key)
				assertClose(t, wilson[0][1], hi, "Wilson high of %d/%d at %s", xk, xn, conf.key)
				lo, hi = Wilson(yk, yn, conf.level)
				assertClose(t, wilson[1][0], lo, "Wilson low of %d/%d at %s", yk, yn, conf.key)
				assertClose(t, wilson[1][1], hi, "Wilson high of %d/%d at %s", yk, yn, conf.key)

				newcombe := field[[2]float64](t, g, "newcombe/"+conf.key)
				lo, hi = NewcombeInterval(xk, xn, yk, yn, conf.level)
				assertClose(t, newcombe[0], lo, "Newcombe low at %s", conf.key)
				assertClose(t, newcombe[1], hi, "Newcombe high at %s", conf.key)
			}
			if _, ok := g["z"]; ok {
				z, p := ZTest(xk, xn, yk, yn, TwoSided)
				assertClose(t, field[float64](t, g, "z"), z, "z")
				assertClose(t, field[float64](t, g, "z/two-sided"), p, "z-test two-sided p")
				_, p = ZTest(xk, xn, yk, yn, Greater)
				assertClose(t, field[float64](t, g, "z/greater"), p, "z-test one-sided p")
			}
			for _, alt := range []struct {
				key string
				alt Alternative
			}{{"fisher/two-sided", TwoSided}, {"fisher/greater", Greater}} {
				p, err := FisherExact(xk, xn, yk, yn, alt.alt)
				require.NoError(t, err)
				assertClose(t, field[float64](t, g, alt.key), p, alt.key)
			}
		})
	}
}
