package transport

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
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

// h1Path sends HTTP/1.1 requests, http:// and https:// alike: fasthttp
// writes each request (fasthttp.Request.Write) and parses each response's
// header section; bodyReader reads the body. Connections come from one
// hostPool per scheme, host and port, in a map bounded by MaxHosts; an
// https:// pool wraps each connection's raw I/O in crypto/tls, so TLS costs
// the encryption and nothing else.
//
// The pools are this package's rather than fasthttp.HostClient's. A
// HostClient would bring a retry loop (which must never run: the target
// sees each request once), one body cap per host where each request has
// its own, no way to stop a request whose context is cancelled, and an
// idle-connection sweeper goroutine that outlives Close by up to the idle
// timeout. Going through HostClient.Do also cost 6 % of the throughput of
// a closed loop of 50 goroutines (BenchmarkDoParallel).
type h1Path struct {
	opts Options
	tls  *tls.Config // for https:// hosts; ServerName is set per host

	mu    sync.RWMutex
	hosts map[hostKey]*hostPool

	exchanges sync.Pool // *h1Exchange
}

// hostKey names a pool: a struct rather than a string, so that finding
// the pool of an https:// host allocates nothing.
type hostKey struct {
	https bool
	host  string // the URL's host: "example.com:8080"
}

// h1Exchange is the pooled fasthttp request and response header of one
// hop.
type h1Exchange struct {
	req  fasthttp.Request
	hdr  fasthttp.ResponseHeader
	peer []*x509.Certificate // the chain of the connection that carried it
}

func newH1Path(o Options, conf *tls.Config) *h1Path {
	p := &h1Path{opts: o, tls: conf, hosts: make(map[hostKey]*hostPool)}
	p.exchanges.New = func() any {
		x := &h1Exchange{}
		x.init()
		return x
	}
	return p
}

func (x *h1Exchange) init() {
	// Like net/http: no made-up Content-Type on requests, and none on
	// responses that sent none.
	x.req.Header.SetNoDefaultContentType(true)
	x.hdr.SetNoDefaultContentType(true)
}

func (p *h1Path) put(x *h1Exchange) {
	x.req.Reset()
	x.hdr.Reset()
	x.peer = nil
	x.init()
	p.exchanges.Put(x)
}

// errTooManyHosts refuses a request to a new host while MaxHosts hosts have
// requests in flight.
var errTooManyHosts = fmt.Errorf("too many hosts in use (at most %d)", MaxHosts)

// host returns the pool for key, creating it (and evicting an idle one when
// the map is full) if needed. The caller must call release.
func (p *h1Path) host(key hostKey, now time.Time) (*hostPool, error) {
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

func (p *h1Path) release(h *hostPool) { h.inflight.Add(-1) }

// evictLocked drops the least recently used host without requests in
// flight. p.mu must be held for writing, so no request can pick the host up
// meanwhile.
func (p *h1Path) evictLocked() bool {
	var (
		victim hostKey
		found  bool
		oldest int64
	)
	for k, h := range p.hosts {
		if h.inflight.Load() != 0 {
			continue
		}
		if t := h.lastUse.Load(); !found || t < oldest {
			victim, oldest, found = k, t, true
		}
	}
	if !found {
		return false
	}
	p.hosts[victim].closeIdle()
	delete(p.hosts, victim)
	return true
}

func (p *h1Path) newHost(key hostKey) *hostPool {
	port := "80"
	if key.https {
		port = "443"
	}
	addr := key.host
	if _, pt, err := net.SplitHostPort(key.host); err != nil || pt == "" {
		addr = net.JoinHostPort(trimBrackets(key.host), port)
	}
	h := &hostPool{
		addr:        addr,
		sem:         make(chan struct{}, p.opts.MaxConnsPerHost),
		dialTimeout: p.opts.DialTimeout,
		idleTimeout: p.opts.IdleConnTimeout,
		procs:       int64(runtime.GOMAXPROCS(0)),
	}
	if key.https {
		h.tls = p.tls.Clone()
		if h.tls.ServerName == "" {
			// The name the certificate must carry, and SNI (which Go
			// leaves out for an IP address), as net/http does.
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				host = addr
			}
			h.tls.ServerName = host
		}
	}
	return h
}

func trimBrackets(host string) string {
	if len(host) > 1 && host[0] == '[' && host[len(host)-1] == ']' {
		return host[1 : len(host)-1]
	}
	return host
}

func (p *h1Path) closeIdle() {
	p.mu.RLock()
	defer p.mu.RUnlock()
	for _, h := range p.hosts {
		h.closeIdle()
	}
}

