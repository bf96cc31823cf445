package stats

import (
	"fmt"
	"io"
	"strings"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// HdrLog writes HdrHistogram's interval-log format (`--hdr-log`): a header
// with the start time and legend, then one line per interval and step —
// tagged with the step name for corrected latency and "<step>.service" for
// service latency — readable by HdrHistogram's own tools
// (HistogramLogProcessor, HdrHistogram plotters). Values are microseconds,
// so the Interval_Max column (the library divides by 10⁶) is in seconds.
type HdrLog struct {
	w *hdrhistogram.HistogramLogWriter
}

// NewHdrLog writes the log header to w. Interval timestamps are relative to
// start truncated to the whole second, which is all #[BaseTime] can say.
func NewHdrLog(w io.Writer, start time.Time) (*HdrLog, error) {
	lw := hdrhistogram.NewHistogramLogWriter(w)
	base := start.Unix() * 1000
	for _, write := range []func() error{
		lw.OutputLogFormatVersion,
		func() error {
			return lw.OutputComment("canary latencies in microseconds; Tag=<step> is corrected latency (from the due time), Tag=<step>.service service latency (from the send)")
		},
		func() error { return lw.OutputStartTime(start.UnixMilli()) },
		func() error { return lw.OutputBaseTime(base) },
		lw.OutputLegend,
	} {
		if err := write(); err != nil {
			return nil, fmt.Errorf("hdr log: %w", err)
		}
	}
	lw.SetBaseTime(base)
	return &HdrLog{w: lw}, nil
}

// Write appends one interval's histograms; empty ones are skipped. It sets
// the histograms' tag and timestamps.
func (l *HdrLog) Write(iv Interval) error {
	tag := LogTag(iv.Step)
	for _, x := range []struct {
		h   *hdrhistogram.Histogram
		tag string
	}{{iv.Latency, tag}, {iv.Service, tag + ".service"}} {
		if x.h == nil || x.h.TotalCount() == 0 {
			continue
		}
		x.h.SetTag(x.tag)
		x.h.SetStartTimeMs(iv.Start.UnixMilli())
		x.h.SetEndTimeMs(iv.End.UnixMilli())
		if err := l.w.OutputIntervalHistogram(x.h); err != nil {
			return fmt.Errorf("hdr log: step %q: %w", iv.Step, err)
		}
	}
	return nil
}

// LogTag is a step's tag in the interval log: the format cannot carry
// commas or whitespace in a tag, so those become '_'.
func LogTag(step string) string {
	if step == "" {
		return "_"
	}
	return strings.Map(func(r rune) rune {
		switch r {
		case ',', ' ', '\t', '\r', '\n', '\v', '\f':
			return '_'
		}
		return r
	}, step)
}
