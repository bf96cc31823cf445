package profiles

import (
	"math"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canaryproj/canary/internal/yamlfile"
)

func parse(t testing.TB, src string) *Profile {
	t.Helper()
	p, err := Parse("p.yaml", []byte(src), yamlfile.Options{})
	require.NoError(t, err, "Parse(%q)", src)
	return p
}

func sec(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

func TestConstantRateDueTimes(t *testing.T) {
	p, err := FromFlags(Flags{Rate: "200/s", Duration: 10 * time.Second})
	require.NoError(t, err)
	n := 0
	for k := uint64(0); ; k++ {
		d, ok := p.Due(k)
		if !ok {
			break
		}
		assert.Less(t, d, 10*time.Second)
		if k%500 == 0 {
			assert.InDelta(t, float64(k)/200, d.Seconds(), 1e-9, "Due(%d)", k)
		}
		n++
	}
	assert.Equal(t, 2000, n, "200/s for 10 s")
	assert.Equal(t, 10*time.Second, p.Duration())
	assert.Equal(t, 200.0, p.Target(3*time.Second))
	assert.Equal(t, 0.0, p.Target(11*time.Second))
	assert.Equal(t, 200.0, p.PeakTarget())
}

func TestRampsHoldAndInverse(t *testing.T) {
	p := parse(t, `
model: open
start: 10
stages:
  - {duration: 10s, target: 110}   # ramp up: 10 → 110
  - {duration: 5s, target: 110}    # hold
  - {duration: 10s, target: 0}     # ramp down to 0
`)
	for _, tc := range []struct {
		t      float64
		target float64
		count  float64
	}{
		{0, 10, 0},
		{5, 60, 10*5 + 10*25/2.0},
		{10, 110, 600},
		{12.5, 110, 600 + 275},
		{15, 110, 1150},
		{20, 55, 1150 + 110*5 - 5.5*25},
		{25, 0, 1700},
		{30, 0, 1700},
	} {
		assert.InDelta(t, tc.target, p.Target(sec(tc.t)), 1e-9, "Target(%vs)", tc.t)
		assert.InDelta(t, tc.count, p.Count(sec(tc.t)), 1e-6, "Count(%vs)", tc.t)
	}
	var prev time.Duration
	n := uint64(0)
	for k := uint64(0); ; k++ {
		d, ok := p.Due(k)
		if !ok {
			break
		}
		require.GreaterOrEqual(t, d, prev, "Due is monotone at %d", k)
		prev = d
		assert.InDelta(t, float64(k), p.Count(d), 1e-5, "Count(Due(%d))", k)
		n++
	}
	assert.Equal(t, uint64(1700), n)
}

func TestZeroRateStretchIsSkipped(t *testing.T) {
	p := parse(t, "stages: [{duration: 10s, target: 0}, {duration: 10s, target: 20}]\n")
	d, ok := p.Due(0)
	require.True(t, ok)
	assert.Equal(t, 10*time.Second, d, "nothing is due while the rate is 0")
	d, ok = p.Due(1)
	require.True(t, ok)
	assert.InDelta(t, 11, d.Seconds(), 1e-9, "count = t²  in the ramp: 1 at t=1")
}

func TestLoop(t *testing.T) {
	p := parse(t, "loop: true\nconstant: {target: 10, duration: 1s}\n")
	assert.Zero(t, p.Duration(), "a looping profile runs forever")
	d, ok := p.Due(25)
	require.True(t, ok)
	assert.InDelta(t, 2.5, d.Seconds(), 1e-9)
	assert.Equal(t, 10.0, p.Target(123*time.Second+400*time.Millisecond))
	assert.InDelta(t, 1234, p.Count(123400*time.Millisecond), 1e-6)

	r := parse(t, "rate: 1/10s\n")
	assert.True(t, r.Loop)
	for _, k := range []uint64{0, 1, 360, 100000} {
		d, ok := r.Due(k)
		require.True(t, ok)
		assert.InDelta(t, float64(k)*10, d.Seconds(), 1e-6, "rate 1/10s Due(%d)", k)
	}
}

func TestShorthands(t *testing.T) {
	spike := parse(t, "spike: {base: 10, peak: 200, at: 5m, hold: 30s, duration: 15m}\n")
	assert.Equal(t, 10.0, spike.Target(4*time.Minute))
	assert.Equal(t, 200.0, spike.Target(5*time.Minute))
	assert.Equal(t, 200.0, spike.Target(5*time.Minute+29*time.Second))
	assert.Equal(t, 10.0, spike.Target(5*time.Minute+30*time.Second))
	assert.Equal(t, 15*time.Minute, spike.Duration())
	assert.InDelta(t, 10*870+200*30, spike.Count(15*time.Minute), 1e-6)

	steps := parse(t, "steps: {from: 10, to: 40, step: 10, every: 1m}\n")
	for i, want := range []float64{10, 20, 30, 40} {
		assert.Equal(t, want, steps.Target(time.Duration(i)*time.Minute+30*time.Second), "level %d", i)
	}
	assert.Equal(t, 4*time.Minute, steps.Duration())
	down := parse(t, "model: closed\nsteps: {from: 30, to: 10, step: 10, every: 10s}\n")
	assert.Equal(t, 30, down.VUs(5*time.Second))
	assert.Equal(t, 10, down.VUs(25*time.Second))

	sine := parse(t, "sine: {min: 10, max: 100, period: 24h, duration: 24h}\n")
	assert.InDelta(t, 10, sine.Target(0), 1e-9)
	assert.InDelta(t, 100, sine.Target(12*time.Hour), 1e-9)
	assert.InDelta(t, 55, sine.Target(6*time.Hour), 1e-9)
	total := sine.Count(24 * time.Hour)
	assert.InDelta(t, 55*86400, total, 1e-3, "the mean rate is (min+max)/2")
	var prev time.Duration
	for k := uint64(0); k < uint64(total); k += 9973 {
		d, ok := sine.Due(k)
		require.True(t, ok)
		require.GreaterOrEqual(t, d, prev)
		prev = d
		assert.InDelta(t, float64(k), sine.Count(d), 1e-3, "sine Count(Due(%d))", k)
	}
	_, ok := sine.Due(uint64(total) + 1)
	assert.False(t, ok)
}

func TestClosedModelVUs(t *testing.T) {
	p := parse(t, "model: closed\nstages: [{duration: 10s, target: 10}, {duration: 10s, target: 10}]\n")
	assert.Equal(t, 0, p.VUs(0))
	assert.Equal(t, 5, p.VUs(5*time.Second))
	assert.Equal(t, 10, p.VUs(15*time.Second))
	_, ok := p.Due(0)
	assert.False(t, ok, "the closed model has no schedule")
	assert.Equal(t, 10.0, p.PeakTarget())
}

func TestSegmentsOpenUnionIsTheWhole(t *testing.T) {
	whole := parse(t, "start: 5\nstages: [{duration: 3s, target: 50}, {duration: 2s, target: 20}]\n")
	type due struct {
		n uint64
		d time.Duration
	}
	var all []due
	for k := uint64(0); ; k++ {
		d, ok := whole.Due(k)
		if !ok {
			break
		}
		all = append(all, due{k, d})
	}
	for _, n := range []int{1, 2, 3, 7} {
		var got []due
		rates := 0.0
		for i := 0; i < n; i++ {
			seg, err := whole.Segment(i, n)
			require.NoError(t, err)
			rates += seg.Target(2 * time.Second)
			for k := uint64(0); ; k++ {
				d, ok := seg.Due(k)
				if !ok {
					break
				}
				got = append(got, due{seg.Number(k), d})
			}
		}
		sort.Slice(got, func(i, j int) bool { return got[i].n < got[j].n })
		assert.Equal(t, all, got, "%d segments together are exactly the whole schedule", n)
		assert.InDelta(t, whole.Target(2*time.Second), rates, 1e-9, "%d segments' rates sum to the whole", n)
	}
}

func TestSegmentsClosedAndIterations(t *testing.T) {
	closed := parse(t, "model: closed\nstages: [{duration: 10s, target: 23}]\n")
	for _, n := range []int{2, 3, 5, 24} {
		for ms := 0; ms <= 10000; ms += 370 {
			at := time.Duration(ms) * time.Millisecond
			sum := 0
			for i := 0; i < n; i++ {
				seg, err := closed.Segment(i, n)
				require.NoError(t, err)
				sum += seg.VUs(at)
			}
			assert.Equal(t, closed.VUs(at), sum, "closed, %d segments at %v", n, at)
		}
	}
	it, err := FromFlags(Flags{Iterations: 10, VUs: 4})
	require.NoError(t, err)
	seen := map[uint64]bool{}
	vus := 0
	for i := 0; i < 3; i++ {
		seg, err := it.Segment(i, 3)
		require.NoError(t, err)
		vus += seg.VUs(0)
		for k := uint64(0); k < seg.Iterations; k++ {
			num := seg.Number(k)
			assert.False(t, seen[num], "iteration %d in two segments", num)
			seen[num] = true
		}
	}
	assert.Len(t, seen, 10)
	for n := uint64(0); n < 10; n++ {
		assert.True(t, seen[n], "iteration %d", n)
	}
	assert.Equal(t, 4, vus, "VUs split exactly")
	_, err = it.Segment(3, 3)
	assert.Error(t, err)
}

func TestFromFlags(t *testing.T) {
	lag := 2 * time.Second
	for _, tc := range []struct {
		name  string
		f     Flags
		model Model
		err   string
	}{
		{"smoke default", Flags{}, Iterations, ""},
		{"rate", Flags{Rate: "100/s", Duration: time.Minute, MaxInflight: 50, MaxLag: &lag}, Open, ""},
		{"vus", Flags{VUs: 50, Duration: time.Minute}, Closed, ""},
		{"iterations", Flags{Iterations: 100, VUs: 5}, Iterations, ""},
		{"rate without duration", Flags{Rate: "1/s"}, Open, "--rate needs --duration"},
		{"rate and vus", Flags{Rate: "1/s", VUs: 2, Duration: time.Second}, Open, "--rate and --vus: the open model (--rate) has no VUs; bound its concurrency with --max-inflight"},
		{"rate and iterations", Flags{Rate: "1/s", Iterations: 2, Duration: time.Second}, Open, "--rate and --iterations: choose one"},
		{"zero rate", Flags{Rate: "0/s", Duration: time.Second}, Open, `rate "0/s": must be above 0`},
		{"vus without duration", Flags{VUs: 3}, Closed, "--vus needs --duration (or --iterations)"},
		{"duration alone", Flags{Duration: time.Second}, Closed, "--duration needs --rate or --vus"},
		{"iterations and duration", Flags{Iterations: 3, Duration: time.Second}, Closed, "--iterations and --duration: choose one (iterations run as fast as --vus allow)"},
		{"bad rate", Flags{Rate: "fast", Duration: time.Second}, Open, `rate "fast": want N/PERIOD like 100/s, 100/1m, 0.5/s or 1/10s`},
	} {
		p, err := FromFlags(tc.f)
		if tc.err != "" {
			assert.EqualError(t, err, tc.err, tc.name)
			continue
		}
		require.NoError(t, err, tc.name)
		assert.Equal(t, tc.model, p.Model, tc.name)
	}
	p, _ := FromFlags(Flags{Rate: "100/s", Duration: time.Minute, MaxInflight: 50, MaxLag: &lag})
	assert.Equal(t, 50, p.MaxInflight)
	assert.Equal(t, lag, p.MaxLag)
	smoke, _ := FromFlags(Flags{})
	assert.Equal(t, uint64(1), smoke.Iterations)
	assert.Equal(t, 1, smoke.VUs(0))
}

func TestParseRate(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want float64
		err  bool
	}{
		{"100/s", 100, false}, {"100/1m", 100.0 / 60, false}, {"0.5/s", 0.5, false}, {"1/10s", 0.1, false},
		{"20", 20, false}, {" 3 / m ", 0.05, false}, {"1/1h", 1.0 / 3600, false},
		{"", 0, true}, {"-1/s", 0, true}, {"1/0s", 0, true}, {"1/parsec", 0, true}, {"NaN/s", 0, true}, {"1e9/s", 0, true},
	} {
		got, err := ParseRate(tc.in)
		if tc.err {
			assert.Error(t, err, "ParseRate(%q)", tc.in)
			continue
		}
		require.NoError(t, err, "ParseRate(%q)", tc.in)
		assert.InDelta(t, tc.want, got, 1e-12, "ParseRate(%q)", tc.in)
	}
}