// do sends one hop and fills resp; it returns the Location of a redirect.
func (p *h1Path) do(ctx context.Context, h *hop, resp *Response) (location string, err error) {
	https := h.url.Scheme == "https"
	host, err := p.host(hostKey{https: https, host: h.url.Host}, h.start)
	if err != nil {
		return "", err
	}
	defer p.release(host)

	x := p.exchanges.Get().(*h1Exchange)
	defer p.put(x)
	req := &x.req

	req.Header.SetMethod(h.method)
	uri := req.URI()
	// The path goes out as the URL has it, as with net/http.
	uri.DisablePathNormalizing = true
	uri.SetScheme(h.url.Scheme)
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

	body := h.bodyReader(resp)
	status, untilClose, err := host.exchange(ctx, h, x, &body)
	// The status the target sent, also when its body then failed (over
	// the cap, cut short).
	resp.Status = status
	body.done(resp, err)
	if err != nil {
		return "", err
	}
	hdr := &x.hdr
	resp.Proto = protoString(hdr.Protocol())
	if x.peer != nil {
		resp.TLS = append(resp.TLS, PeerCert{Host: h.url.Hostname(), Chain: x.peer})
	}
	if h.needHeaders {
		resp.Header = copyHeader(resp.Header[:0], hdr, untilClose)
	} else if t := h.trace; t != nil && t.Detailed {
		t.Header = copyHeader(t.Header[:0], hdr, untilClose)
	}
	if isRedirect(resp.Status) {
		location = string(hdr.Peek("Location"))
	}
	return location, nil
}

// copyHeader appends the response's header fields to dst, as net/http's
// Response.Header would hold them, sorted by name.
func copyHeader(dst []Header, hdr *fasthttp.ResponseHeader, untilClose bool) []Header {
	for k, v := range hdr.All() {
		if !netHTTPKeeps(k, v, untilClose) {
			continue
		}
		dst = append(dst, Header{Name: string(k), Value: string(v)})
	}
	sortHeader(dst)
	return dst
}

// netHTTPKeeps reports whether net/http's Response.Header would hold the
// field: net/http takes Transfer-Encoding, Trailer and "Connection: close"
// out, while fasthttp makes up "Connection: close" for an HTTP/1.0 response
// and a Content-Length for a body that ran until the connection closed.
// Skipping them keeps Response.Header what it was when https:// went
// through net/http.
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

// readResponse reads a response — header section after any interim 1xx
// responses, body, trailer — into hdr and body. It returns the final
// status as soon as it is known, and whether the body ran until the
// connection closed.
func readResponse(hdr *fasthttp.ResponseHeader, r *respReader, body *bodyReader, head bool) (status int, untilClose bool, err error) {
	if err := r.header(hdr.Read); err != nil {
		return 0, false, err
	}
	for n := 0; ; n++ {
		code := hdr.StatusCode()
		if code < 100 || code > 199 || code == fasthttp.StatusSwitchingProtocols {
			break
		}
		if n >= maxInterimResponses {
			return 0, false, fmt.Errorf("more than %d interim (1xx) responses", maxInterimResponses)
		}
		if err := r.header(hdr.Read); err != nil {
			return 0, false, err
		}
	}
	status = hdr.StatusCode()
	body.traced(status)
	if head || status < 200 || status == fasthttp.StatusNoContent || status == fasthttp.StatusNotModified {
		return status, false, nil
	}
	switch n := hdr.ContentLength(); {
	case n >= 0:
		return status, false, body.fixed(r.br, int64(n))
	case n == -1: // chunked
		if err := body.chunked(r.br); err != nil {
			return status, false, err
		}
		err := r.header(hdr.ReadTrailer)
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return status, false, err
	default: // until the connection closes
		return status, true, body.untilClose(r.br)
	}
}

// respReader reads a response through the connection's buffer, which is
// small (readBufferSize), and moves to one of maxHeaderBytes when a header
// section does not fit in it: a header section may be as large here as
// net/http allows, while a connection carries 4 KiB, not 64.
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
	tls         *tls.Config // https://: this host's; nil for http://
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

