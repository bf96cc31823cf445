package stats

import (
	"testing"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// denseHistograms lists every dense histogram the collector's intervals
// hold (the shards' and the spare).
func denseHistograms(c *Collector) []*hdrhistogram.Histogram {
	var out []*hdrhistogram.Histogram
	ivs := []*interval{c.spare}
	for i := range c.shards {
		ivs = append(ivs, c.shards[i].cur)
	}
	for _, iv := range ivs {
		rs := []*recorder{&iv.iter, &iv.lag}
		for i := range iv.steps {
			rs = append(rs, &iv.steps[i].latency, &iv.steps[i].service)
		}
		for _, r := range rs {
			if r.dense != nil {
				out = append(out, r.dense)
			}
		}
	}
	return out
}

// TestDenseUpFront: at a rate that fills every shard's buffer each second
// (Options.Rate), every histogram the collector will
// ever need exists from the start, so a busy run allocates none later (its
// memory is flat); without it they appear as shards get busy. Both record
// the same.
func TestDenseUpFront(t *testing.T) {
	start := time.Unix(1000, 0)
	steps := []string{"a", "b"}
	const shards = 4
	eager := NewCollector(steps, start, Options{Rate: recorderBuf * shards, Shards: shards})
	slower := NewCollector(steps, start, Options{Rate: recorderBuf*shards - 1, Shards: shards})
	assert.Empty(t, denseHistograms(slower), "below that rate, allocated when needed")
	lazy := NewCollector(steps, start, Options{Shards: shards})

	before := denseHistograms(eager)
	require.Len(t, before, (shards+1)*(2+2*len(steps)), "every recorder of every interval")
	assert.Empty(t, denseHistograms(lazy), "lazy: nothing dense before anything is recorded")

	for sec := 1; sec <= 5; sec++ {
		for _, c := range []*Collector{eager, lazy} {
			for w := 0; w < shards; w++ {
				for i := 0; i < 3*recorderBuf; i++ {
					d := time.Duration(100+i*w) * time.Microsecond
					c.Shard(w).RecordStep(i%2, 200, ClassNone, AssertNone, d, d/2)
					c.Shard(w).RecordIteration(Success, ClassNone, d)
					c.Shard(w).RecordLag(d / 10)
				}
			}
			c.Flush(start.Add(time.Duration(sec) * time.Second))
		}
	}

	after := denseHistograms(eager)
	require.Len(t, after, len(before))
	set := map[*hdrhistogram.Histogram]bool{}
	for _, h := range before {
		set[h] = true
	}
	for _, h := range after {
		assert.True(t, set[h], "a dense histogram allocated during the run")
	}
	assert.NotEmpty(t, denseHistograms(lazy), "lazy: busy shards went dense")

	e, l := eager.Totals(), lazy.Totals()
	assert.Equal(t, l.Iterations, e.Iterations)
	for i := range steps {
		assert.Equal(t, l.Steps[i].Latency.TotalCount(), e.Steps[i].Latency.TotalCount())
		assert.Equal(t, l.Steps[i].Latency.ValueAtQuantile(99), e.Steps[i].Latency.ValueAtQuantile(99))
		assert.Equal(t, l.Steps[i].Service.ValueAtQuantile(50), e.Steps[i].Service.ValueAtQuantile(50))
	}
	assert.Equal(t, l.Lag.TotalCount(), e.Lag.TotalCount())
}

// TestDenseShed: dense histograms that a burst made necessary go once they
// have been unneeded for shedFlushes flushes, whether the collector goes on
// with light traffic or none; those still needed, and those of a collector
// that allocated them up front, stay. What was recorded is unchanged.
func TestDenseShed(t *testing.T) {
	start := time.Unix(1000, 0)
	steps := []string{"a", "b"}
	const shards = 4
	var recorded int64
	burst := func(c *Collector, sec int, shardsBusy int) {
		recorded += int64(shardsBusy * 4 * recorderBuf)
		for w := range shardsBusy {
			for i := range 4 * recorderBuf {
				d := time.Duration(100+i) * time.Microsecond
				c.Shard(w).RecordStep(i%2, 200, ClassNone, AssertNone, d, d/2)
				c.Shard(w).RecordIteration(Success, ClassNone, d)
				c.Shard(w).RecordLag(d / 10)
			}
		}
		c.Flush(start.Add(time.Duration(sec) * time.Second))
	}
	light := func(c *Collector, sec int) {
		recorded++
		c.Shard(sec).RecordStep(0, 200, ClassNone, AssertNone, time.Millisecond, time.Millisecond)
		c.Shard(sec).RecordIteration(Success, ClassNone, time.Millisecond)
		c.Flush(start.Add(time.Duration(sec) * time.Second))
	}
	for _, tc := range []struct {
		name  string
		rate  float64
		after func(c *Collector, sec int)
		kept  int
	}{
		{name: "light traffic after", after: light},
		{name: "no traffic after", after: func(c *Collector, sec int) { c.Flush(start.Add(time.Duration(sec) * time.Second)) }},
		{name: "one shard stays busy", after: func(c *Collector, sec int) { burst(c, sec, 1) },
			// the busy shard's interval and the spare it swaps with
			kept: 2 * (2 + 2*len(steps))},
		{name: "allocated up front", rate: recorderBuf * shards, after: light, kept: (shards + 1) * (2 + 2*len(steps))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			recorded = 0
			c := NewCollector(steps, start, Options{Shards: shards, Rate: tc.rate})
			for sec := 1; sec <= 3; sec++ {
				burst(c, sec, shards)
			}
			require.Len(t, denseHistograms(c), (shards+1)*(2+2*len(steps)), "the burst made every recorder dense")
			for sec := 4; sec < 4+2*shedFlushes; sec++ {
				tc.after(c, sec)
			}
			assert.Len(t, denseHistograms(c), tc.kept)
			tot := c.Totals()
			assert.Equal(t, recorded, tot.Iterations.Total())
			assert.Equal(t, tot.Iterations.Total(), tot.Iteration.TotalCount(), "every iteration's latency is still counted")
		})
	}
}