func TestParseSegment(t *testing.T) {
	i, n, err := ParseSegment("2/4")
	require.NoError(t, err)
	assert.Equal(t, [2]int{1, 4}, [2]int{i, n})
	for _, bad := range []string{"0/4", "5/4", "1/0", "a/b", "3", ""} {
		_, _, err := ParseSegment(bad)
		assert.Error(t, err, "ParseSegment(%q)", bad)
	}
}

func TestDescribe(t *testing.T) {
	p := parse(t, "name: ramp\nstages: [{duration: 30s, target: 100}]\n")
	seg, err := p.Segment(0, 2)
	require.NoError(t, err)
	d := seg.Describe()
	assert.Equal(t, "open", d["model"])
	assert.Equal(t, "1/2", d["segment"])
	assert.Equal(t, "ramp", d["name"])
	assert.Equal(t, "30s", d["duration"])
}

func TestLooping(t *testing.T) {
	p := parse(t, "constant: {target: 4, duration: 1s}\n")
	l := p.Looping()
	assert.False(t, p.Loop, "Looping copies")
	_, ok := l.Due(1000)
	assert.True(t, ok)
	_, ok = p.Due(1000)
	assert.False(t, ok)
}

func BenchmarkDue(b *testing.B) {
	p := parse(b, "stages: [{duration: 30s, target: 100}, {duration: 5m, target: 100}, {duration: 30s, target: 0}]\n")
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, ok := p.Due(uint64(i % 30000)); !ok {
			b.Fatal("past the end")
		}
	}
}

