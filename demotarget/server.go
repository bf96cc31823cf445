// Package demotarget is canary's built-in sample API (`canary demo-target`):
// a small shop (login, products, a cart behind a bearer token), httpbin-style
// tools (slow answers, chosen statuses, redirect chains, sized bodies) and
// fault knobs (latency, jitter, error ratio) that can be turned at run time
// over /admin/faults, so that a new user can watch canary's SLOs fail and
// recover without a staging environment of their own.
//
// Everything it keeps is bounded: sessions (least recently used evicted,
// evictions counted), carts (one line per catalogue product), request
// bodies, and request counts (per route pattern, never per raw path).
package demotarget

import (
	crand "crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults for Options.
const (
	DefaultMaxSessions   = 10000
	DefaultShutdownGrace = 5 * time.Second
)

// UnmatchedRoute is the Counts key of requests that matched no route
// (answered 404 or 405).
const UnmatchedRoute = "unmatched"

// Options configure a Server.
type Options struct {
	// Logger receives fault changes and server errors; nil discards.
	Logger *slog.Logger
	// Seed seeds the random source of faults (error rolls and jitter), so
	// that a test sees the same sequence every run; 0 picks a random seed.
	Seed uint64
	// Faults are the initial fault knobs. Invalid knobs are logged and
	// ignored: the server starts healthy.
	Faults Faults
	// MaxSessions bounds the logged-in sessions (and their carts) kept;
	// the least recently used is evicted beyond it. 0 means
	// DefaultMaxSessions.
	MaxSessions int
	// AllowPublic lets ListenAndServe listen on a non-loopback address.
	// The fault knobs have no authentication, so exposing them must be a
	// deliberate choice.
	AllowPublic bool
	// ShutdownGrace is how long ListenAndServe lets in-flight requests
	// finish once its context ends before cutting them off. 0 means
	// DefaultShutdownGrace.
	ShutdownGrace time.Duration
}

// Server is the demo API. It is an http.Handler, safe for concurrent use.
type Server struct {
	opts Options
	log  *slog.Logger
	mux  *http.ServeMux

	faults atomic.Pointer[Faults]
	rngMu  sync.Mutex
	rng    *rand.Rand // guarded by rngMu

	patterns  []string                 // route names in registration order, for the index
	counts    map[string]*atomic.Int64 // one per route; read-only after New
	unmatched atomic.Int64
	delayed   atomic.Int64 // requests delayed by a fault
	injected  atomic.Int64 // requests answered with an injected error

	sessions *sessionStore
	catalog  []product
	fill     []byte // the repeating content of /bytes; read-only after New
}

// New returns a Server with o's settings.
func New(o Options) *Server {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxSessions <= 0 {
		o.MaxSessions = DefaultMaxSessions
	}
	if o.ShutdownGrace <= 0 {
		o.ShutdownGrace = DefaultShutdownGrace
	}
	seed := o.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	s := &Server{
		opts:     o,
		log:      o.Logger,
		mux:      http.NewServeMux(),
		rng:      rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		counts:   make(map[string]*atomic.Int64),
		sessions: newSessionStore(o.MaxSessions),
		catalog:  newCatalog(),
		fill:     newFill(),
	}
	s.faults.Store(&Faults{ErrorStatus: DefaultErrorStatus})
	if o.Faults != (Faults{}) {
		if err := s.SetFaults(o.Faults); err != nil {
			s.log.Error("demo target: ignoring invalid initial faults", "err", err)
		}
	}
	s.register()
	return s
}

// route kinds: faults never touch health and admin routes.
const (
	faultable = true
	exempt    = false
)

func (s *Server) register() {
	for _, r := range []struct {
		pattern string
		faults  bool
		h       http.HandlerFunc
	}{
		{rootPattern, faultable, s.index},
		{"GET /health", exempt, s.health},
		{"POST /login", faultable, s.login},
		{"GET /products", faultable, s.listProducts},
		{"GET /products/{id}", faultable, s.getProduct},
		{"GET /cart", faultable, s.getCart},
		{"POST /cart/items", faultable, s.addCartItem},
		{"GET /cart/items/{sku}", faultable, s.getCartItem},
		{"GET /slow", faultable, s.slow},
		{"GET /status/{code}", faultable, s.status},
		{"GET /redirect/{n}", faultable, s.redirect},
		{"GET /bytes/{n}", faultable, s.bytes},
		{"GET /admin/faults", exempt, s.getFaults},
		{"PUT /admin/faults", exempt, s.putFaults},
		{"DELETE /admin/faults", exempt, s.deleteFaults},
		{"GET /admin/stats", exempt, s.stats},
	} {
		name := routeName(r.pattern)
		n := new(atomic.Int64)
		s.counts[name] = n
		s.patterns = append(s.patterns, name)
		s.mux.Handle(r.pattern, s.instrument(n, r.faults, r.h))
	}
}

// rootPattern matches "/" only; "GET /{$}" is ServeMux syntax that users
// of /admin/stats should not have to read, so it is shown as "GET /".
const rootPattern = "GET /{$}"

func routeName(pattern string) string {
	if pattern == rootPattern {
		return "GET /"
	}
	return pattern
}

// instrument counts a route's requests as they arrive (so that slow ones
// show in /admin/stats while still running) and applies the faults.
func (s *Server) instrument(n *atomic.Int64, faults bool, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		if faults && !s.injectFaults(w, r) {
			return
		}
		h(w, r)
	})
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Request-Id", requestID(r))
	h, pattern := s.mux.Handler(r)
	if pattern == "" {
		s.unmatched.Add(1)
		serveUnmatched(w, r, h)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// serveUnmatched answers like the mux would (404, or 405 with Allow, or a
// redirect to a cleaned path) but with a JSON error body, like every other
// answer of this API.
func serveUnmatched(w http.ResponseWriter, r *http.Request, h http.Handler) {
	c := &captureWriter{header: make(http.Header)}
	h.ServeHTTP(c, r)
	if c.status < 400 {
		h.ServeHTTP(w, r)
		return
	}
	if allow := c.header.Get("Allow"); allow != "" {
		w.Header().Set("Allow", allow)
	}
	writeError(w, c.status, http.StatusText(c.status))
}

// captureWriter records a status and discards the body.
type captureWriter struct {
	header http.Header
	status int
}

func (c *captureWriter) Header() http.Header { return c.header }
func (c *captureWriter) WriteHeader(code int) {
	if c.status == 0 {
		c.status = code
	}
}
func (c *captureWriter) Write(p []byte) (int, error) {
	c.WriteHeader(http.StatusOK)
	return len(p), nil
}

// SetFaults replaces the fault knobs; invalid knobs are refused whole.
func (s *Server) SetFaults(f Faults) error {
	if err := f.Validate(); err != nil {
		return fmt.Errorf("demo target faults: %w", err)
	}
	f = f.normalized()
	s.faults.Store(&f)
	if f.Active() {
		s.log.Info("demo target: faults set", "latency", f.Latency, "jitter", f.Jitter, "slower", f.Slower,
			"error_ratio", f.ErrorRatio, "error_status", f.ErrorStatus, "path_prefix", f.PathPrefix)
	} else {
		s.log.Info("demo target: faults cleared")
	}
	return nil
}

// Faults returns the current fault knobs (ErrorStatus filled in).
func (s *Server) Faults() Faults { return *s.faults.Load() }

// injectFaults delays and fails r as the knobs say. It reports whether the
// request should still be served.
func (s *Server) injectFaults(w http.ResponseWriter, r *http.Request) bool {
	f := s.faults.Load()
	if !f.Active() || !f.covers(r.URL.Path) {
		return true
	}
	if d := s.faultDelay(f); d > 0 {
		s.delayed.Add(1)
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return false // the client left, or the server is shutting down
		}
	}
	if f.ErrorRatio > 0 && s.roll() < f.ErrorRatio {
		s.injected.Add(1)
		w.Header().Set("X-Canary-Fault", "error")
		writeError(w, f.ErrorStatus, "injected fault (see /admin/faults)")
		return false
	}
	return true
}

