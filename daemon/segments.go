package daemon

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/canaryproj/canary/internal/clock"
	"github.com/canaryproj/canary/profiles"
	"github.com/canaryproj/canary/push"
	"github.com/canaryproj/canary/run"
	"github.com/canaryproj/canary/stats"
	"github.com/canaryproj/canary/store"
)

// Bounds of distributed runs (docs/deployment.md). A merge holds every
// segment's report at once: at most MaxSegments × MaxSegmentBytes.
const (
	MaxSegments     = 64
	MaxPendingRuns  = 16
	MaxSegmentBytes = 8 << 20 // one message, decompressed
	// MaxSegmentWait bounds how far ahead a run's deadline may be.
	MaxSegmentWait = MaxRunDuration + time.Hour
)

// The states of a segment in GET /api/v1/runs/{id}.
const (
	segWaiting  = "waiting"  // nothing heard yet
	segStarted  = "started"  // ready, waiting for its start time or running
	segReported = "reported" // its report is in
	segFailed   = "failed"   // it did not run, and said why
	segMissing  = "missing"  // never reported by the deadline
)

// segmentsDoc is a distributed run's segments in its run document.
type segmentsDoc struct {
	Expected int        `json:"expected"`
	Received int        `json:"received"`
	Failed   int        `json:"failed"`
	Deadline time.Time  `json:"deadline"`
	StartAt  *time.Time `json:"start_at,omitempty"`
	// SLOs are the expressions the segments ran with: every segment's
	// report must list the same, so that the merge is judged by them.
	SLOs  []string      `json:"slos"`
	Parts []segmentPart `json:"parts"`
}

type segmentPart struct {
	Segment string `json:"segment"`
	State   string `json:"state"`
	Error   string `json:"error,omitempty"`
	// SHA256 of the report received: a push retried after a lost answer
	// is the same report, a second segment with the same index is not.
	SHA256 string `json:"sha256,omitempty"`
}

// segmentRuns assembles distributed runs from their segments' pushes: it
// keeps each run's document and its segments' reports in the store, merges
// and judges a run once every segment is in (run.Merge), and closes a run
// that is still missing segments at its deadline as inconclusive.
type segmentRuns struct {
	d   *Daemon
	clk clock.Clock
	// mu makes each push and each expiry one read-modify-write of a run.
	mu      sync.Mutex
	pending map[string]time.Time // run id → deadline; at most MaxPendingRuns
	wake    chan struct{}        // a new or later deadline (size 1)
}

func newSegmentRuns(d *Daemon, clk clock.Clock) *segmentRuns {
	return &segmentRuns{d: d, clk: clock.OrReal(clk), pending: map[string]time.Time{}, wake: make(chan struct{}, 1)}
}

// load finds the distributed runs still pending in the store (the daemon
// restarted meanwhile: their segments are running elsewhere and will
// report), and drops segment reports no pending run owns.
func (m *segmentRuns) load() {
	m.mu.Lock()
	defer m.mu.Unlock()
	_ = m.d.store.Each(store.Runs, func(id string, raw []byte) error {
		var doc runDoc
		if json.Unmarshal(raw, &doc) == nil && doc.Segments != nil && doc.Status == RunRunning {
			m.pending[id] = doc.Segments.Deadline
		}
		return nil
	})
	var stale []string
	_ = m.d.store.Each(store.Segments, func(key string, _ []byte) error {
		if id, _, _ := strings.Cut(key, "/"); m.pending[id].IsZero() {
			stale = append(stale, key)
		}
		return nil
	})
	for _, k := range stale {
		_ = m.d.store.Delete(store.Segments, k)
	}
}

// run closes runs at their deadlines until ctx ends.
func (m *segmentRuns) run(ctx context.Context) {
	t := m.clk.NewTimer(time.Hour)
	defer t.Stop()
	for {
		wait := time.Hour // with nothing pending, a new run wakes it
		m.mu.Lock()
		now := m.clk.Now()
		for _, dl := range m.pending {
			wait = min(wait, max(dl.Sub(now), 0))
		}
		m.mu.Unlock()
		t.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-m.wake:
		case <-t.C():
			m.expire(m.clk.Now())
		}
	}
}

// expire closes every pending run whose deadline has passed.
func (m *segmentRuns) expire(now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, dl := range m.pending {
		if now.Before(dl) {
			continue
		}
		var doc runDoc
		if ok, err := m.d.store.Get(store.Runs, id, &doc); err != nil || !ok || doc.Segments == nil {
			// Pruned meanwhile (the store keeps the newest runs).
			m.forget(id, MaxSegments)
			continue
		}
		m.finish(&doc, now)
		m.save(doc)
	}
}

