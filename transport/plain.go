package transport

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// plainPath sends http:// requests with fasthttp: one *fasthttp.HostClient
// per host:port, in a map bounded by MaxHosts.
//
// Each HostClient runs its exchanges through a connPool (its Transport)
// rather than fasthttp's own pool, for three things fasthttp lacks: a body
// cap per request (HostClient.MaxResponseBodySize is per host), a request
// that stops when its context is cancelled, and no background goroutine
// (fasthttp's idle-connection sweeper outlives Close by up to the idle
// timeout). fasthttp still writes the request and parses the response.
type plainPath struct {
	opts Options

	mu    sync.RWMutex
	hosts map[string]*plainHost // by URL host ("example.com:8080")

	exchanges sync.Pool // *plainExchange
}

type plainHost struct {
	hc   *fasthttp.HostClient
	pool *connPool
	// inflight counts requests using this host; a host with none may be
	// evicted when the map is full.
	inflight atomic.Int64
	lastUse  atomic.Int64 // unix nanoseconds
}

// plainExchange is the pooled state of one hop: the fasthttp request and
// response, and what the connPool needs to know about the hop.
type plainExchange struct {
	req  fasthttp.Request
	resp fasthttp.Response
	call call
}

// call is handed to connPool.RoundTrip through the request's user values.
type call struct {
	ctx      context.Context
	deadline time.Time
	maxBody  int
}

// callKey is the user-value key of a request's *call.
type callKey struct{}

func newPlainPath(o Options) *plainPath {
	p := &plainPath{opts: o, hosts: make(map[string]*plainHost)}
	p.exchanges.New = func() any {
		x := &plainExchange{}
		// Like net/http: no made-up Content-Type on requests, and none on
		// responses that sent none.
		x.req.Header.SetNoDefaultContentType(true)
		x.resp.Header.SetNoDefaultContentType(true)
		// Keep the body buffer across requests instead of returning it to
		// fasthttp's pool each time; put drops it when it grew too large.
		x.resp.KeepBodyBuffer = true
		return x
	}
	return p
}

// errTooManyHosts refuses a request to a new host while MaxHosts hosts are
// busy.
var errTooManyHosts = fmt.Errorf("too many hosts in use (at most %d with plain http)", MaxHosts)

// host returns the pool for key, creating it (and evicting an idle one when
// the map is full) if needed. The caller must call release.
func (p *plainPath) host(key string) (*plainHost, error) {
	p.mu.RLock()
	h := p.hosts[key]
	if h != nil {
		h.inflight.Add(1)
	}
	p.mu.RUnlock()
	if h != nil {
		return h, nil
	}

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
	return h, nil
}

func (p *plainPath) release(h *plainHost) {
	h.lastUse.Store(time.Now().UnixNano())
	h.inflight.Add(-1)
}

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
	p.hosts[victim].pool.closeIdle()
	delete(p.hosts, victim)
	return true
}

func (p *plainPath) newHost(key string) *plainHost {
	addr := key
	if _, port, err := net.SplitHostPort(key); err != nil || port == "" {
		addr = net.JoinHostPort(trimBrackets(key), "80")
	}
	pool := &connPool{
		addr:        addr,
		sem:         make(chan struct{}, p.opts.MaxConnsPerHost),
		dialTimeout: p.opts.DialTimeout,
		idleTimeout: p.opts.IdleConnTimeout,
	}
	hc := &fasthttp.HostClient{
		Addr:      addr,
		Transport: pool,
		// The target sees each request exactly once: no second attempt,
		// whatever the error. connPool.RoundTrip never asks for one either.
		MaxIdemponentCallAttempts: 1,
		RetryIfErr:                func(*fasthttp.Request, int, error) (bool, bool) { return false, false },
		// Send the path as the URL has it, like net/http.
		DisablePathNormalizing: true,
		// User-Agent: Options.UserAgent when the request has none, and no
		// "fasthttp" default.
		Name:                     p.opts.UserAgent,
		NoDefaultUserAgentHeader: true,
	}
	h := &plainHost{hc: hc, pool: pool}
	h.lastUse.Store(time.Now().UnixNano())
	return h
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
		h.pool.closeIdle()
	}
}

// do sends one hop and fills resp; it returns the Location of a redirect.
func (p *plainPath) do(ctx context.Context, h *hop, resp *Response) (location string, err error) {
	host, err := p.host(h.url.Host)
	if err != nil {
		return "", err
	}
	defer p.release(host)

	x := p.exchanges.Get().(*plainExchange)
	defer p.put(x)
	req := &x.req

	req.Header.SetMethod(h.method)
	uri := req.URI()
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
	if len(h.body) > 0 {
		req.SetBodyRaw(h.body)
	}

	x.call = call{ctx: ctx, deadline: h.deadline, maxBody: int(h.maxBody)}
	req.SetUserValue(callKey{}, &x.call)

	fresp := &x.resp
	if err := host.hc.DoDeadline(req, fresp, h.deadline); err != nil {
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
			resp.Header = append(resp.Header, Header{Name: string(k), Value: string(v)})
		}
		sortHeader(resp.Header)
	}
	if isRedirect(resp.Status) {
		location = string(fresp.Header.Peek("Location"))
	}
	return location, nil
}

