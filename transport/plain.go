package transport

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// plainPath sends http:// requests: fasthttp writes each request and parses
// each response (fasthttp.Request.Write, fasthttp.Response.ReadLimitBody),
// on keep-alive connections from one hostPool per host:port, in a map
// bounded by MaxHosts.
//
// The pools are this package's rather than fasthttp.HostClient's. A
// HostClient would bring a retry loop (which must never run: the target
// sees each request once), one body cap per host where each request has
// its own, no way to stop a request whose context is cancelled, and an
// idle-connection sweeper goroutine that outlives Close by up to the idle
// timeout. Going through HostClient.Do also cost 6 % of the throughput of
// a closed loop of 50 goroutines (BenchmarkDoParallel).
type plainPath struct {
	opts Options

	mu    sync.RWMutex
	hosts map[string]*hostPool // by URL host ("example.com:8080")

	exchanges sync.Pool // *plainExchange
}

// plainExchange is the pooled fasthttp request and response of one hop.
type plainExchange struct {
	req  fasthttp.Request
	resp fasthttp.Response
	// untilClose: the response body ran until the connection closed (no
	// Content-Length, not chunked).
	untilClose bool
}

func newPlainPath(o Options) *plainPath {
	p := &plainPath{opts: o, hosts: make(map[string]*hostPool)}
	p.exchanges.New = func() any {
		x := &plainExchange{}
		x.init()
		return x
	}
	return p
}

func (x *plainExchange) init() {
	// Like net/http: no made-up Content-Type on requests, and none on
	// responses that sent none.
	x.req.Header.SetNoDefaultContentType(true)
	x.resp.Header.SetNoDefaultContentType(true)
	// Keep the response's body buffer across requests instead of handing
	// it back to fasthttp's pool each time; put drops it when it is large.
	x.resp.KeepBodyBuffer = true
}

func (p *plainPath) put(x *plainExchange) {
	x.untilClose = false
	x.req.Reset()
	if cap(x.resp.Body()) > keepBodyCap {
		x.resp.SwapBody(nil)
	}
	x.resp.Reset()
	x.init()
	p.exchanges.Put(x)
}

// errTooManyHosts refuses a request to a new host while MaxHosts hosts have
// requests in flight.
var errTooManyHosts = fmt.Errorf("too many hosts in use (at most %d with plain http)", MaxHosts)

// host returns the pool for key, creating it (and evicting an idle one when
// the map is full) if needed. The caller must call release.
func (p *plainPath) host(key string, now time.Time) (*hostPool, error) {
	p.mu.RLock()
	h := p.hosts[key]
	if h != nil {
		h.inflight.Add(1)
	}
	p.mu.RUnlock()
	if h == nil {
		p.mu.Lock()
		defer p.mu.Unlock()
		if h = p.hosts[key]; h == nil {
			if len(p.hosts) >= MaxHosts && !p.evictLocked() {
				return nil, errTooManyHosts
			}
			h = p.newHost(key)
			p.hosts[key] = h
		}
		h.inflight.Add(1)
	}
	// Stored only when it moves: the line is shared by every request to
	// the host.
	if t := now.UnixNano(); t-h.lastUse.Load() > int64(time.Second) {
		h.lastUse.Store(t)
	}
	return h, nil
}

func (p *plainPath) release(h *hostPool) { h.inflight.Add(-1) }

// evictLocked drops the least recently used host without requests in
// flight. p.mu must be held for writing, so no request can pick the host up
// meanwhile.
func (p *plainPath) evictLocked() bool {
	var (
		victim string
		oldest int64
	)
	for k, h := range p.hosts {
		if h.inflight.Load() != 0 {
			continue
		}
		if t := h.lastUse.Load(); victim == "" || t < oldest {
			victim, oldest = k, t
		}
	}
	if victim == "" {
		return false
	}
	p.hosts[victim].closeIdle()
	delete(p.hosts, victim)
	return true
}

