package transport

import (
	"context"
	"io"
	"sync/atomic"
	"syscall"
	"time"
)

// MaxTraceBody is how much of a body the request discards a Trace keeps.
const MaxTraceBody = 2 << 10

// StatusSet is a set of status codes, 0 to 639.
type StatusSet [10]uint64

// Add puts code in the set; codes outside 0..639 are ignored.
func (s *StatusSet) Add(code int) {
	if code >= 0 && code < 640 {
		s[code>>6] |= 1 << (code & 63)
	}
}

// Has reports whether code is in the set.
func (s *StatusSet) Has(code int) bool {
	return code >= 0 && code < 640 && s[code>>6]&(1<<(code&63)) != 0
}

// Trace asks Do for what a failure sample shows of an exchange, at no cost
// to the exchanges that do not need it: a response is traced — its header
// section timed, its header fields copied, the first MaxTraceBody bytes of
// a body the request discards kept — only when its status is not in
// Expect, or when All asks for every response. A new connection's phases
// are timed whenever a Trace is set: connections are rarely made.
//
// Set it on a Response (Response.Trace) before Do; Do clears what it
// filled at the start of every call. A Trace belongs to one Response and,
// like it, to one goroutine at a time.
type Trace struct {
	// Expect holds the statuses that need no trace (a step's expected
	// ones); nil traces only with All.
	Expect *StatusSet
	// All traces the response whatever its status.
	All bool

	// Detailed reports that the response was traced: HeaderAt, Header
	// (when the request did not ask for the headers itself) and Body (when
	// it discards the body) are set.
	Detailed bool
	HeaderAt time.Time // when the response's header section had been read
	Header   []Header
	Body     []byte
	BodySize int64 // the body's bytes read, kept or not
	// Dialled reports that the request made a new connection (or failed
	// to); DNS, Connect and TLS are how long each phase took. A request on
	// a reused connection has none.
	Dialled           bool
	DNS, Connect, TLS time.Duration
}

// reset clears what Do fills, keeping the buffers.
func (t *Trace) reset() {
	t.Detailed, t.HeaderAt, t.BodySize = false, time.Time{}, 0
	t.Header, t.Body = t.Header[:0], t.Body[:0]
	t.Dialled, t.DNS, t.Connect, t.TLS = false, 0, 0, 0
}

// wants reports whether a response with this status is traced.
func (t *Trace) wants(status int) bool {
	return t.All || t.Expect != nil && !t.Expect.Has(status)
}

// traced marks the body's response as traced when its status calls for
// it, as soon as its header section has been read.
func (b *bodyReader) traced(status int) {
	t := b.trace
	if t == nil || !t.wants(status) {
		return
	}
	t.Detailed, t.HeaderAt = true, time.Now()
	if b.discard {
		b.keep = true
	}
}

// keepPrefix keeps what fits of p in the trace's body prefix.
func (b *bodyReader) keepPrefix(p []byte) {
	t := b.trace
	if room := MaxTraceBody - len(t.Body); room > 0 {
		t.Body = append(t.Body, p[:min(len(p), room)]...)
	}
}

// discardFixed discards n bytes of a body, keeping its beginning when
// traced.
func (b *bodyReader) discardFixed(r interface {
	io.Reader
	Discard(int) (int, error)
}, n int64) error {
	if b.trace != nil {
		b.trace.BodySize += n
	}
	if b.keep {
		if room := int64(MaxTraceBody - len(b.trace.Body)); room > 0 {
			k := min(n, room)
			t := b.trace
			start := len(t.Body)
			t.Body = append(t.Body, make([]byte, k)...)
			if _, err := io.ReadFull(r, t.Body[start:]); err != nil {
				t.Body = t.Body[:start]
				return err
			}
			n -= k
		}
	}
	_, err := r.Discard(int(n))
	return err
}

// traceWriter counts a body read until the connection closes and keeps
// its beginning when traced.
type traceWriter struct{ b *bodyReader }

func (w traceWriter) Write(p []byte) (int, error) {
	if w.b.trace != nil {
		w.b.trace.BodySize += int64(len(p))
		if w.b.keep {
			w.b.keepPrefix(p)
		}
	}
	return len(p), nil
}

// dialTimer times a new connection's phases into a Trace: from the start
// of the dial to the name's resolution (the first connect attempt), to the
// connection, to the end of the TLS handshake.
type dialTimer struct {
	t        *Trace
	start    time.Time
	resolved atomic.Int64 // unix ns of the first connect attempt; happy eyeballs may race two
}

// newDialTimer starts timing a dial into t; nil without a trace.
func newDialTimer(t *Trace) *dialTimer {
	if t == nil {
		return nil
	}
	t.Dialled = true
	return &dialTimer{t: t, start: time.Now()}
}

// control is the dialer's Control hook: it runs just before connect, once
// the address is resolved.
func (d *dialTimer) control(context.Context, string, string, syscall.RawConn) error {
	d.resolved.CompareAndSwap(0, time.Now().UnixNano())
	return nil
}

// connected records the end of the connect (or of a failed dial).
func (d *dialTimer) connected() time.Time {
	now := time.Now()
	resolved := now
	if ns := d.resolved.Load(); ns != 0 {
		resolved = time.Unix(0, ns)
	}
	d.t.DNS, d.t.Connect = resolved.Sub(d.start), now.Sub(resolved)
	return now
}

// handshaken records the end of the TLS handshake begun at from.
func (d *dialTimer) handshaken(from time.Time) { d.t.TLS = time.Since(from) }
