package stats

import (
	"bytes"
	"errors"
	"testing"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHdrLogReadsBack(t *testing.T) {
	var buf bytes.Buffer
	start := t0.Add(250 * time.Millisecond)
	log, err := NewHdrLog(&buf, start)
	require.NoError(t, err)
	var logErr error
	c := NewCollector([]string{"login", "add to cart"}, start, Options{OnInterval: func(iv Interval) {
		logErr = errors.Join(logErr, log.Write(iv))
	}})
	var want []*hdrhistogram.Histogram // in the order the lines must come
	for sec := range 3 {
		var lat, svc []time.Duration
		for i := range 100 { // past the recorders' buffers, so dense and buffered values both show
			d := ms(float64(sec+1) + float64(i)/40)
			c.Shard(i).RecordStep(0, 200, ClassNone, AssertNone, d, d/2)
			lat, svc = append(lat, d), append(svc, d/2)
		}
		want = append(want, fed(t, lat...), fed(t, svc...))
		if sec != 1 { // the second step runs every other second: empty intervals are skipped
			c.Shard(0).RecordStep(1, 200, ClassNone, AssertNone, ms(9), ms(8))
			want = append(want, fed(t, ms(9)), fed(t, ms(8)))
		}
		c.Flush(start.Add(time.Duration(sec+1) * time.Second))
	}
	require.NoError(t, logErr)
	text := buf.String()
	assert.Contains(t, text, "#[StartTime: ")
	assert.Contains(t, text, "#[BaseTime: ")
	assert.Contains(t, text, `"StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"`)

	r := hdrhistogram.NewHistogramLogReader(&buf)
	var tags []string
	var starts []int64
	var got []*hdrhistogram.Histogram
	for {
		h, err := r.NextIntervalHistogram()
		require.NoError(t, err)
		if h == nil {
			break
		}
		tags = append(tags, h.Tag())
		starts = append(starts, h.StartTimeMs())
		got = append(got, h)
	}
	assert.Equal(t, []string{
		"login", "login.service", "add_to_cart", "add_to_cart.service",
		"login", "login.service",
		"login", "login.service", "add_to_cart", "add_to_cart.service",
	}, tags, "one line per step and interval; tags cannot hold spaces")
	require.Len(t, got, len(want))
	for i := range want {
		requireSameHistogram(t, want[i], got[i], "line %d (%s)", i+1, tags[i])
	}
	// Timestamps are absolute again once read (base time + offset): the
	// base is the start truncated to its second, offsets keep the 250 ms.
	assert.Equal(t, start.UnixMilli(), starts[0], "the first interval starts at the start")
	assert.Equal(t, start.Add(2*time.Second).UnixMilli(), starts[len(starts)-1])
}

func TestLogTag(t *testing.T) {
	for in, want := range map[string]string{
		"login":        "login",
		"add to cart":  "add_to_cart",
		"a,b":          "a_b",
		"line\nbreak":  "line_break",
		"":             "_",
		"tab\there":    "tab_here",
		"ünïcode-ok.1": "ünïcode-ok.1",
	} {
		assert.Equal(t, want, LogTag(in), "LogTag(%q)", in)
	}
}

type failWriter struct{ after int }

func (w *failWriter) Write(p []byte) (int, error) {
	if w.after <= 0 {
		return 0, errors.New("disk full")
	}
	w.after--
	return len(p), nil
}

func TestHdrLogReportsWriteErrors(t *testing.T) {
	_, err := NewHdrLog(&failWriter{}, t0)
	assert.ErrorContains(t, err, "disk full")
	l, err := NewHdrLog(&failWriter{after: 5}, t0)
	require.NoError(t, err)
	err = l.Write(Interval{Step: "s", Start: t0, End: at(1), Latency: fed(t, ms(1))})
	assert.ErrorContains(t, err, "disk full")
	assert.ErrorContains(t, err, `step "s"`)
}