func (s *Server) faultDelay(f *Faults) time.Duration {
	d := f.Latency
	if f.Jitter > 0 {
		s.rngMu.Lock()
		d += time.Duration(s.rng.Int64N(int64(f.Jitter) + 1))
		s.rngMu.Unlock()
	}
	if f.Slower > 0 {
		// Stretching the whole delay, jitter included, makes every
		// percentile of the injected latency Slower higher, which is what
		// "15 % slower" should mean to a comparison.
		d += time.Duration(float64(d) * f.Slower)
	}
	return d
}

func (s *Server) roll() float64 {
	s.rngMu.Lock()
	defer s.rngMu.Unlock()
	return s.rng.Float64()
}

// Counts returns the requests received per route pattern ("GET /cart",
// "POST /login", …) plus UnmatchedRoute. Its keys are a fixed set.
func (s *Server) Counts() map[string]int64 {
	m := make(map[string]int64, len(s.counts)+1)
	for p, n := range s.counts {
		m[p] = n.Load()
	}
	m[UnmatchedRoute] = s.unmatched.Load()
	return m
}

// Stats is the document GET /admin/stats answers.
type Stats struct {
	Requests map[string]int64 `json:"requests"`
	Faults   FaultStats       `json:"faults"`
	Sessions SessionStats     `json:"sessions"`
}