// forget drops a run from the pending ones, with its segments' reports.
func (m *segmentRuns) forget(id string, n int) {
	delete(m.pending, id)
	for i := 1; i <= n; i++ {
		_ = m.d.store.Delete(store.Segments, segmentKey(id, i))
	}
}

func segmentKey(id string, i int) string { return fmt.Sprintf("%s/%04d", id, i) }

func (m *segmentRuns) save(doc runDoc) {
	if _, err := m.d.store.PutRun(doc.ID, "", doc); err != nil {
		m.d.log.Error("distributed run not persisted", "run", doc.ID, "err", err)
	}
}

// pushError is a refused push: its HTTP status and message.
type pushError struct {
	status int
	msg    string
}

func (e *pushError) Error() string { return e.msg }

func refuse(status int, format string, args ...any) *pushError {
	return &pushError{status: status, msg: fmt.Sprintf(format, args...)}
}

// handlePushSegment is POST /api/v1/runs/{id}/segments: a segment of a
// distributed run starts, reports or says it could not run.
func (d *Daemon) handlePushSegment(w http.ResponseWriter, r *http.Request) {
	m := d.segments
	doc, err := m.push(r)
	if err != nil {
		var pe *pushError
		if !errors.As(err, &pe) {
			d.log.Error("segment push", "run", r.PathValue("id"), "err", err)
			pe = refuse(http.StatusInternalServerError, "the push could not be stored; the daemon's log says why")
		}
		if pe.status == http.StatusTooManyRequests {
			d.api.segmentsFull.Inc()
			w.Header().Set("Retry-After", "30")
		}
		d.log.Warn("segment push refused", "run", r.PathValue("id"), "status", pe.status, "err", pe.msg)
		d.fail(w, pe.status, "%s", pe.msg)
		return
	}
	doc.Location = d.absURL(r, doc.Location)
	w.Header().Set("Location", doc.Location)
	writeJSON(w, http.StatusAccepted, doc)
}

