package transport

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/canaryproj/canary/redact"
	"github.com/canaryproj/canary/stats"
)

// maxHeaderBytes bounds a response's header section on both paths.
const maxHeaderBytes = 64 << 10

// Client sends HTTP requests for one scenario or check. It is safe for
// concurrent use; Close releases its idle connections.
type Client struct {
	opts    Options
	secrets *redact.Set
	budget  *bodyBudget
	h1      *h1Path // every request, unless HTTP2
	h2      *h2Path // with Options.HTTP2; else nil
}

// New validates o, applies the defaults and loads the TLS material it names.
func New(o Options) (*Client, error) {
	var errs []error
	if o.MaxConnsPerHost < 0 {
		errs = append(errs, fmt.Errorf("max connections per host %d: must not be negative", o.MaxConnsPerHost))
	}
	if o.MaxRedirects < 0 {
		errs = append(errs, fmt.Errorf("max redirects %d: must not be negative", o.MaxRedirects))
	}
	if o.DialTimeout < 0 {
		errs = append(errs, fmt.Errorf("dial timeout %v: must not be negative", o.DialTimeout))
	}
	if o.IdleConnTimeout < 0 {
		errs = append(errs, fmt.Errorf("idle connection timeout %v: must not be negative", o.IdleConnTimeout))
	}
	if o.MaxBodyMemory < 0 {
		errs = append(errs, fmt.Errorf("body memory %d: must not be negative", o.MaxBodyMemory))
	}
	if o.UserAgent != "" && !validHeaderValue(o.UserAgent) {
		errs = append(errs, fmt.Errorf("user agent %q: not a valid header value", o.UserAgent))
	}
	tlsConf, err := tlsConfig(o.TLS)
	if err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if o.MaxConnsPerHost == 0 {
		o.MaxConnsPerHost = DefaultMaxConns
	}
	if o.MaxRedirects == 0 {
		o.MaxRedirects = DefaultMaxRedirects
	}
	if o.IdleConnTimeout == 0 {
		o.IdleConnTimeout = DefaultIdleConnTimeout
	}
	if o.MaxBodyMemory == 0 {
		o.MaxBodyMemory = DefaultMaxBodyMemory
	}
	c := &Client{opts: o, secrets: o.Secrets, budget: &bodyBudget{limit: o.MaxBodyMemory}}
	if o.HTTP2 {
		c.h2 = newH2Path(o, tlsConf)
	} else {
		h1Conf := tlsConf.Clone()
		h1Conf.NextProtos = []string{"http/1.1"}
		// Whole records from the first byte: the small records that help
		// a browser render early only cost a load generator more writes.
		h1Conf.DynamicRecordSizingDisabled = true
		c.h1 = newH1Path(o, h1Conf)
	}
	return c, nil
}

// Close closes the client's idle connections. Requests still running keep
// theirs until they finish; the client stays usable.
func (c *Client) Close() {
	if c.h2 != nil {
		c.h2.closeIdle()
	} else {
		c.h1.closeIdle()
	}
}

// hop is one request of an exchange: the first, or one redirect. Both wire
// paths build their request from it, so they send the same thing.
type hop struct {
	method string
	url    *url.URL
	header []Header
	body   []byte

	// host overrides the Host header (a "Host" entry of Request.Header);
	// kept only while redirects stay on the same origin.
	host string
	// dropCredentials leaves out Authorization and Cookie headers once a
	// redirect has left the original host, like net/http.
	dropCredentials bool
	// dropContentType leaves out Content-Type once a redirect has dropped
	// the body.
	dropContentType bool

	start       time.Time // when Do began
	deadline    time.Time
	maxBody     int64
	discardBody bool
	budget      *bodyBudget
	needHeaders bool
	trace       *Trace // the response's, or nil
}

// sendHeader reports whether h goes on the wire as an ordinary header
// field. Host has its own field; Content-Length, Transfer-Encoding and
// Trailer are framing, which the client derives from the body on both paths.
func (h *hop) sendHeader(name string) bool {
	switch {
	case strings.EqualFold(name, "Host"),
		strings.EqualFold(name, "Content-Length"),
		strings.EqualFold(name, "Transfer-Encoding"),
		strings.EqualFold(name, "Trailer"):
		return false
	case h.dropContentType && strings.EqualFold(name, "Content-Type"):
		return false
	case h.dropCredentials && isCredential(name):
		return false
	}
	return true
}

