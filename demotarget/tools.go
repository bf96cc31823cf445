package demotarget

import (
	"net/http"
	"strconv"
	"time"
)

// httpbin-style tools: answers of a chosen latency, status, redirect depth
// or size, to demonstrate canary's timeouts, status expectations, redirect
// limits and body cap. Every input is bounded; out of range is a 400.

const (
	maxSlowMS    = 10000
	maxRedirects = 20
	// MaxBytes bounds GET /bytes/{n}: above canary's default 10 MiB body cap,
	// so that the cap can be demonstrated.
	MaxBytes = 32 << 20
	fillSize = 32 << 10
)

// intParam parses s as an integer in lo..hi; on failure it has answered.
func intParam(w http.ResponseWriter, name, s string, lo, hi int) (int, bool) {
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		writeError(w, http.StatusBadRequest, name+" must be an integer in "+strconv.Itoa(lo)+".."+strconv.Itoa(hi))
		return 0, false
	}
	return n, true
}

// slow answers after ?ms=N milliseconds (0 when absent).
func (s *Server) slow(w http.ResponseWriter, r *http.Request) {
	ms := 0
	if q := r.URL.Query(); q.Has("ms") {
		var ok bool
		if ms, ok = intParam(w, "ms", q.Get("ms"), 0, maxSlowMS); !ok {
			return
		}
	}
	t := time.NewTimer(time.Duration(ms) * time.Millisecond)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.Context().Done():
		return // the client left, or the server is shutting down
	}
	writeJSON(w, http.StatusOK, map[string]int{"slept_ms": ms})
}

// status answers with the status in the path. HTTP cannot end an exchange
// with a 1xx, so those are sent as an interim response followed by 200;
// 101 would switch protocols and is refused.
func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	code, ok := intParam(w, "status code", r.PathValue("code"), 100, 599)
	if !ok {
		return
	}
	switch {
	case code == http.StatusSwitchingProtocols:
		writeError(w, http.StatusBadRequest, "status 101 would switch protocols; use another code")
	case code < 200:
		w.WriteHeader(code)
		writeJSON(w, http.StatusOK, map[string]int{"status": http.StatusOK, "interim": code})
	case code == http.StatusNoContent || code == http.StatusNotModified:
		w.WriteHeader(code) // no body allowed
	case code >= 400:
		writeError(w, code, statusText(code))
	default:
		writeJSON(w, code, map[string]any{"status": code, "text": statusText(code)})
	}
}

// redirect answers /redirect/n with a 302 to /redirect/n-1, and
// /redirect/0 with 200: n hops in all.
func (s *Server) redirect(w http.ResponseWriter, r *http.Request) {
	n, ok := intParam(w, "redirect count", r.PathValue("n"), 0, maxRedirects)
	if !ok {
		return
	}
	if n == 0 {
		writeJSON(w, http.StatusOK, map[string]string{"redirect": "done"})
		return
	}
	next := "/redirect/" + strconv.Itoa(n-1)
	w.Header().Set("Location", next)
	writeJSON(w, http.StatusFound, map[string]string{"location": next})
}

// bytes answers with exactly n bytes of text.
func (s *Server) bytes(w http.ResponseWriter, r *http.Request) {
	n, ok := intParam(w, "byte count", r.PathValue("n"), 0, MaxBytes)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(n))
	w.WriteHeader(http.StatusOK)
	for n > 0 {
		chunk := s.fill[:min(n, len(s.fill))]
		if _, err := w.Write(chunk); err != nil {
			return // the client left
		}
		n -= len(chunk)
	}
}

// newFill returns the repeating content of /bytes: readable lines, so
// that a body shown by a tool makes sense to a human.
func newFill() []byte {
	const line = "canary demo target: the quick brown fox jumps over the lazy dog.\n"
	b := make([]byte, 0, fillSize)
	for len(b) < fillSize {
		b = append(b, line[:min(len(line), fillSize-len(b))]...)
	}
	return b
}

func statusText(code int) string {
	if t := http.StatusText(code); t != "" {
		return t
	}
	return "status " + strconv.Itoa(code)
}
