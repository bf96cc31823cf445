package transport

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync/atomic"
)

// errBodyTooLarge is the cause of every body_too_large error.
var errBodyTooLarge = errors.New("response body too large")

func bodyTooLarge(maxBody int64) error {
	return fmt.Errorf("%w (more than %d bytes)", errBodyTooLarge, maxBody)
}

// keepBodyCap is the largest body buffer a Response keeps between calls,
// and the part of a body's buffer that is not counted against the client's
// body budget. Past it a buffer is the request's own: counted while the
// Response holds it and dropped at its next Do (or Release).
const keepBodyCap = 64 << 10

// bodyBudget bounds the bytes of response bodies one client holds at once,
// across every request in flight: without it, each request was bounded by
// its max_body but their sum was not (30 requests reading endless bodies
// held 30 × max_body, and the garbage collector as much again). Only
// buffer capacity past keepBodyCap is counted; a body read and dropped
// (Request.DiscardBody) costs nothing.
type bodyBudget struct {
	limit int64
	used  atomic.Int64
}

// take asks for n more bytes for a body that already holds mine. A body
// alone may grow past the limit, so that a max_body above the budget still
// works for a request that has the client to itself.
func (b *bodyBudget) take(n, mine int64) bool {
	for {
		u := b.used.Load()
		if u+n > b.limit && u > mine {
			return false
		}
		if b.used.CompareAndSwap(u, u+n) {
			return true
		}
	}
}

func (b *bodyBudget) give(n int64) {
	if n != 0 {
		b.used.Add(-n)
	}
}

// errOverBudget is a body that could not grow because the client's other
// requests hold its whole body budget.
type errOverBudget struct{ limit int64 }

func (e errOverBudget) Error() string {
	return fmt.Sprintf("%v: the %d bytes the client may hold for the bodies of all requests in flight are in use", errBodyTooLarge, e.limit)
}

func (e errOverBudget) Unwrap() error { return errBodyTooLarge }

// bodyReader collects one response body: kept in buf, growing under the
// budget and never past max+1 bytes of capacity, or only counted
// (discard). Either way a body over max fails with body_too_large.
type bodyReader struct {
	buf     []byte
	max     int64
	discard bool
	budget  *bodyBudget
	charged int64 // buf's capacity past keepBodyCap, taken from budget
	// trace, when set, counts a discarded body, and keep keeps its
	// beginning there (the response is traced).
	trace *Trace
	keep  bool
}

// room makes sure buf can take n more bytes, growing it by doubling (to
// need exactly when exact) but never past max+1: the cap bounds memory, not
// only what is kept.
func (b *bodyReader) room(n int64, exact bool) error {
	need := int64(len(b.buf)) + n
	if need <= int64(cap(b.buf)) {
		return nil
	}
	size := need
	if !exact {
		size = min(max(2*int64(cap(b.buf)), need, 512), b.max+1)
	}
	if charge := max(size-keepBodyCap, 0) - b.charged; charge > 0 {
		if !b.budget.take(charge, b.charged) {
			return errOverBudget{b.budget.limit}
		}
		b.charged += charge
	}
	b.buf = slices.Grow(b.buf, int(size)-len(b.buf))
	return nil
}

// bodyReader returns the reader of the hop's response body into resp.
func (h *hop) bodyReader(resp *Response) bodyReader {
	return bodyReader{buf: resp.Body[:0], max: h.maxBody, discard: h.discardBody, budget: h.budget, charged: resp.held, trace: h.trace}
}

// done hands the body to resp; a failed read keeps none.
func (b *bodyReader) done(resp *Response, err error) {
	if err != nil {
		b.fail()
	}
	resp.Body, resp.held, resp.budget = b.buf, b.charged, nil
	if b.charged != 0 {
		resp.budget = b.budget
	}
}

// fail gives back what a failed read held; the body is not kept.
func (b *bodyReader) fail() {
	b.budget.give(b.charged)
	b.charged = 0
	if cap(b.buf) > keepBodyCap {
		b.buf = nil
	}
	b.buf = b.buf[:0]
}

// fixed reads a body of exactly n bytes.
func (b *bodyReader) fixed(br *bufio.Reader, n int64) error {
	if int64(len(b.buf))+n > b.max {
		return bodyTooLarge(b.max)
	}
	if b.discard {
		if b.trace != nil {
			return unexpectedEOF(b.discardFixed(br, n))
		}
		_, err := br.Discard(int(n))
		return unexpectedEOF(err)
	}
	if err := b.room(n, true); err != nil {
		return err
	}
	end := len(b.buf) + int(n)
	_, err := io.ReadFull(br, b.buf[len(b.buf):end])
	if err != nil {
		return unexpectedEOF(err)
	}
	b.buf = b.buf[:end]
	return nil
}

