package stats

import "time"

// Progress is the live state of a run, about once a second: what the
// progress line shows.
type Progress struct {
	Elapsed, Total time.Duration // Total 0: unknown (iterations)
	TargetRate     float64       // open model: iterations/s asked for now
	AchievedRate   float64       // iterations/s completed over the last second
	VUs            int           // closed model: VUs now
	Inflight       int64
	Started        uint64
	Dropped        uint64
	Iterations     int64   // completed so far
	P50, P99       float64 // ms, iteration latency over the last second
	ErrorPct       float64 // failed iterations over the last second
}
