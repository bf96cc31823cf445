// Package transport sends canary's HTTP requests. It owns the connection
// pools, redirects, the response-body cap, per-request timeouts, the host
// allow-list and the classification of every failure into a stats.ErrorClass.
//
// http:// and https:// go through a lean HTTP/1.1 client (fasthttp's
// request writer and header parser over canary's own connection pool, raw
// socket I/O and crypto/tls) because the load engine needs several times the
// throughput of net/http's defaults. HTTP/2 (h2 over TLS, h2c in the clear)
// is an option for targets that speak nothing else, through net/http.
// Everything above the wire — redirects, the body cap and budget, timeouts,
// allow-list, classification — is implemented once, so both paths behave
// identically. The client never retries: the target sees each request
// exactly once.
package transport

import (
	"crypto/x509"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/canaryproj/canary/redact"
	"github.com/canaryproj/canary/stats"
)

// Defaults.
const (
	DefaultTimeout      = 5 * time.Second
	DefaultMaxBody      = 10 << 20 // 10 MiB, a scenario's defaults.max_body
	DefaultMaxRedirects = 10
	DefaultMaxConns     = 1000
	// DefaultIdleConnTimeout closes connections unused for this long. It is
	// shorter than the keep-alive timeouts of common servers (nginx 75 s,
	// load balancers 60 s), so the client seldom reuses a connection the
	// server is about to close.
	DefaultIdleConnTimeout = 30 * time.Second
	// MaxHosts bounds the HTTP/1.1 connection pools (one per scheme, host
	// and port).
	MaxHosts = 256
	// DefaultMaxBodyMemory bounds the response bodies one client holds at
	// once (Options.MaxBodyMemory).
	DefaultMaxBodyMemory = 128 << 20
)

// TLSOptions are a scenario's defaults.tls.
type TLSOptions struct {
	InsecureSkipVerify bool
	CAFile             string // PEM bundle added to the system roots
	CertFile, KeyFile  string // client certificate
	ServerName         string // SNI override; empty = the URL's host
}

// Options configure a Client.
type Options struct {
	// MaxConnsPerHost bounds connections to each host; the load engine sets it
	// from max_inflight (open model) or the VU count (closed model).
	MaxConnsPerHost int
	TLS             TLSOptions
	// MaxRedirects bounds a redirect chain when a request follows redirects.
	MaxRedirects int
	// Allow, when set, is asked before every request and every redirect hop;
	// a non-nil error refuses the request (class "host_not_allowed"; the
	// message names the host, then the error's text). host is the URL's
	// host name in lower case, without the port. Do calls it from many
	// goroutines at once.
	Allow func(host string) error
	// DialTimeout bounds connecting; 0 = the request's own timeout.
	DialTimeout time.Duration
	// IdleConnTimeout closes connections idle for longer; 0 =
	// DefaultIdleConnTimeout.
	IdleConnTimeout time.Duration
	// UserAgent is sent when a request sets none.
	UserAgent string
	// HTTP2 sends every request over HTTP/2: h2 for https:// (ALPN h2
	// only), h2c with prior knowledge for http://. For targets that speak
	// nothing else; without it every request is HTTP/1.1.
	HTTP2 bool
	// MaxBodyMemory bounds the bytes of response bodies kept at once across
	// all requests in flight; a body that would grow past it while others
	// hold it fails with body_too_large. Only the part of each body past
	// 64 KiB counts. 0 = DefaultMaxBodyMemory.
	MaxBodyMemory int64
	// Secrets are redacted from error messages.
	Secrets *redact.Set
}

// Header is one request or response header field.
type Header struct {
	Name, Value string
}

// Request is one HTTP exchange to perform. The client does not keep it.
type Request struct {
	Method string // default GET
	URL    string // absolute http:// or https:// URL
	// Parsed, when set, is URL as ParseURL returned it: a request sent many
	// times (a scenario's static step) is parsed once, not per request.
	// Do trusts it to match URL and never modifies it.
	Parsed *url.URL
	Header []Header
	Body   []byte

	Timeout         time.Duration // whole exchange including redirects; 0 = DefaultTimeout
	FollowRedirects bool
	MaxBody         int64 // body cap; 0 = DefaultMaxBody; more is ClassBodyTooLarge

	// NeedHeaders asks for Response.Header to be filled. Scenarios that never
	// look at response headers skip the copy.
	NeedHeaders bool
	// DiscardBody reads the response body to its end, counting it against
	// MaxBody, and keeps none of it: for requests whose body nothing reads.
	DiscardBody bool
}

// Response receives the result of Do. Reuse one Response per worker: Body and
// Header keep their capacity across calls.
type Response struct {
	Status    int
	Proto     string   // "HTTP/1.1", "HTTP/2.0"
	Header    []Header // only when Request.NeedHeaders
	Body      []byte
	URL       string // the final URL after redirects
	Redirects int    // redirects followed
	// TLS holds, for each hop over https:// (a redirect may add hops to
	// other hosts), the certificate chain its connection's handshake was
	// served. The certificates are the connection's: read them, never
	// modify them.
	TLS []PeerCert
	// Trace, when set, receives what a failure sample shows of the
	// exchange (see Trace). Do keeps the pointer and clears its contents.
	Trace *Trace

	// A Body buffer larger than keepBodyCap is counted against its client's
	// body budget while the Response holds it.
	budget *bodyBudget
	held   int64
}

// PeerCert is the certificate chain a server presented on a TLS
// handshake, leaf first.
type PeerCert struct {
	Host  string // the URL's host name, without the port
	Chain []*x509.Certificate
}

// Reset clears r for reuse, keeping its buffers.
func (r *Response) Reset() {
	r.Status, r.Proto, r.URL, r.Redirects = 0, "", "", 0
	clear(r.TLS) // the certificates are not kept alive by a reused Response
	r.TLS = r.TLS[:0]
	r.Header = r.Header[:0]
	r.Body = r.Body[:0]
}

// Release drops a Body buffer larger than 64 KiB, giving its bytes back to
// the client's body budget. Do releases the Response it is given first;
// call Release when done with a Response that may not see another Do, so
// that a large body does not count against the budget meanwhile.
func (r *Response) Release() {
	if r.held != 0 {
		r.budget.give(r.held)
		r.held, r.budget = 0, nil
	}
	if cap(r.Body) > keepBodyCap {
		r.Body = nil
	}
}

// Get returns the first value of the named header (case-insensitive).
func (r *Response) Get(name string) string {
	for _, h := range r.Header {
		if strings.EqualFold(h.Name, name) {
			return h.Value
		}
	}
	return ""
}

// Values returns every value of the named header (case-insensitive).
func (r *Response) Values(name string) []string {
	var out []string
	for _, h := range r.Header {
		if strings.EqualFold(h.Name, name) {
			out = append(out, h.Value)
		}
	}
	return out
}

// Error is a failed exchange: no usable response arrived.
type Error struct {
	Class  stats.ErrorClass
	Method string
	URL    string // redacted
	Err    error  // the cause, its text redacted when printed
	msg    string
}

// NewError builds an Error whose message has secrets and URL user-info
// redacted.
func NewError(class stats.ErrorClass, method, url string, cause error, secrets *redact.Set) *Error {
	e := &Error{Class: class, Method: method, URL: secrets.String(url), Err: cause}
	e.msg = secrets.String(fmt.Sprintf("%s %s: %s: %v", method, url, class, cause))
	return e
}

func (e *Error) Error() string { return e.msg }
func (e *Error) Unwrap() error { return e.Err }