// untilClose reads a body that ends when the connection does.
func (b *bodyReader) untilClose(r io.Reader) error {
	if b.discard {
		// One byte past the cap tells a body over it from one at it.
		var sink io.Writer = io.Discard
		if b.trace != nil {
			sink = traceWriter{b}
		}
		n, err := io.CopyN(sink, r, b.max+1)
		if err != nil && err != io.EOF {
			return err
		}
		if n > b.max {
			return bodyTooLarge(b.max)
		}
		return nil
	}
	for {
		if len(b.buf) == cap(b.buf) {
			if int64(len(b.buf)) > b.max {
				return bodyTooLarge(b.max)
			}
			if err := b.room(1, false); err != nil {
				return err
			}
		}
		n, err := r.Read(b.buf[len(b.buf):cap(b.buf)])
		b.buf = b.buf[:len(b.buf)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	if int64(len(b.buf)) > b.max {
		return bodyTooLarge(b.max)
	}
	return nil
}

// stream reads a body from r (net/http's): contentLength bytes when it is
// known (>= 0), else until r ends.
func (b *bodyReader) stream(r io.Reader, contentLength int64) error {
	if contentLength > b.max {
		return bodyTooLarge(b.max)
	}
	if contentLength >= 0 && !b.discard {
		// The +1 leaves room for the read that sees the end.
		if err := b.room(contentLength+1, true); err != nil {
			return err
		}
	}
	return b.untilClose(r)
}

// chunked reads a chunked body up to its last chunk; the trailer is the
// caller's.
func (b *bodyReader) chunked(br *bufio.Reader) error {
	seen := int64(0)
	for {
		n, err := chunkSize(br)
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		if seen+n > b.max {
			return bodyTooLarge(b.max)
		}
		seen += n
		if err := b.fixed(br, n); err != nil {
			return err
		}
		if err := crlf(br); err != nil {
			return err
		}
	}
}

// errBrokenChunk is chunked framing that is not: a size that is not hex,
// a missing line end.
type errBrokenChunk struct{ what string }

func (e errBrokenChunk) Error() string { return "broken chunked body: " + e.what }

// maxChunkSize bounds a chunk's size: no cap is that large, and the sum of
// sizes cannot overflow.
const maxChunkSize = 1 << 56

// chunkSize reads a chunk-size line: hex digits, optional white space
// and extensions, CRLF (as fasthttp, which parsed them before).
func chunkSize(br *bufio.Reader) (int64, error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		if err == bufio.ErrBufferFull {
			return 0, errBrokenChunk{"chunk-size line too long"}
		}
		return 0, unexpectedEOF(err)
	}
	line = line[:len(line)-1]
	if len(line) == 0 || line[len(line)-1] != '\r' {
		return 0, errBrokenChunk{"chunk-size line without CRLF"}
	}
	line = line[:len(line)-1]
	var n int64
	i := 0
	for ; i < len(line); i++ {
		d := unhex(line[i])
		if d < 0 {
			break
		}
		if n > maxChunkSize>>4 {
			return 0, errBrokenChunk{"chunk size too large"}
		}
		n = n<<4 | int64(d)
	}
	if i == 0 {
		return 0, errBrokenChunk{fmt.Sprintf("chunk size %q is not hexadecimal", clipBytes(line))}
	}
	rest := line[i:]
	for len(rest) > 0 && (rest[0] == ' ' || rest[0] == '\t') {
		rest = rest[1:]
	}
	if len(rest) > 0 && rest[0] != ';' {
		return 0, errBrokenChunk{fmt.Sprintf("chunk size %q is not hexadecimal", clipBytes(line))}
	}
	return n, nil
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// crlf reads the CRLF after a chunk's data.
func crlf(br *bufio.Reader) error {
	for _, want := range []byte{'\r', '\n'} {
		c, err := br.ReadByte()
		if err != nil {
			return unexpectedEOF(err)
		}
		if c != want {
			return errBrokenChunk{"chunk data not followed by CRLF"}
		}
	}
	return nil
}

func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

func clipBytes(b []byte) string {
	const n = 32
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}

// sortHeader orders response header fields by name, keeping the order of
// repeated fields: net/http hands them over as a map, so sorting is what
// makes both paths fill Response.Header alike.
func sortHeader(h []Header) {
	slices.SortStableFunc(h, func(a, b Header) int { return strings.Compare(a.Name, b.Name) })
}