func isCredential(name string) bool {
	return strings.EqualFold(name, "Authorization") ||
		strings.EqualFold(name, "Proxy-Authorization") ||
		strings.EqualFold(name, "Cookie")
}

// hasUserAgent reports whether the request sets its own User-Agent.
func (h *hop) hasUserAgent() bool {
	for _, f := range h.header {
		if strings.EqualFold(f.Name, "User-Agent") {
			return true
		}
	}
	return false
}

// Do sends req and fills resp, following redirects when req asks to. It
// returns nil once a response arrived (whatever its status) or a *Error
// saying why none did. resp is reset first; its buffers are reused.
func (c *Client) Do(ctx context.Context, req *Request, resp *Response) error {
	resp.Release()
	resp.Reset()

	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	timeout := req.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	start := time.Now()
	deadline := start.Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	h := hop{
		start:       start,
		method:      method,
		header:      req.Header,
		body:        req.Body,
		deadline:    deadline,
		maxBody:     req.MaxBody,
		discardBody: req.DiscardBody,
		budget:      c.budget,
		needHeaders: req.NeedHeaders,
		trace:       resp.Trace,
	}
	if h.trace != nil {
		h.trace.reset()
	}
	if h.maxBody <= 0 {
		h.maxBody = DefaultMaxBody
	}
	host, err := validate(method, req.Header)
	if err != nil {
		return c.fail(stats.ClassOther, method, req.URL, err)
	}
	h.host = host

	rawURL := req.URL
	u := req.Parsed
	if u == nil {
		if u, err = ParseURL(rawURL); err != nil {
			return c.fail(stats.ClassOther, method, rawURL, err)
		}
	}
	h.url = u
	firstHost := u.Hostname()

	for {
		if c.opts.Allow != nil {
			host := strings.ToLower(h.url.Hostname())
			if err := c.opts.Allow(host); err != nil {
				return c.fail(stats.ClassHostNotAllowed, h.method, rawURL, fmt.Errorf("host %s refused: %w", host, err))
			}
		}
		if err := ctx.Err(); err != nil {
			return c.fail(classifyContext(err), h.method, rawURL, err)
		}
		if resp.Redirects > 0 && !time.Now().Before(h.deadline) {
			return c.fail(stats.ClassTimeout, h.method, rawURL, context.DeadlineExceeded)
		}

		var location string
		if c.h2 != nil {
			location, err = c.h2.do(ctx, &h, resp)
		} else {
			location, err = c.h1.do(ctx, &h, resp)
		}
		if err != nil {
			// A cancelled or expired context explains whatever the wire
			// path saw (an aborted read, a closed connection) better.
			if cerr := ctx.Err(); cerr != nil {
				err = fmt.Errorf("%w (%v)", cerr, err)
			}
			return c.fail(Classify(err), h.method, rawURL, err)
		}
		if resp.Status < 100 || resp.Status > 999 {
			// net/http takes "000" for a status; no server means it.
			return c.fail(stats.ClassOther, h.method, rawURL, fmt.Errorf("invalid status code %d in the response", resp.Status))
		}
		resp.URL = rawURL

		if !req.FollowRedirects || location == "" || !isRedirect(resp.Status) {
			return nil
		}
		if resp.Redirects >= c.opts.MaxRedirects {
			return c.fail(stats.ClassOther, h.method, rawURL, fmt.Errorf("stopped after %d redirects", resp.Redirects))
		}
		next, err := h.url.Parse(location)
		if err != nil {
			return c.fail(stats.ClassOther, h.method, rawURL, fmt.Errorf("redirect to %q: %w", location, err))
		}
		if err := checkURL(next); err != nil {
			return c.fail(stats.ClassOther, h.method, rawURL, fmt.Errorf("redirect to %q: %w", location, err))
		}
		redirect(&h, resp.Status, next, location, firstHost)
		rawURL = next.String()
		resp.Redirects++
	}
}

