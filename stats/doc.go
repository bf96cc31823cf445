// Package stats owns canary's measurements: HdrHistograms of latency per
// step (corrected and service), counters per status code and error class,
// per-second series, sliding windows for SLO verdicts, the run report and
// the exact merge of reports from several machines.
//
// Memory does not grow with run length: histograms have fixed bounds
// (1 µs .. 1 h, 3 significant digits), series are downsampled past a fixed
// number of points, windows are tiers of slots of fixed number that merge
// as they age.
package stats
