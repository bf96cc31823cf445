package demotarget

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/canaryproj/canary/internal/listenaddr"
)

// ListenAndServe serves s on addr (host:port; port 0 picks a free one)
// until ctx ends, then shuts down gracefully: in-flight requests get
// s's ShutdownGrace to finish, after which the ones still waiting (slow
// answers, injected latency) are cut off. It returns nil after a shutdown
// caused by ctx, once every request handler has returned.
//
// ready, if not nil, is called with the bound address once the server
// accepts connections.
//
// addr must be a loopback address (127.0.0.0/8, ::1 or localhost) unless
// s was created with AllowPublic: the fault knobs under /admin have no
// authentication, so a demo must not be exposed by accident.
func ListenAndServe(ctx context.Context, addr string, s *Server, logger *slog.Logger, ready func(addr string)) error {
	if logger == nil {
		logger = s.log
	}
	if err := checkListenAddr(addr, s.opts.AllowPublic); err != nil {
		return err
	}
	ln, err := listenaddr.Listen(ctx, addr,
		"Stop that process, or give the demo target another address (canary demo-target --listen ADDR, or the ADDR of --with-demo-target)",
		"canary demo-target --listen ADDR, or the ADDR of --with-demo-target, sets the address")
	if err != nil {
		return fmt.Errorf("demo target: %w", err)
	}
	bound := ln.Addr().String()
	// A name such as "localhost" could resolve to anything: check what was
	// actually bound too.
	if err := checkListenAddr(bound, s.opts.AllowPublic); err != nil {
		ln.Close()
		return fmt.Errorf("%q resolved to a non-loopback address: %w", addr, err)
	}

	// Handlers' contexts outlive ctx by the grace period: ending ctx starts
	// the shutdown, it does not abort requests in flight.
	base, cutOff := context.WithCancel(context.WithoutCancel(ctx))
	defer cutOff()
	handlers := &handlerGroup{}
	srv := &http.Server{
		Handler:           handlers.wrap(s),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		// No WriteTimeout: /slow, /bytes and injected latency are meant to
		// take their time, and each is bounded on its own.
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 64 << 10,
		BaseContext:    func(net.Listener) context.Context { return base },
		ErrorLog:       slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	logger.Info("demo target listening", "addr", bound)
	if ready != nil {
		ready(bound)
	}

	select {
	case err := <-served:
		// Serve returns before a shutdown only when accepting fails.
		srv.Close()
		cutOff()
		handlers.closeAndWait()
		return fmt.Errorf("demo target on %s: %w", bound, err)
	case <-ctx.Done():
	}

	logger.Info("demo target shutting down", "grace", s.opts.ShutdownGrace)
	graceCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.ShutdownGrace)
	defer cancel()
	if err := srv.Shutdown(graceCtx); err != nil {
		logger.Warn("demo target: cutting off requests still running after the grace period")
		// Close the connections before ending the handlers' contexts, so
		// that a cut-off request gets a broken connection, never an empty
		// 200 written for a handler that returned early.
		srv.Close()
	}
	cutOff()
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		logger.Warn("demo target: serve ended", "err", err)
	}
	handlers.closeAndWait()
	return nil
}

func checkListenAddr(addr string, allowPublic bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("demo target listen address %q: %w", addr, err)
	}
	if allowPublic || isLoopback(host) {
		return nil
	}
	return fmt.Errorf("demo target listen address %q is not a loopback address: "+
		"its fault knobs have no authentication, so listen on 127.0.0.1 or localhost, "+
		"or allow public listening explicitly", addr)
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// handlerGroup tracks running handlers so that ListenAndServe returns only
// after the last one: http.Server.Close does not wait for them.
type handlerGroup struct {
	mu     sync.Mutex
	n      int
	closed bool
	idle   chan struct{} // closed when n drops to 0 after closeAndWait began
}

func (g *handlerGroup) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !g.enter() {
			w.Header().Set("Connection", "close")
			writeError(w, http.StatusServiceUnavailable, "shutting down")
			return
		}
		defer g.leave()
		h.ServeHTTP(w, r)
	})
}

func (g *handlerGroup) enter() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.n++
	return true
}

func (g *handlerGroup) leave() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.n--
	if g.n == 0 && g.idle != nil {
		close(g.idle)
		g.idle = nil
	}
}

// closeAndWait refuses new handlers and waits for the running ones, which
// end promptly once their context is cut off and their connection closed.
func (g *handlerGroup) closeAndWait() {
	g.mu.Lock()
	g.closed = true
	if g.n == 0 {
		g.mu.Unlock()
		return
	}
	idle := make(chan struct{})
	g.idle = idle
	g.mu.Unlock()
	<-idle
}
