package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/term"

	"github.com/canaryproj/canary/metrics"
	"github.com/canaryproj/canary/run"
	"github.com/canaryproj/canary/scenario"
	"github.com/canaryproj/canary/slo"
)

// startCPUProfile profiles the process until the returned stop is called.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// writeHeapProfile writes the live heap, after a collection, to path.
func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	runtime.GC()
	if err := pprof.WriteHeapProfile(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// isTerminal reports whether w is a terminal (the live progress line).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// ScrapeLinger is how long `run --metrics-addr` keeps serving after the run:
// two default scrape intervals, so the last values are scraped.
const ScrapeLinger = 30 * time.Second

// metricsServer serves one run's metrics (docs/metrics.md) while it runs.
type metricsServer struct {
	check  *metrics.Check
	srv    *http.Server
	done   chan struct{}
	linger time.Duration
	ctx    context.Context
	stderr io.Writer
}

func startMetrics(ctx context.Context, addr string, sc *scenario.Scenario, objs []slo.Objective, stderr io.Writer) (*metricsServer, error) {
	reg := prometheus.NewRegistry()
	exp, err := metrics.NewExporter(reg)
	if err != nil {
		return nil, err
	}
	c, err := exp.AddCheck(sc.Name, metrics.CheckOptionsFor(sc.StepNames(), sc.Methods(), objs))
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics-addr: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{EnableOpenMetrics: true}))
	m := &metricsServer{check: c, srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}, done: make(chan struct{}), linger: ScrapeLinger, ctx: ctx, stderr: stderr}
	go func() {
		defer close(m.done)
		if err := m.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintf(stderr, "canary: metrics server: %v\n", err)
		}
	}()
	fmt.Fprintf(stderr, "metrics on http://%s/metrics\n", ln.Addr())
	return m, nil
}

// finish sets the final verdict gauges, lingers for the last scrape (cut
// short by Ctrl-C) and stops the server.
func (m *metricsServer) finish(o *run.Outcome) {
	if o != nil {
		m.check.SetVerdict(o.Judgement.Verdict.Gauge())
		for _, r := range o.Judgement.Results {
			m.check.SetSLO(r.Objective.Name, r.Objective.Target, r.Observed, nil)
		}
	}
	fmt.Fprintf(m.stderr, "serving the final metrics for %v for the last scrape (Ctrl-C to skip)\n", m.linger)
	t := time.NewTimer(m.linger)
	select {
	case <-t.C:
	case <-m.ctx.Done():
	}
	t.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	_ = m.srv.Shutdown(ctx)
	cancel()
	<-m.done
}

// writeFile writes path (created or truncated) through fn.
func writeFile(path string, fn func(io.Writer) error) error {
	return openAndWrite(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, fn)
}

// appendFile appends to path (created if need be) through fn.
func appendFile(path string, fn func(io.Writer) error) error {
	return openAndWrite(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, fn)
}

func openAndWrite(path string, flag int, fn func(io.Writer) error) error {
	fh, err := os.OpenFile(path, flag, 0o644)
	if err != nil {
		return err
	}
	if err := fn(fh); err != nil {
		fh.Close()
		return err
	}
	return fh.Close()
}
