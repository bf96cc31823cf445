package transport

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
)

// h2Path sends requests over HTTP/2 with net/http, when Options.HTTP2 asks
// for it: h2 for https:// (ALPN h2 alone), h2c with prior knowledge for
// http://. It is for targets that speak nothing else; HTTP/1.1 keeps the
// lean path.
type h2Path struct {
	rt        *http.Transport
	userAgent string
}

func newH2Path(o Options, conf *tls.Config) *h2Path {
	d := &net.Dialer{Timeout: o.DialTimeout}
	var protocols http.Protocols
	protocols.SetHTTP2(true)
	protocols.SetUnencryptedHTTP2(true)
	rt := &http.Transport{
		// No proxy from the environment: the target is measured directly,
		// as on the HTTP/1.1 path.
		Proxy:           nil,
		DialContext:     d.DialContext,
		TLSClientConfig: conf,
		Protocols:       &protocols,
		MaxConnsPerHost: o.MaxConnsPerHost,
		// Every connection a host may have can stay idle: a closed loop
		// must not reconnect between iterations.
		MaxIdleConnsPerHost: o.MaxConnsPerHost,
		MaxIdleConns:        4 * o.MaxConnsPerHost,
		IdleConnTimeout:     o.IdleConnTimeout,
		// No Accept-Encoding added behind the scenario's back: the body is
		// what the target sent, as on the HTTP/1.1 path.
		DisableCompression:     true,
		MaxResponseHeaderBytes: maxHeaderBytes,
	}
	return &h2Path{rt: rt, userAgent: o.UserAgent}
}

func (p *h2Path) closeIdle() { p.rt.CloseIdleConnections() }

// appendHeader appends net/http's header fields to dst, sorted by name.
func appendHeader(dst []Header, hh http.Header) []Header {
	for k, vs := range hh {
		for _, v := range vs {
			dst = append(dst, Header{Name: k, Value: v})
		}
	}
	sortHeader(dst)
	return dst
}

// do sends one hop and fills resp; it returns the Location of a redirect.
func (p *h2Path) do(ctx context.Context, h *hop, resp *Response) (location string, err error) {
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
		// What http.Client does, and fasthttp on the HTTP/1.1 path.
		pw, _ := u.Password()
		hreq.SetBasicAuth(u.Username(), pw)
	}
	if !h.hasUserAgent() {
		// An empty value tells net/http to send no User-Agent rather than
		// its own; the HTTP/1.1 path sends none either.
		hreq.Header["User-Agent"] = []string{p.userAgent}
	}
	if body := h.body; len(body) > 0 {
		hreq.ContentLength = int64(len(body))
		hreq.Body = io.NopCloser(bytes.NewReader(body))
		// HTTP/2 resends a request only when the server refused it
		// unprocessed (GOAWAY, REFUSED_STREAM), which is safe and must stay
		// possible: servers such as nginx send GOAWAY every
		// keepalive_requests. The target still sees the request once.
		hreq.GetBody = func() (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(body)), nil
		}
	}

	hresp, err := p.rt.RoundTrip(hreq)
	if err != nil {
		return "", err
	}
	defer hresp.Body.Close()

	resp.Status = hresp.StatusCode
	resp.Proto = hresp.Proto
	if hresp.TLS != nil {
		resp.TLS = append(resp.TLS, PeerCert{Host: h.url.Hostname(), Chain: hresp.TLS.PeerCertificates})
	}
	body := h.bodyReader(resp)
	body.traced(resp.Status)
	err = body.stream(hresp.Body, hresp.ContentLength)
	body.done(resp, err)
	if err != nil {
		return "", err
	}
	if h.needHeaders {
		resp.Header = appendHeader(resp.Header[:0], hresp.Header)
	} else if t := h.trace; t != nil && t.Detailed {
		t.Header = appendHeader(t.Header[:0], hresp.Header)
	}
	if isRedirect(resp.Status) {
		location = hresp.Header.Get("Location")
	}
	return location, nil
}
