package transport

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
)

// tlsPath sends https:// requests with net/http: TLS from the options,
// HTTP/2 where the server offers it.
type tlsPath struct {
	rt        *http.Transport
	userAgent string

	// h2 remembers the hosts that answered over HTTP/2 (see body). Bounded
	// by MaxHosts; hosts beyond are treated as HTTP/1.
	mu sync.Mutex
	h2 map[string]bool
}

func newTLSPath(o Options, conf *tls.Config) *tlsPath {
	d := &net.Dialer{Timeout: o.DialTimeout}
	rt := &http.Transport{
		// No proxy from the environment: the target is measured directly,
		// as on the plain path.
		Proxy:             nil,
		DialContext:       d.DialContext,
		TLSClientConfig:   conf,
		ForceAttemptHTTP2: true,
		MaxConnsPerHost:   o.MaxConnsPerHost,
		// Every connection a host may have can stay idle: a closed loop
		// must not reconnect between iterations.
		MaxIdleConnsPerHost: o.MaxConnsPerHost,
		MaxIdleConns:        4 * o.MaxConnsPerHost,
		IdleConnTimeout:     o.IdleConnTimeout,
		// No Accept-Encoding added behind the scenario's back: the body is
		// what the target sent, as on the plain path.
		DisableCompression:     true,
		MaxResponseHeaderBytes: maxHeaderBytes,
	}
	return &tlsPath{rt: rt, userAgent: o.UserAgent, h2: make(map[string]bool)}
}

func (p *tlsPath) closeIdle() { p.rt.CloseIdleConnections() }

// do sends one hop and fills resp; it returns the Location of a redirect.
func (p *tlsPath) do(ctx context.Context, h *hop, resp *Response) (location string, err error) {
	// net/http's only deadline is the context's; it covers reading the body.
	ctx, cancel := context.WithDeadline(ctx, h.deadline)
	defer cancel()
	// The URL is set after the fact: h.url is already parsed and checked.
	hreq, err := http.NewRequestWithContext(ctx, h.method, "", nil)
	if err != nil {
		return "", err
	}
	u := *h.url // h.url may be shared with other requests; net/http gets its own
	hreq.URL = &u
	hreq.Host = h.url.Host
	if h.host != "" {
		hreq.Host = h.host
	}
	hreq.Header = make(http.Header, len(h.header)+1)
	for _, f := range h.header {
		if h.sendHeader(f.Name) {
			hreq.Header.Add(f.Name, f.Value)
		}
	}
	if u := h.url.User; u != nil && hreq.Header.Get("Authorization") == "" {
		// What http.Client does, and fasthttp on the plain path.
		pw, _ := u.Password()
		hreq.SetBasicAuth(u.Username(), pw)
	}
	if !h.hasUserAgent() {
		// An empty value tells net/http to send no User-Agent rather than
		// its own; the plain path sends none either.
		hreq.Header["User-Agent"] = []string{p.userAgent}
	}
	p.body(hreq, h)

	hresp, err := p.rt.RoundTrip(hreq)
	if err != nil {
		return "", err
	}
	defer hresp.Body.Close()
	p.remember(h.url.Host, hresp.ProtoMajor == 2)

	resp.Status = hresp.StatusCode
	resp.Proto = hresp.Proto
	resp.Body, err = readBody(resp.Body[:0], hresp.Body, h.maxBody, hresp.ContentLength)
	if err != nil {
		return "", err
	}
	if h.needHeaders {
		resp.Header = resp.Header[:0]
		for k, vs := range hresp.Header {
			for _, v := range vs {
				resp.Header = append(resp.Header, Header{Name: k, Value: v})
			}
		}
		sortHeader(resp.Header)
	}
	if isRedirect(resp.Status) {
		location = hresp.Header.Get("Location")
	}
	return location, nil
}

// body sets hreq's body so that net/http never sends the request twice.
//
// net/http's HTTP/1 transport resends a "replayable" request — GET, HEAD,
// OPTIONS, TRACE, or one with an Idempotency-Key — when a reused connection
// fails before the response starts, which includes a server that read the
// request and then closed. The target would see it twice. A request whose
// Body is set but cannot be rewound (GetBody nil) is not replayable, so
// bodiless requests of those methods get an empty non-rewindable Body
// (net/http probes it, finds it empty and sends no body, so the wire is
// unchanged).
//
// HTTP/2 only resends requests the server refused unprocessed (GOAWAY,
// REFUSED_STREAM), which is safe and must stay possible: servers like nginx
// send GOAWAY every keepalive_requests. There, the body of an empty request
// stays nil and a non-empty one gets GetBody. Which protocol a host speaks
// is known once it has answered; until then the HTTP/1 rule applies.
func (p *tlsPath) body(hreq *http.Request, h *hop) {
	replayable := replayableMethod(h.method) || hasIdempotencyKey(h.header)
	if len(h.body) == 0 {
		if replayable && !p.isH2(h.url.Host) && probedMethod(h.method) {
			hreq.Body = emptyBody{}
		}
		return
	}
	body := h.body
	hreq.ContentLength = int64(len(body))
	hreq.Body = io.NopCloser(bytes.NewReader(body))
	if !replayable || p.isH2(h.url.Host) {
		hreq.GetBody = func() (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(body)), nil
		}
	}
}

func replayableMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return false
}

// probedMethod reports whether net/http probes an unknown-length body of
// the method instead of sending it chunked.
func probedMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return true
	}
	return false
}

func hasIdempotencyKey(header []Header) bool {
	for _, f := range header {
		if strings.EqualFold(f.Name, "Idempotency-Key") || strings.EqualFold(f.Name, "X-Idempotency-Key") {
			return true
		}
	}
	return false
}

// emptyBody is an empty request body net/http cannot rewind.
type emptyBody struct{}

func (emptyBody) Read([]byte) (int, error) { return 0, io.EOF }
func (emptyBody) Close() error             { return nil }

func (p *tlsPath) isH2(host string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.h2[host]
}

func (p *tlsPath) remember(host string, h2 bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if old, ok := p.h2[host]; ok && old == h2 {
		return
	}
	if _, ok := p.h2[host]; !ok && len(p.h2) >= MaxHosts {
		return
	}
	p.h2[host] = h2
}