// push applies one message and returns the run's document.
func (m *segmentRuns) push(r *http.Request) (runDoc, error) {
	id := r.PathValue("id")
	if err := push.CheckRunID(id); err != nil {
		return runDoc{}, refuse(http.StatusBadRequest, "%v", err)
	}
	msg, rep, err := m.readMessage(r)
	if err != nil {
		return runDoc{}, err
	}
	i, n, _ := profiles.ParseSegment(msg.Segment) // checked by readMessage
	i++
	sum := ""
	if msg.Event == push.Done {
		h := sha256.Sum256(msg.Report)
		sum = hex.EncodeToString(h[:])
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.clk.Now()
	var doc runDoc
	found, err := m.d.store.Get(store.Runs, id, &doc)
	if err != nil {
		return runDoc{}, err
	}
	switch {
	case !found:
		if len(m.pending) >= MaxPendingRuns {
			return runDoc{}, refuse(http.StatusTooManyRequests,
				"%d distributed runs are waiting for their segments already; try again later", MaxPendingRuns)
		}
		doc = newDistributedRun(id, msg, n, now)
	case doc.Segments == nil:
		return runDoc{}, refuse(http.StatusConflict, "run id %q is an on-demand run's: give the distributed run another --run-id", id)
	case doc.Segments.Expected != n:
		return runDoc{}, refuse(http.StatusConflict, "segment %d/%d is not one of run %s, which has %d segments", i, n, id, doc.Segments.Expected)
	case doc.Scenario != msg.Scenario:
		return runDoc{}, refuse(http.StatusConflict, "segment %d/%d runs scenario %q, run %s is of %q", i, n, msg.Scenario, id, doc.Scenario)
	}
	segs := doc.Segments
	part := &segs.Parts[i-1]
	if retry, err := transition(id, part, msg, sum, doc.Status); err != nil || retry {
		// A push retried after its answer was lost changes nothing.
		return doc, err
	}
	switch msg.Event {
	case push.Start:
		part.State = segStarted
	case push.Failed:
		part.State, part.Error = segFailed, msg.Error
		segs.Failed++
	case push.Done:
		exprs := sloExprs(rep)
		if segs.Received > 0 && !slices.Equal(exprs, segs.SLOs) {
			return runDoc{}, refuse(http.StatusConflict, "segment %d/%d was judged by %s, run %s's other segments by %s: the segments must run with the same --slo",
				i, n, listOr(exprs, "no SLOs"), id, listOr(segs.SLOs, "no SLOs"))
		}
		if err := m.d.store.Put(store.Segments, segmentKey(id, i), msg.Report); err != nil {
			return runDoc{}, err
		}
		part.State, part.SHA256 = segReported, sum
		segs.SLOs = exprs
		segs.Received++
		if segs.Received == 1 {
			doc.Profile = rep.Profile // the merge's, once it is made
		}
	}
	segs.Deadline = laterOf(segs.Deadline, msg.Deadline)
	m.pending[id] = segs.Deadline
	if segs.Received+segs.Failed == segs.Expected {
		m.finish(&doc, now)
	}
	m.save(doc)
	select {
	case m.wake <- struct{}{}:
	default:
	}
	m.d.log.Info("segment pushed", "run", id, "segment", msg.Segment, "event", msg.Event,
		"received", segs.Received, "expected", segs.Expected, "status", doc.Status)
	return doc, nil
}

// transition checks that msg may happen to part: a segment starts once,
// then reports (or fails) once, and nothing changes a closed run. retry is
// true for a message that already happened (the same report again).
func transition(id string, part *segmentPart, msg push.Message, sum, status string) (retry bool, err error) {
	seg := part.Segment
	switch {
	case msg.Event == push.Done && part.State == segReported:
		if part.SHA256 != sum {
			return false, refuse(http.StatusConflict, "segment %s of run %s was received already, with another report: is it running twice?", seg, id)
		}
		return true, nil
	case msg.Event == push.Failed && part.State == segFailed, msg.Event == push.Start && part.State == segStarted:
		return true, nil
	case part.State == segReported || part.State == segFailed:
		return false, refuse(http.StatusConflict, "segment %s of run %s has %s already: is it running twice?", seg, id, part.State)
	case status != RunRunning:
		return false, refuse(http.StatusConflict, "run %s was closed %s at its deadline without segment %s", id, status, seg)
	}
	return false, nil
}

// readMessage reads and checks a push: its body (gzip'd or not, bounded),
// the message and, for a report, the report itself.
func (m *segmentRuns) readMessage(r *http.Request) (push.Message, *stats.Report, error) {
	var msg push.Message
	var body io.Reader = r.Body
	switch enc := r.Header.Get("Content-Encoding"); enc {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			return msg, nil, readError(err)
		}
		defer zr.Close()
		body = zr
	default:
		return msg, nil, refuse(http.StatusUnsupportedMediaType, "Content-Encoding %q: send gzip or nothing", enc)
	}
	raw, err := io.ReadAll(io.LimitReader(body, MaxSegmentBytes+1))
	if err != nil {
		return msg, nil, readError(err)
	}
	if len(raw) > MaxSegmentBytes {
		return msg, nil, refuse(http.StatusRequestEntityTooLarge, "message larger than %d MiB", MaxSegmentBytes>>20)
	}
	if err := decodeStrict(bytes.NewReader(raw), &msg); err != nil {
		return msg, nil, refuse(http.StatusBadRequest, "%v", err)
	}
	bad := func(format string, args ...any) (push.Message, *stats.Report, error) {
		return msg, nil, refuse(http.StatusBadRequest, format, args...)
	}
	i, n, err := profiles.ParseSegment(msg.Segment)
	switch {
	case err != nil:
		return bad("%v", err)
	case n > MaxSegments:
		return bad("segment %s: at most %d segments", msg.Segment, MaxSegments)
	case msg.Scenario == "" || len(msg.Scenario) > 200:
		return bad("scenario: want the scenario's name")
	case msg.Deadline.IsZero():
		return bad("deadline: want the time by which every segment will have reported")
	case msg.Deadline.After(m.clk.Now().Add(MaxSegmentWait)):
		return bad("deadline %s: at most %v ahead", msg.Deadline.UTC().Format(time.RFC3339), MaxSegmentWait)
	}
	hasReport, hasError := len(msg.Report) > 0 && string(msg.Report) != "null", msg.Error != ""
	switch msg.Event {
	case push.Start, push.Failed:
		if hasReport {
			return bad("event %q: a report comes with event %q", msg.Event, push.Done)
		}
		if msg.Event == push.Failed && (!hasError || len(msg.Error) > 1000) {
			return bad("event %q: say why in error (at most 1000 characters)", msg.Event)
		}
		return msg, nil, nil
	case push.Done:
	default:
		return bad("event %q: want %q, %q or %q", msg.Event, push.Start, push.Done, push.Failed)
	}
	if !hasReport || hasError {
		return bad("event %q: want a report and no error", msg.Event)
	}
	rep, err := stats.ReadReport(bytes.NewReader(msg.Report))
	if err != nil {
		return bad("segment %s: %v", msg.Segment, err)
	}
	if rep.Scenario != msg.Scenario {
		return bad("segment %s: the report is of scenario %q, not %q", msg.Segment, rep.Scenario, msg.Scenario)
	}
	if ri, rn, ok := rep.Segment(); !ok || ri != i+1 || rn != n {
		return bad("segment %s: the report is not of segment %s (its profile says %v)", msg.Segment, msg.Segment, segmentOf(rep))
	}
	return msg, rep, nil
}