func (p *plainPath) newHost(key string) *hostPool {
	addr := key
	if _, port, err := net.SplitHostPort(key); err != nil || port == "" {
		addr = net.JoinHostPort(trimBrackets(key), "80")
	}
	return &hostPool{
		addr:        addr,
		sem:         make(chan struct{}, p.opts.MaxConnsPerHost),
		dialTimeout: p.opts.DialTimeout,
		idleTimeout: p.opts.IdleConnTimeout,
		procs:       int64(runtime.GOMAXPROCS(0)),
	}
}

func trimBrackets(host string) string {
	if len(host) > 1 && host[0] == '[' && host[len(host)-1] == ']' {
		return host[1 : len(host)-1]
	}
	return host
}

func (p *plainPath) closeIdle() {
	p.mu.RLock()
	defer p.mu.RUnlock()
	for _, h := range p.hosts {
		h.closeIdle()
	}
}

// do sends one hop and fills resp; it returns the Location of a redirect.
func (p *plainPath) do(ctx context.Context, h *hop, resp *Response) (location string, err error) {
	host, err := p.host(h.url.Host, h.start)
	if err != nil {
		return "", err
	}
	defer p.release(host)

	x := p.exchanges.Get().(*plainExchange)
	defer p.put(x)
	req := &x.req

	req.Header.SetMethod(h.method)
	uri := req.URI()
	// The path goes out as the URL has it, as with net/http.
	uri.DisablePathNormalizing = true
	uri.SetScheme("http")
	uri.SetHost(h.url.Host)
	uri.SetPath(h.url.EscapedPath())
	uri.SetQueryString(h.url.RawQuery)
	if h.url.User != nil {
		// fasthttp turns these into Basic authorization, like net/http.
		uri.SetUsername(h.url.User.Username())
		pw, _ := h.url.User.Password()
		uri.SetPassword(pw)
	}
	if h.host != "" {
		req.UseHostHeader = true
		req.Header.SetHost(h.host)
	}
	for _, f := range h.header {
		if h.sendHeader(f.Name) {
			req.Header.Add(f.Name, f.Value)
		}
	}
	if p.opts.UserAgent != "" && !h.hasUserAgent() {
		req.Header.SetUserAgent(p.opts.UserAgent)
	}
	if len(h.body) > 0 {
		req.SetBodyRaw(h.body)
	}

	fresp := &x.resp
	if err := host.exchange(ctx, h, x); err != nil {
		if errors.Is(err, fasthttp.ErrBodyTooLarge) {
			// The same message as the https path.
			return "", bodyTooLarge(h.maxBody)
		}
		return "", err
	}

	resp.Status = fresp.StatusCode()
	resp.Proto = protoString(fresp.Header.Protocol())
	resp.Body = append(resp.Body[:0], fresp.Body()...)
	if h.needHeaders {
		resp.Header = resp.Header[:0]
		for k, v := range fresp.Header.All() {
			if !netHTTPKeeps(k, v, x.untilClose) {
				continue
			}
			resp.Header = append(resp.Header, Header{Name: string(k), Value: string(v)})
		}
		sortHeader(resp.Header)
	}
	if isRedirect(resp.Status) {
		location = string(fresp.Header.Peek("Location"))
	}
	return location, nil
}

// netHTTPKeeps reports whether net/http's Response.Header would hold the
// field: net/http takes Transfer-Encoding, Trailer and "Connection: close"
// out, while fasthttp makes up "Connection: close" for an HTTP/1.0 response
// and a Content-Length for a body that ran until the connection closed.
// Skipping them gives both paths the same Response.Header.
func netHTTPKeeps(name, value []byte, untilClose bool) bool {
	switch {
	case string(name) == fasthttp.HeaderTransferEncoding, string(name) == fasthttp.HeaderTrailer:
		return false
	case string(name) == fasthttp.HeaderConnection:
		return !hasToken(value, "close")
	case string(name) == fasthttp.HeaderContentLength:
		return !untilClose
	}
	return true
}

// hasToken reports whether the comma-separated list v holds token
// (case-insensitive).
func hasToken(v []byte, token string) bool {
	for f := range bytes.SplitSeq(v, []byte(",")) {
		if strings.EqualFold(string(bytes.TrimSpace(f)), token) {
			return true
		}
	}
	return false
}

// maxInterimResponses bounds the 1xx responses before the final one.
const maxInterimResponses = 100

