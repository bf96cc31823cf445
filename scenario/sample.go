package scenario

import (
	"time"

	"github.com/canaryproj/canary/stats"
	"github.com/canaryproj/canary/transport"
)

// sample offers a failed step's exchange to the runner's failure sink and,
// when the sink wants it, builds the sample: the request as sent and the
// response as received, with the scenario's secrets (its ${VAR} values)
// and credential headers redacted, the failed expectation, and the timing
// split the transport's trace saw. It runs on failures only.
func (r *Runner) sample(step *Step, st *iterState, sr *stepResult) {
	k := stats.Key(sr.Step, sr.Status, sr.Class, sr.Assertion)
	if !r.failures.Want(k, sr.Done) {
		return
	}
	sec := r.s.Secrets
	s := stats.FailureSample{
		At: sr.Done, Iteration: st.num, Step: step.Name, Class: sr.Class.String(), Status: sr.Status,
		Error:   sr.Err.Error(), // redacted when it was made
		Request: stats.SampleRequest{Method: step.Method},
	}
	if sr.req != nil {
		// Sent: the trace is this request's.
		s.Timing = timing(sr, &st.trace)
	}
	if e := sr.expect; e != nil {
		a := e.failure()
		a.Target, a.Expected, a.Actual = sec.String(a.Target), sec.String(a.Expected), sec.String(a.Actual)
		s.Assertion = a
	}
	if req := sr.req; req != nil {
		s.Request.Method = req.Method
		s.Request.URL = sec.URL(req.URL)
		s.Request.Headers = headers(req.Header, sec.Header)
		s.Request.Body = sec.String(prefix(req.Body))
		s.Request.BodyBytes = int64(len(req.Body))
	}
	if sr.Status != 0 {
		resp := &st.resp
		out := &stats.SampleResponse{Status: resp.Status, Proto: resp.Proto}
		hs, body, size := resp.Header, resp.Body, int64(len(resp.Body))
		if t := &st.trace; t.Detailed {
			if len(hs) == 0 {
				hs = t.Header
			}
			if len(body) == 0 && t.BodySize > 0 {
				body, size = t.Body, t.BodySize
			}
		}
		out.Headers = headers(hs, sec.Header)
		out.Body = sec.String(prefix(body))
		out.BodyBytes = size
		s.Response = out
	}
	r.failures.Add(k, s)
}

// prefix is the part of a body a sample keeps.
func prefix(b []byte) string {
	return string(b[:min(len(b), stats.MaxSampleBody)])
}

// headers copies header fields for a sample, each value through redact
// (credential headers become the placeholder, known secrets are replaced).
func headers(hs []transport.Header, redact func(name, value string) string) []stats.SampleHeader {
	if len(hs) == 0 {
		return nil
	}
	out := make([]stats.SampleHeader, 0, min(len(hs), stats.MaxSampleHeaders))
	for _, h := range hs[:min(len(hs), stats.MaxSampleHeaders)] {
		out = append(out, stats.SampleHeader{Name: h.Name, Value: redact(h.Name, h.Value)})
	}
	return out
}

// timing splits a failed step's service latency with what its trace saw:
// a new connection's phases, then the wait for the header section and the
// body.
func timing(sr *stepResult, t *transport.Trace) stats.SampleTiming {
	ms := func(d time.Duration) float64 { return float64(max(d, 0).Microseconds()) / 1000 }
	tm := stats.SampleTiming{TotalMs: ms(sr.Done.Sub(sr.Sent))}
	var dial time.Duration
	if t.Dialled {
		tm.NewConnection = true
		tm.DNSMs, tm.ConnectMs, tm.TLSMs = ms(t.DNS), ms(t.Connect), ms(t.TLS)
		dial = t.DNS + t.Connect + t.TLS
	}
	if t.Detailed && !t.HeaderAt.IsZero() {
		tm.FirstByteMs = ms(t.HeaderAt.Sub(sr.Sent) - dial)
		tm.BodyMs = ms(sr.Done.Sub(t.HeaderAt))
	}
	return tm
}