func readError(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return refuse(http.StatusRequestEntityTooLarge, "body larger than %d bytes", mbe.Limit)
	}
	return refuse(http.StatusBadRequest, "body: %v", err)
}

func segmentOf(r *stats.Report) any {
	if m, ok := r.Profile.(map[string]any); ok && m["segment"] != nil {
		return m["segment"]
	}
	return "a whole run"
}

func newDistributedRun(id string, msg push.Message, n int, now time.Time) runDoc {
	segs := &segmentsDoc{Expected: n, Deadline: msg.Deadline, SLOs: []string{}, Parts: make([]segmentPart, n)}
	for k := range segs.Parts {
		segs.Parts[k] = segmentPart{Segment: fmt.Sprintf("%d/%d", k+1, n), State: segWaiting}
	}
	if msg.StartAt != nil {
		at := msg.StartAt.UTC()
		segs.StartAt = &at
	}
	return runDoc{
		ID: id, Scenario: msg.Scenario, Status: RunRunning, Created: now.UTC(), Profile: map[string]any{},
		Segments: segs, Location: "/api/v1/runs/" + id,
	}
}

// finish merges and judges a run with what it has (run.Merge): segments
// that failed or never reported make it inconclusive, named.
func (m *segmentRuns) finish(doc *runDoc, now time.Time) {
	segs := doc.Segments
	absent := map[int]string{}
	var reps []*stats.Report
	for k := range segs.Parts {
		p := &segs.Parts[k]
		switch p.State {
		case segReported:
			var raw json.RawMessage
			ok, err := m.d.store.Get(store.Segments, segmentKey(doc.ID, k+1), &raw)
			var rep *stats.Report
			if err == nil && ok {
				rep, err = stats.ReadReport(bytes.NewReader(raw))
			}
			if err != nil || !ok {
				m.d.log.Error("segment report lost", "run", doc.ID, "segment", p.Segment, "err", err)
				absent[k+1] = "reported, but its report was lost by the daemon"
				continue
			}
			reps = append(reps, rep)
		case segFailed:
			absent[k+1] = "did not run: " + p.Error
		default:
			p.State = segMissing
			absent[k+1] = "never reported (deadline " + segs.Deadline.UTC().Format(time.RFC3339) + ")"
		}
	}
	end := now.UTC()
	doc.Ended = &end
	if len(reps) == 0 {
		doc.Verdict, doc.Status = RunInconclusive, RunInconclusive
		doc.Reasons = nil
		for k := 1; k <= segs.Expected; k++ {
			doc.Reasons = append(doc.Reasons, fmt.Sprintf("segment %d/%d %s", k, segs.Expected, absent[k]))
		}
	} else if merged, j, err := run.Merge(reps, run.MergeOptions{Absent: absent}); err != nil {
		doc.Verdict, doc.Status = RunInconclusive, RunInconclusive
		doc.Error = m.d.secrets.String("merge: " + err.Error())
	} else {
		doc.Report, doc.Profile, doc.Verdict, doc.Reasons = merged, merged.Profile, string(j.Verdict), j.Reasons
		doc.Status = statusOf(j.Verdict)
	}
	m.forget(doc.ID, segs.Expected)
	m.d.log.Info("distributed run finished", "run", doc.ID, "status", doc.Status,
		"received", segs.Received, "expected", segs.Expected, slog.Any("reasons", doc.Reasons))
}

func sloExprs(r *stats.Report) []string {
	out := []string{}
	for _, s := range r.SLOs {
		out = append(out, s.Expr)
	}
	slices.Sort(out)
	return out
}

func listOr(xs []string, none string) string {
	if len(xs) == 0 {
		return none
	}
	return strings.Join(xs, ", ")
}

func laterOf(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