// readResponse reads a response as fasthttp's Response.ReadLimitBody does
// — header, interim 1xx responses, body up to maxBody, trailer — and also
// reports whether the body ran until the connection closed, which fasthttp
// forgets once it has read it.
func readResponse(resp *fasthttp.Response, r *respReader, maxBody int) (untilClose bool, err error) {
	if err := r.header(resp.Header.Read); err != nil {
		return false, err
	}
	for n := 0; ; n++ {
		code := resp.StatusCode()
		if code < 100 || code > 199 || code == fasthttp.StatusSwitchingProtocols {
			break
		}
		if n >= maxInterimResponses {
			return false, fmt.Errorf("more than %d interim (1xx) responses", maxInterimResponses)
		}
		if err := r.header(resp.Header.Read); err != nil {
			return false, err
		}
	}
	code := resp.StatusCode()
	if resp.SkipBody || code < 200 || code == fasthttp.StatusNoContent || code == fasthttp.StatusNotModified {
		return false, nil
	}
	chunked := resp.Header.ContentLength() == -1
	untilClose = resp.Header.ContentLength() == -2
	if err := resp.ReadBody(r.br, maxBody); err != nil {
		return untilClose, err
	}
	if chunked {
		if err := r.header(resp.Header.ReadTrailer); err != nil {
			if err == io.EOF {
				return false, io.ErrUnexpectedEOF
			}
			return false, err
		}
	}
	return untilClose, nil
}

// respReader reads a response through the connection's buffer, which is
// small (readBufferSize), and moves to one of maxHeaderBytes when a header
// section does not fit in it: a header section may be as large on this
// path as on the https one, while a connection carries 4 KiB, not 64.
type respReader struct {
	br    *bufio.Reader
	conn  io.Reader
	large bool // br is the large buffer; the connection cannot be reused
}

// header reads a header section (or trailer) with read, which leaves the
// buffer as it was when it fails.
func (r *respReader) header(read func(*bufio.Reader) error) error {
	err := read(r.br)
	if err == nil || r.large || r.br.Buffered() < r.br.Size() {
		return err
	}
	// What the small buffer holds is read first; it is not read again, so
	// the bytes stay as they are until the exchange ends.
	held, _ := r.br.Peek(r.br.Buffered())
	r.br = bufio.NewReaderSize(io.MultiReader(bytes.NewReader(held), r.conn), maxHeaderBytes)
	r.large = true
	return read(r.br)
}

func protoString(p []byte) string {
	switch string(p) {
	case "HTTP/1.1":
		return "HTTP/1.1"
	case "HTTP/1.0":
		return "HTTP/1.0"
	}
	return string(p)
}

// hostPool is a bounded pool of keep-alive connections to one address.
//
// A request holds one of MaxConnsPerHost tokens while it runs; it takes an
// idle connection or, when there is none, dials one. So a host never has
// more connections than tokens, the idle list is bounded by the same
// number, and waiting for a token honours the request's context and
// deadline.
type hostPool struct {
	addr        string
	sem         chan struct{}
	dialTimeout time.Duration
	idleTimeout time.Duration
	// procs is GOMAXPROCS when the pool was made, for exchange's yield;
	// kept because runtime.GOMAXPROCS(0) takes the scheduler's lock.
	procs int64

	// inflight counts the requests using the pool; a host with none may be
	// evicted when the map of hosts is full.
	inflight atomic.Int64
	lastUse  atomic.Int64 // unix nanoseconds, to the second

	mu   sync.Mutex
	idle []*poolConn // most recently used last
}

// connBuffers are the buffered reader and writer of a plain connection
// while it carries a request; an idle connection holds none, so memory
// follows the requests in flight, not the connections in the pool. A long
// run keeps dialling (a burst needs more connections, they idle at the
// bottom of the pool until the idle timeout, the next burst dials again);
// with buffers of its own, each connection was garbage to collect later
// and the resident set climbed for minutes between collections. The pool
// holds at most what was in use since the last two garbage collections.
type connBuffers struct {
	br *bufio.Reader
	bw *bufio.Writer
}

var connBufferPool = sync.Pool{New: func() any {
	return &connBuffers{
		br: bufio.NewReaderSize(nil, readBufferSize),
		bw: bufio.NewWriterSize(nil, writeBufferSize),
	}
}}