func (p *plainPath) put(x *plainExchange) {
	x.call = call{}
	x.req.Reset()
	x.req.Header.SetNoDefaultContentType(true)
	// Response.Reset keeps its buffers; a huge body's buffer is dropped so
	// that pooled responses do not pin megabytes.
	if cap(x.resp.Body()) > keepBodyCap {
		x.resp.SwapBody(nil)
	}
	x.resp.Reset()
	x.resp.Header.SetNoDefaultContentType(true)
	p.exchanges.Put(x)
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

// connPool is a bounded pool of keep-alive connections to one address and
// the fasthttp.RoundTripper of that address's HostClient.
//
// A request holds one of MaxConnsPerHost tokens while it runs; it takes an
// idle connection or, when there is none, dials one. So a host never has
// more connections than tokens, the idle list is bounded by the same
// number, and waiting for a token honours the request's context and
// deadline.
type connPool struct {
	addr        string
	sem         chan struct{}
	dialTimeout time.Duration
	idleTimeout time.Duration

	mu   sync.Mutex
	idle []*poolConn // most recently used last
}

type poolConn struct {
	c       net.Conn
	br      *bufio.Reader
	bw      *bufio.Writer
	lastUse time.Time
	// abort makes the connection's blocked reads and writes fail at once:
	// the context of the request using it was cancelled. It is built once
	// per connection so that watching a context allocates nothing more.
	abort func()
}

var _ fasthttp.RoundTripper = (*connPool)(nil)

// errClosedEarly is a connection closed before the first response byte.
var errClosedEarly = fmt.Errorf("server closed the connection before responding: %w", io.EOF)

// errNoCall is a bug guard: every request this package sends carries one.
var errNoCall = errors.New("transport: request without call state")

// RoundTrip performs one exchange on a pooled connection. It never asks
// for a retry.
func (p *connPool) RoundTrip(_ *fasthttp.HostClient, req *fasthttp.Request, resp *fasthttp.Response) (retry bool, err error) {
	cl, _ := req.UserValue(callKey{}).(*call)
	if cl == nil {
		return false, errNoCall
	}
	if err := p.acquire(cl.ctx, cl.deadline); err != nil {
		return false, err
	}
	defer func() { <-p.sem }()

	pc, err := p.conn(cl.ctx, cl.deadline)
	if err != nil {
		return false, err
	}
	if err := pc.c.SetDeadline(cl.deadline); err != nil {
		p.discard(pc)
		return false, err
	}
	var stop func() bool
	if cl.ctx.Done() != nil {
		stop = context.AfterFunc(cl.ctx, pc.abort)
	}

	err = req.Write(pc.bw)
	if err == nil {
		err = pc.bw.Flush()
	}
	if err == nil {
		// fasthttp reports any failure before the first response byte as
		// io.EOF; peeking first keeps the real cause (a reset, say).
		if _, err = pc.br.Peek(1); err == io.EOF {
			err = errClosedEarly
		}
	}
	if err == nil {
		if req.Header.IsHead() {
			resp.SkipBody = true
		}
		err = resp.ReadLimitBody(pc.br, cl.maxBody)
	}

	aborted := stop != nil && !stop()
	if err != nil || aborted || resp.ConnectionClose() || req.ConnectionClose() || pc.br.Buffered() > 0 {
		// A failed or aborted exchange leaves the connection in an unknown
		// state, and an aborted one with a deadline in the past. Bytes
		// after the response (a HEAD answered with a body, say) would be
		// read as the next request's response.
		p.discard(pc)
	} else {
		p.put(pc)
	}
	return false, err
}

// acquire takes one of the host's tokens, waiting for one if need be.
func (p *connPool) acquire(ctx context.Context, deadline time.Time) error {
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
func (p *connPool) conn(ctx context.Context, deadline time.Time) (*poolConn, error) {
	now := time.Now()
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
		if now.Sub(pc.lastUse) > p.idleTimeout {
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
	pc := &poolConn{
		c:  c,
		br: bufio.NewReaderSize(c, readBufferSize),
		bw: bufio.NewWriterSize(c, writeBufferSize),
	}
	pc.abort = func() { _ = c.SetDeadline(aLongTimeAgo) }
	return pc, nil
}

// Buffer sizes of a plain connection. The read buffer bounds the response
// header section, as maxHeaderBytes does on the https path.
const (
	readBufferSize  = maxHeaderBytes
	writeBufferSize = 4 << 10
)

// aLongTimeAgo is a deadline that has passed: setting it aborts blocked I/O.
var aLongTimeAgo = time.Unix(1, 0)

func (p *connPool) put(pc *poolConn) {
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

func (p *connPool) discard(pc *poolConn) {
	_ = pc.c.Close()
}

func (p *connPool) closeIdle() {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, pc := range idle {
		p.discard(pc)
	}
}
