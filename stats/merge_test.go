package stats

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// segmentReport is degradingReport as segment seg ("2/4") of a run, read
// back from its JSON as a saved report would be.
func segmentReport(t *testing.T, seg string, seed uint64) *Report {
	t.Helper()
	r := degradingReport(t, t0, seed)
	r.Profile = map[string]any{"model": "open", "duration": "6s"}
	if seg != "" {
		r.Profile.(map[string]any)["segment"] = seg
	}
	var b bytes.Buffer
	require.NoError(t, json.NewEncoder(&b).Encode(r))
	back, err := ReadReport(&b)
	require.NoError(t, err)
	return back
}

func TestReportSegment(t *testing.T) {
	for _, tc := range []struct {
		segment any
		i, n    int
		ok      bool
	}{
		{"2/4", 2, 4, true},
		{"1/1", 1, 1, true},
		{nil, 0, 0, false},
		{"merged 4/4", 0, 0, false},
		{"0/4", 0, 0, false},
		{"5/4", 0, 0, false},
		{"+2/4", 0, 0, false},
		{"2/4x", 0, 0, false},
		{2, 0, 0, false},
	} {
		r := &Report{Profile: map[string]any{"segment": tc.segment}}
		i, n, ok := r.Segment()
		assert.Equal(t, []any{tc.i, tc.n, tc.ok}, []any{i, n, ok}, "segment %v", tc.segment)
	}
	i, n, ok := (&Report{Profile: "not a map"}).Segment()
	assert.Equal(t, []any{0, 0, false}, []any{i, n, ok})
}

func TestMergedProfileSaysWhatItIsMadeOf(t *testing.T) {
	for _, tc := range []struct {
		name     string
		segments []string
		want     any // the merged profile's segment; nil: none
	}{
		{"every segment", []string{"1/3", "2/3", "3/3"}, "merged 3/3"},
		{"some segments", []string{"1/4", "3/4"}, "merged 2/4"},
		{"segments of different runs", []string{"1/2", "1/3"}, nil},
		{"whole runs", []string{"", ""}, nil},
		{"a segment and a whole run", []string{"1/2", ""}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var rs []*Report
			for k, s := range tc.segments {
				rs = append(rs, segmentReport(t, s, uint64(k+1)))
			}
			m, err := MergeReports(rs...)
			require.NoError(t, err)
			assert.Equal(t, tc.want, m.Profile.(map[string]any)["segment"])
			assert.Equal(t, "open", m.Profile.(map[string]any)["model"], "the rest of the profile is the first report's")
			assert.Equal(t, tc.segments[0], orEmpty(rs[0].Profile.(map[string]any)["segment"]), "the parts are left as they were")
		})
	}
}

func orEmpty(v any) any {
	if v == nil {
		return ""
	}
	return v
}

func TestMergeIsAbortedWhenAPartIs(t *testing.T) {
	a, b := segmentReport(t, "1/2", 1), segmentReport(t, "2/2", 2)
	m, err := MergeReports(a, b)
	require.NoError(t, err)
	assert.False(t, m.Aborted)
	b.Aborted = true
	m, err = MergeReports(a, b)
	require.NoError(t, err)
	assert.True(t, m.Aborted, "a part cut short leaves the merge short too")
}

func TestMergeGeneratorFigures(t *testing.T) {
	lag := func(t *testing.T, r *Report, values ...int64) {
		h := NewHistogram()
		for _, v := range values {
			require.NoError(t, h.RecordValue(v))
		}
		var err error
		r.Generator.HDR, err = EncodeHistogram(h)
		require.NoError(t, err)
	}
	a, b := segmentReport(t, "1/2", 1), segmentReport(t, "2/2", 2)
	a.Generator.Due, a.Generator.BehindPct = 100, 0
	b.Generator.Due, b.Generator.BehindPct = 300, 4
	lag(t, a, 1000, 1000, 1000)
	lag(t, b, 2000, 50000)
	m, err := MergeReports(a, b)
	require.NoError(t, err)
	assert.Equal(t, int64(400), m.Generator.Due, "due iterations add up")
	assert.Equal(t, 3.0, m.Generator.BehindPct, "12 of the 400 due were not started")
	s, err := m.Snapshot()
	require.NoError(t, err)
	assert.Equal(t, int64(5), s.Lag.TotalCount(), "every segment's lag samples")
	assert.Equal(t, Millis(s.Lag.ValueAtQuantile(99)), m.Generator.LagP99Ms)

	// Reports without these figures: the worst segment's.
	a.Generator.HDR, a.Generator.Due, a.Generator.LagP99Ms = "", 0, 7
	b.Generator.HDR, b.Generator.LagP99Ms = "", 3
	m, err = MergeReports(a, b)
	require.NoError(t, err)
	assert.Equal(t, 7.0, m.Generator.LagP99Ms)
	assert.Equal(t, 4.0, m.Generator.BehindPct)
	assert.Zero(t, m.Generator.Due)
}

func TestReadReportChecksTheGeneratorHistogram(t *testing.T) {
	r := segmentReport(t, "", 1)
	h := NewHistogram()
	require.NoError(t, h.RecordValues(100, r.Iterations.Success+r.Iterations.Failure+1))
	var err error
	r.Generator.HDR, err = EncodeHistogram(h)
	require.NoError(t, err)
	data, err := json.Marshal(r)
	require.NoError(t, err)
	_, err = ReadReport(bytes.NewReader(data))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "generator hdr: holds 181 values, more than the 180 iterations")
}