type poolConn struct {
	c       net.Conn
	buf     *connBuffers // while it carries a request, else nil
	lastUse time.Time

	// A request's context is watched so that its cancellation makes the
	// connection's blocked reads and writes fail at once. Registering a
	// watch per request (context.AfterFunc) costs a lock and a map entry on
	// the context every time; a load test sends every request under the
	// same long-lived context, so the watch is registered once per
	// (connection, context) and stays. serving says whether a request
	// under the watched context is on the wire: a watch that fires while
	// the connection idles, or serves another context, does nothing.
	watchedDone <-chan struct{} // Done of the watched context
	unwatch     func() bool
	watchID     uint64
	serving     atomic.Uint64 // watchID while a request under it is on the wire, else 0
}

// watch makes sure a cancellation of ctx aborts this connection's I/O
// while serving is set to watchID. It reports false for a context that
// is never cancelled. Only the connection's current user calls it.
func (pc *poolConn) watch(ctx context.Context) bool {
	done := ctx.Done()
	if done == nil {
		return false
	}
	if done != pc.watchedDone {
		pc.stopWatching()
		pc.watchID++
		id, c := pc.watchID, pc.c
		pc.unwatch = context.AfterFunc(ctx, func() {
			if pc.serving.Load() == id {
				_ = c.SetDeadline(aLongTimeAgo)
			}
		})
		pc.watchedDone = done
	}
	return true
}

func (pc *poolConn) stopWatching() {
	if pc.unwatch != nil {
		pc.unwatch()
		pc.unwatch, pc.watchedDone = nil, nil
	}
}

// errCancelledBeforeSending is a request whose context ended as it was
// about to be written.
var errCancelledBeforeSending = errors.New("cancelled before sending")

// errClosedEarly is a connection closed before the first response byte.
var errClosedEarly = fmt.Errorf("server closed the connection before responding: %w", io.EOF)

// exchange writes req and reads resp on one of the pool's connections. It
// makes one attempt, whatever happens: there is no retry anywhere on this
// path.
func (p *hostPool) exchange(ctx context.Context, h *hop, x *plainExchange) error {
	req, resp := &x.req, &x.resp
	deadline := h.deadline
	if err := p.acquire(ctx, deadline); err != nil {
		return err
	}
	defer func() { <-p.sem }()

	pc, err := p.conn(ctx, h.start, deadline)
	if err != nil {
		return err
	}
	pc.attach()
	if err := pc.c.SetDeadline(deadline); err != nil {
		p.discard(pc)
		return err
	}
	// The deadline first, then serving, then the context: a cancellation
	// either finds serving set and moves the deadline into the past, or
	// happened before and is seen here.
	watching := pc.watch(ctx)
	if watching {
		pc.serving.Store(pc.watchID)
		if ctx.Err() != nil {
			pc.serving.Store(0)
			p.put(pc)
			return errCancelledBeforeSending
		}
	}

	rr := respReader{br: pc.buf.br, conn: pc.c}
	err = req.Write(pc.buf.bw)
	if err == nil {
		err = pc.buf.bw.Flush()
	}
	if err == nil {
		// With more requests in flight than processors, let the
		// goroutines that are ready run before reading. A loopback target
		// rarely answers before the write returns, so a read now finds
		// nothing, and the wait costs a second read and a trip through the
		// netpoller. In a closed loop of 50 connections the answer is there
		// by the time the others have had their turn: one read per
		// response instead of two, and 30 % more requests for the same
		// CPU (docs/PERFORMANCE.md). With fewer in flight a processor is
		// likely idle, and a yield would only wake it (runtime.Gosched
		// does) to find nothing.
		if p.inflight.Load() > p.procs {
			runtime.Gosched()
		}
		// fasthttp reports any failure before the first response byte as
		// io.EOF; peeking first keeps the real cause (a reset, say).
		if _, err = rr.br.Peek(1); err == io.EOF {
			err = errClosedEarly
		}
	}
	if err == nil {
		if req.Header.IsHead() {
			resp.SkipBody = true
		}
		x.untilClose, err = readResponse(resp, &rr, int(h.maxBody))
	}

	aborted := false
	if watching {
		pc.serving.Store(0)
		// A watch firing from here on finds serving unset; one that fired
		// before left the deadline in the past.
		aborted = ctx.Err() != nil
	}
	if err != nil || aborted || resp.ConnectionClose() || req.ConnectionClose() || rr.large || rr.br.Buffered() > 0 {
		// A failed or aborted exchange leaves the connection in an unknown
		// state, and an aborted one with a deadline in the past. Bytes
		// after the response (a HEAD answered with a body, say) would be
		// read as the next request's response. A large header section
		// left the connection's own buffer behind (respReader).
		p.discard(pc)
	} else {
		p.put(pc)
	}
	return err
}

