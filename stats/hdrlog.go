package stats

import (
	"fmt"
	"io"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// HdrLog writes HdrHistogram's interval-log format (`--hdr-log`): a header
// with the start time and legend, then one line per interval and step —
// tagged with the step name for corrected latency and "<step>.service" for
// service latency — readable by HdrHistogram's own tools (HistogramLogProcessor).
type HdrLog struct {
	w     *hdrhistogram.HistogramLogWriter
	start time.Time
}

// NewHdrLog writes the log header to w.
func NewHdrLog(w io.Writer, start time.Time) (*HdrLog, error) {
	lw := hdrhistogram.NewHistogramLogWriter(w)
	ms := start.UnixMilli()
	if err := lw.OutputLogFormatVersion(); err != nil {
		return nil, fmt.Errorf("hdr log: %w", err)
	}
	if err := lw.OutputComment("canary latencies in microseconds; Tag=<step> is corrected, Tag=<step>.service is service latency"); err != nil {
		return nil, fmt.Errorf("hdr log: %w", err)
	}
	if err := lw.OutputStartTime(ms); err != nil {
		return nil, fmt.Errorf("hdr log: %w", err)
	}
	if err := lw.OutputBaseTime(ms); err != nil {
		return nil, fmt.Errorf("hdr log: %w", err)
	}
	lw.SetBaseTime(ms)
	if err := lw.OutputLegend(); err != nil {
		return nil, fmt.Errorf("hdr log: %w", err)
	}
	return &HdrLog{w: lw, start: start}, nil
}

// Write appends one interval's histograms (empty ones are skipped).
func (l *HdrLog) Write(iv Interval) error {
	for _, x := range []struct {
		h   *hdrhistogram.Histogram
		tag string
	}{{iv.Latency, iv.Step}, {iv.Service, iv.Step + ".service"}} {
		if x.h == nil || x.h.TotalCount() == 0 {
			continue
		}
		x.h.SetTag(x.tag)
		x.h.SetStartTimeMs(iv.Start.UnixMilli())
		x.h.SetEndTimeMs(iv.End.UnixMilli())
		if err := l.w.OutputIntervalHistogram(x.h); err != nil {
			return fmt.Errorf("hdr log: %w", err)
		}
	}
	return nil
}