// FaultStats counts what the fault knobs did.
type FaultStats struct {
	Active   bool  `json:"active"`
	Delayed  int64 `json:"delayed"`
	Injected int64 `json:"errors"`
}

// SessionStats describes the bounded session store.
type SessionStats struct {
	Active  int   `json:"active"`
	Max     int   `json:"max"`
	Evicted int64 `json:"evicted"`
}

// Stats returns the request counts, fault counts and session counts.
func (s *Server) Stats() Stats {
	active, evicted := s.sessions.stats()
	return Stats{
		Requests: s.Counts(),
		Faults: FaultStats{
			Active:   s.Faults().Active(),
			Delayed:  s.delayed.Load(),
			Injected: s.injected.Load(),
		},
		Sessions: SessionStats{Active: active, Max: s.opts.MaxSessions, Evicted: evicted},
	}
}

func (s *Server) index(w http.ResponseWriter, _ *http.Request) {
	endpoints := append([]string(nil), s.patterns...)
	sort.Strings(endpoints)
	writeJSON(w, http.StatusOK, map[string]any{
		"name":      "canary demo target",
		"docs":      "https://github.com/canaryproj/canary/blob/main/docs/demo-target.md",
		"endpoints": endpoints,
	})
}

func (s *Server) health(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// maxFaultsBody bounds PUT /admin/faults: the largest valid document is a
// few hundred bytes.
const maxFaultsBody = 4 << 10

func (s *Server) getFaults(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.Faults())
}

func (s *Server) putFaults(w http.ResponseWriter, r *http.Request) {
	data, ok := readBody(w, r, maxFaultsBody)
	if !ok {
		return
	}
	f, err := ParseFaults(data)
	if err == nil {
		err = s.SetFaults(f)
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, oneLine(err))
		return
	}
	writeJSON(w, http.StatusOK, s.Faults())
}

func (s *Server) deleteFaults(w http.ResponseWriter, _ *http.Request) {
	// The zero Faults are always valid.
	_ = s.SetFaults(Faults{})
	writeJSON(w, http.StatusOK, s.Faults())
}

func (s *Server) stats(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.Stats())
}

// errorBody is every error answer's shape.
type errorBody struct {
	Error  string `json:"error"`
	Status int    `json:"status"`
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, errorBody{Error: msg, Status: status})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	// Nothing useful can be done about a write error: the client is gone.
	_ = json.NewEncoder(w).Encode(v)
}

// readBody reads at most limit bytes of r's body; on failure it has
// already answered (413 for an oversized body, 400 otherwise).
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, bool) {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body exceeds %d bytes", limit))
		return nil, false
	case err != nil:
		writeError(w, http.StatusBadRequest, "reading request body: "+err.Error())
		return nil, false
	}
	return data, true
}

// oneLine joins errors.Join's lines for a JSON message.
func oneLine(err error) string {
	return strings.ReplaceAll(err.Error(), "\n", "; ")
}

// maxRequestID bounds an echoed X-Request-Id.
const maxRequestID = 64

// requestID returns the client's X-Request-Id when it is short and plain,
// else a fresh one: echoing arbitrary client bytes into headers would let a
// client inject into logs that show them.
func requestID(r *http.Request) string {
	if id := r.Header.Get("X-Request-Id"); len(id) > 0 && len(id) <= maxRequestID && plainID(id) {
		return id
	}
	return crand.Text()
}

func plainID(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}
