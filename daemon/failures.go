package daemon

import (
	"net/http"
	"time"

	"github.com/canaryproj/canary/alert"
	"github.com/canaryproj/canary/report"
	"github.com/canaryproj/canary/stats"
)

// failuresDoc is GET /api/v1/checks/{name}/failures: the samples of the
// check's failing exchanges (docs/daemon.md, "Failure samples").
type failuresDoc struct {
	Check string `json:"check"`
	// Since is when the samples start: the check's start, or the reload
	// that last changed its definition.
	Since    time.Time            `json:"since"`
	Failures *stats.FailureReport `json:"failures"`
}

func (d *Daemon) handleFailures(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	cr := d.runner(name)
	if cr == nil {
		d.fail(w, http.StatusNotFound, "no check %q", name)
		return
	}
	writeJSON(w, http.StatusOK, failuresDoc{Check: name, Since: cr.started.UTC(), Failures: d.failures(cr)})
}

// failures is a check's failure samples, redacted with the daemon's
// secrets on top of its scenario's. The status page shows them too.
func (d *Daemon) failures(cr *checkRunner) *stats.FailureReport {
	f := cr.failures.Report()
	report.RedactFailures(f, d.secrets)
	return f
}

// topFailure is what an alert on the check shows of its failures: the most
// frequent kind seen over the last window, with its latest sample.
func (d *Daemon) topFailure(cr *checkRunner, now time.Time, window time.Duration) *alert.Failure {
	f := d.failures(cr)
	for i := range f.Groups {
		g := &f.Groups[i] // most frequent first
		if now.Sub(g.Last) > window || len(g.Samples) == 0 {
			continue
		}
		s := g.Samples[len(g.Samples)-1]
		return &alert.Failure{Reason: g.Reason(), Count: g.Count, Sample: &s}
	}
	return nil
}