// acquire takes one of the host's tokens, waiting for one if need be.
func (p *hostPool) acquire(ctx context.Context, deadline time.Time) error {
	select {
	case p.sem <- struct{}{}:
		return nil
	default:
	}
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case p.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return fmt.Errorf("waiting for one of %d connections to %s: %w", cap(p.sem), p.addr, fasthttp.ErrTimeout)
	}
}

// conn returns the most recently used idle connection or a new one.
func (p *hostPool) conn(ctx context.Context, now, deadline time.Time) (*poolConn, error) {
	for {
		p.mu.Lock()
		n := len(p.idle)
		if n == 0 {
			p.mu.Unlock()
			break
		}
		pc := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		idle := now.Sub(pc.lastUse)
		if idle > p.idleTimeout || (idle > checkIdleAfter && !alive(pc.c)) {
			p.discard(pc)
			continue
		}
		return pc, nil
	}
	d := net.Dialer{Deadline: deadline, Timeout: p.dialTimeout}
	c, err := d.DialContext(ctx, "tcp", p.addr)
	if err != nil {
		return nil, err
	}
	return &poolConn{c: newRawIO(c)}, nil
}

// attach gives pc buffers for a request.
func (pc *poolConn) attach() {
	pc.buf = connBufferPool.Get().(*connBuffers)
	pc.buf.br.Reset(pc.c)
	pc.buf.bw.Reset(pc.c)
}

// detach returns pc's buffers, with nothing left in them, to the pool.
func (pc *poolConn) detach() {
	if pc.buf == nil {
		return
	}
	pc.buf.br.Reset(nil)
	pc.buf.bw.Reset(nil)
	connBufferPool.Put(pc.buf)
	pc.buf = nil
}

// checkIdleAfter is how long a connection must have idled before it is
// checked for a close by the server. A server's keep-alive timeout closes
// connections while they idle in the pool (Node.js: after 5 s); without the
// check, a synthetic monitor sending a request every 10 s would reuse a
// closed connection every time and report eof. Under load connections idle
// for microseconds and skip the system call.
const checkIdleAfter = 200 * time.Millisecond

// Buffer sizes of a plain connection. A response header section larger
// than the read buffer moves to one of maxHeaderBytes (respReader).
const (
	readBufferSize  = 4 << 10
	writeBufferSize = 4 << 10
)

// aLongTimeAgo is a deadline that has passed: setting it aborts blocked I/O.
var aLongTimeAgo = time.Unix(1, 0)

func (p *hostPool) put(pc *poolConn) {
	pc.detach()
	pc.lastUse = time.Now()
	p.mu.Lock()
	p.idle = append(p.idle, pc)
	// The oldest idle connection is first; close it once it has idled too
	// long, so a host that went quiet does not keep sockets forever.
	var stale *poolConn
	if len(p.idle) > 1 && pc.lastUse.Sub(p.idle[0].lastUse) > p.idleTimeout {
		stale = p.idle[0]
		copy(p.idle, p.idle[1:])
		p.idle[len(p.idle)-1] = nil
		p.idle = p.idle[:len(p.idle)-1]
	}
	p.mu.Unlock()
	if stale != nil {
		p.discard(stale)
	}
}

func (p *hostPool) discard(pc *poolConn) {
	pc.detach()
	pc.stopWatching()
	_ = pc.c.Close()
}

func (p *hostPool) closeIdle() {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, pc := range idle {
		p.discard(pc)
	}
}