func BenchmarkDueSine(b *testing.B) {
	p := parse(b, "sine: {min: 10, max: 100, period: 1h, duration: 1h}\n")
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, ok := p.Due(uint64(i % 190000)); !ok {
			b.Fatal("past the end")
		}
	}
}

func TestNoNaN(t *testing.T) {
	p := parse(t, "sine: {min: 0, max: 0.001, period: 1s, duration: 10s}\n")
	for ms := 0; ms < 10000; ms += 123 {
		v := p.Count(time.Duration(ms) * time.Millisecond)
		assert.False(t, math.IsNaN(v))
	}
}

func TestWithDuration(t *testing.T) {
	p := parse(t, "rate: 10/s\n").WithDuration(3 * time.Second)
	assert.Equal(t, 3*time.Second, p.Duration())
	n := 0
	for k := uint64(0); ; k++ {
		if _, ok := p.Due(k); !ok {
			break
		}
		n++
	}
	assert.Equal(t, 30, n, "10/s capped at 3 s")
	assert.Equal(t, 0.0, p.Target(4*time.Second))
	assert.Equal(t, false, p.Describe()["loop"])
	it, _ := FromFlags(Flags{Iterations: 5})
	assert.Same(t, it, it.WithDuration(time.Second), "iterations have no duration")
}

func TestConcurrency(t *testing.T) {
	open, err := FromFlags(Flags{Rate: "200/s", Duration: 10 * time.Second, MaxInflight: 37})
	require.NoError(t, err)
	assert.Equal(t, 37, open.Concurrency(), "open: max_inflight")
	closed := parse(t, "model: closed\nstages: [{duration: 10s, target: 5}, {duration: 10s, target: 12}, {duration: 5s, target: 0}]\n")
	assert.Equal(t, 12, closed.Concurrency(), "closed: the peak VUs, not the current or last")
	it, err := FromFlags(Flags{Iterations: 10, VUs: 4})
	require.NoError(t, err)
	assert.Equal(t, 4, it.Concurrency(), "iterations: the workers")
}