// connBuffers are the buffered reader and writer of a connection while it
// carries a request; an idle connection holds none, so memory follows the
// requests in flight, not the connections in the pool. A long run keeps
// dialling (a burst needs more connections, they idle at the bottom of the
// pool until the idle timeout, the next burst dials again); with buffers
// of its own, each connection was garbage to collect later and the
// resident set climbed for minutes between collections. The pool holds at
// most what was in use since the last two garbage collections. (A TLS
// connection also has crypto/tls's own record buffers, which it keeps.)
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
	c       net.Conn            // what requests are read from and written to: raw, or TLS over it
	raw     net.Conn            // the TCP connection (raw I/O where the system has it)
	peer    []*x509.Certificate // the chain its TLS handshake was served (https://)
	buf     *connBuffers
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
		id, c := pc.watchID, pc.raw
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

// exchange writes x.req and reads the response into x.hdr and body on one
// of the pool's connections. It makes one attempt, whatever happens: there
// is no retry anywhere on this path. status is the final response's, once
// its header section has arrived.
func (p *hostPool) exchange(ctx context.Context, h *hop, x *h1Exchange, body *bodyReader) (status int, untilClose bool, err error) {
	req := &x.req
	deadline := h.deadline
	if err := p.acquire(ctx, deadline); err != nil {
		return 0, false, err
	}
	defer func() { <-p.sem }()

	pc, err := p.conn(ctx, h.start, deadline, h.trace)
	if err != nil {
		return 0, false, err
	}
	x.peer = pc.peer
	pc.attach()
	if err := pc.raw.SetDeadline(deadline); err != nil {
		p.discard(pc)
		return 0, false, err
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
			return 0, false, errCancelledBeforeSending
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
		status, untilClose, err = readResponse(&x.hdr, &rr, body, req.Header.IsHead())
	}

	aborted := false
	if watching {
		pc.serving.Store(0)
		// A watch firing from here on finds serving unset; one that fired
		// before left the deadline in the past.
		aborted = ctx.Err() != nil
	}
	if err != nil || aborted || untilClose || x.hdr.ConnectionClose() || req.ConnectionClose() || rr.large || rr.br.Buffered() > 0 {
		// A failed or aborted exchange leaves the connection in an unknown
		// state, and an aborted one with a deadline in the past. Bytes
		// after the response (a HEAD answered with a body, say) would be
		// read as the next request's response. A large header section
		// left the connection's own buffer behind (respReader).
		p.discard(pc)
	} else {
		p.put(pc)
	}
	return status, untilClose, err
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
func (p *hostPool) conn(ctx context.Context, now, deadline time.Time, trace *Trace) (*poolConn, error) {
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
		if idle > p.idleTimeout || (idle > checkIdleAfter && !alive(pc.raw)) {
			p.discard(pc)
			continue
		}
		return pc, nil
	}
	return p.dial(ctx, deadline, trace)
}

// dial connects, and for https:// makes the TLS handshake (resuming an
// earlier session with the host when the server agrees, through the
// configuration's session cache). With a trace it times each phase.
func (p *hostPool) dial(ctx context.Context, deadline time.Time, trace *Trace) (*poolConn, error) {
	d := net.Dialer{Deadline: deadline, Timeout: p.dialTimeout}
	timer := newDialTimer(trace)
	if timer != nil {
		d.ControlContext = timer.control
	}
	c, err := d.DialContext(ctx, "tcp", p.addr)
	var connected time.Time
	if timer != nil {
		connected = timer.connected()
	}
	if err != nil {
		return nil, err
	}
	raw := newRawIO(c)
	pc := &poolConn{c: raw, raw: raw}
	if p.tls == nil {
		return pc, nil
	}
	if err := raw.SetDeadline(deadline); err != nil {
		_ = raw.Close()
		return nil, err
	}
	tc := tls.Client(raw, p.tls)
	err = tc.HandshakeContext(ctx)
	if timer != nil {
		timer.handshaken(connected)
	}
	if err != nil {
		_ = raw.Close()
		return nil, err
	}
	// ALPN offered http/1.1 alone; a server that picked anything else
	// would not understand what comes next.
	if proto := tc.ConnectionState().NegotiatedProtocol; proto != "" && proto != "http/1.1" {
		_ = raw.Close()
		return nil, fmt.Errorf("tls: server chose protocol %q over http/1.1", proto)
	}
	pc.c, pc.peer = tc, tc.ConnectionState().PeerCertificates
	return pc, nil
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

// Buffer sizes of a connection. A response header section larger than the
// read buffer moves to one of maxHeaderBytes (respReader).
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

// discard closes pc. A TLS connection is closed under its TLS layer,
// without a close_notify: it is a write, which could wait on a peer that
// reads nothing, and an HTTP/1.1 response's end is in its framing, not
// in the TLS close.
func (p *hostPool) discard(pc *poolConn) {
	pc.detach()
	pc.stopWatching()
	_ = pc.raw.Close()
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