// redirect turns h into the request that follows a redirect with the given
// status to next (Location loc), with net/http's rules: 301, 302 and 303
// become GET (HEAD stays HEAD) without a body, 307 and 308 keep the method
// and the body. Credentials are not sent to another host, and a Host
// override only survives a relative Location.
func redirect(h *hop, status int, next *url.URL, loc, firstHost string) {
	switch status {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther:
		if h.method != http.MethodHead {
			h.method = http.MethodGet
		}
		if len(h.body) > 0 {
			h.dropContentType = true
		}
		h.body = nil
	}
	if !strings.EqualFold(next.Hostname(), firstHost) {
		h.dropCredentials = true
	}
	if lu, err := url.Parse(loc); err != nil || lu.IsAbs() || lu.Host != "" {
		h.host = ""
	}
	h.url = next
}

func isRedirect(status int) bool {
	switch status {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
		http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return true
	}
	return false
}

// ParseURL parses and checks a request URL as Do does (an absolute
// http:// or https:// URL with a host), for Request.Parsed.
func ParseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error repeats the URL, which the message already has.
		var ue *url.Error
		if errors.As(err, &ue) {
			return nil, fmt.Errorf("bad URL: %w", ue.Err)
		}
		return nil, fmt.Errorf("bad URL: %w", err)
	}
	if err := checkURL(u); err != nil {
		return nil, err
	}
	return u, nil
}

// escapeQuery percent-encodes the bytes of a raw query that cannot go on a
// request line — controls, spaces, non-ASCII — as browsers do. url.Parse
// keeps them, and both wire paths would send them as they are: a space
// there splits the request line.
func escapeQuery(q string) string {
	n := 0
	for i := 0; i < len(q); i++ {
		if c := q[i]; c <= ' ' || c >= 0x7f {
			n++
		}
	}
	if n == 0 {
		return q
	}
	const hex = "0123456789ABCDEF"
	b := make([]byte, 0, len(q)+2*n)
	for i := 0; i < len(q); i++ {
		if c := q[i]; c <= ' ' || c >= 0x7f {
			b = append(b, '%', hex[c>>4], hex[c&15])
		} else {
			b = append(b, c)
		}
	}
	return string(b)
}

func checkURL(u *url.URL) error {
	switch u.Scheme {
	case "http", "https":
	case "":
		return errors.New("URL has no scheme (want http:// or https://)")
	default:
		return fmt.Errorf("unsupported scheme %q (want http or https)", u.Scheme)
	}
	if u.Hostname() == "" {
		return errors.New("URL has no host")
	}
	u.RawQuery = escapeQuery(u.RawQuery)
	return nil
}

// validate rejects what would otherwise reach the wire broken: a method
// that is not a token, header names that are not tokens and values with
// line breaks (header injection). net/http would refuse them, fasthttp
// would not, so the check lives here for both paths. It also returns the Host
// header's value, if any.
func validate(method string, header []Header) (host string, err error) {
	if !validToken(method) {
		return "", fmt.Errorf("invalid method %q", method)
	}
	for _, f := range header {
		if !validToken(f.Name) {
			return "", fmt.Errorf("invalid header name %q", f.Name)
		}
		if !validHeaderValue(f.Value) {
			return "", fmt.Errorf("invalid value for header %s", f.Name)
		}
		if strings.EqualFold(f.Name, "Host") {
			if !validHost(f.Value) {
				return "", fmt.Errorf("invalid Host header %q", f.Value)
			}
			host = f.Value
		}
	}
	return host, nil
}

// validHost reports whether h can be a Host header: the bytes net/http
// allows (a host, a port, an IPv6 literal in brackets), as fasthttp does not
// check.
func validHost(h string) bool {
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!$%&'()*+,-.:;=[]_~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// validToken reports whether s is an RFC 9110 token (a method, a header
// name).
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// validHeaderValue reports whether s can be a header field value: no
// control characters but tab, so no line break that would start a new
// header (or a request).
func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// fail builds the *Error Do returns.
func (c *Client) fail(class stats.ErrorClass, method, rawURL string, cause error) *Error {
	return NewError(class, method, rawURL, cause, c.secrets)
}

func classifyContext(err error) stats.ErrorClass {
	if errors.Is(err, context.DeadlineExceeded) {
		return stats.ClassTimeout
	}
	return stats.ClassOther
}
