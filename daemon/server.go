package daemon

import (
	"fmt"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/canaryproj/canary/config"
	"github.com/canaryproj/canary/metrics"
)

// apiMetrics count what the API turned away, and the Flagger webhooks it
// answered.
type apiMetrics struct {
	busy    prometheus.Counter
	flagger *prometheus.CounterVec
	// segmentsFull counts segment pushes refused because MaxPendingRuns
	// distributed runs were waiting for their segments.
	segmentsFull prometheus.Counter
}

func newAPIMetrics(reg prometheus.Registerer) (apiMetrics, error) {
	rejected := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: metrics.APIRequestsRejected,
		Help: "API requests turned away at once: reason \"busy\" (503) when server.max_unauthenticated_requests requests without a token were being served, \"distributed_runs\" (429) when a segment would start one distributed run more than the daemon keeps waiting.",
	}, []string{metrics.LabelReason})
	flagger := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: metrics.FlaggerWebhooks,
		Help: "Flagger webhook calls answered, by hook type and HTTP status code.",
	}, []string{metrics.LabelHook, metrics.LabelCode})
	for _, c := range []prometheus.Collector{rejected, flagger} {
		if err := reg.Register(c); err != nil {
			return apiMetrics{}, fmt.Errorf("metrics: %w", err)
		}
	}
	return apiMetrics{busy: rejected.WithLabelValues("busy"), flagger: flagger, segmentsFull: rejected.WithLabelValues("distributed_runs")}, nil
}

// newServer is the API's HTTP server. Its timeouts bound how long a client
// may take to send a request's headers and body, to read the answer, and
// to keep an idle connection open: without them, connections that send a
// byte a second, or nothing, are held for ever.
func (d *Daemon) newServer() *http.Server {
	s := d.config().Server
	return &http.Server{
		Handler:           d.handler(),
		ReadHeaderTimeout: s.ReadHeaderTimeout,
		ReadTimeout:       s.ReadTimeout,
		WriteTimeout:      s.WriteTimeout,
		IdleTimeout:       s.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(d.log.Handler(), slog.LevelWarn),
	}
}

// sameServerLimits reports whether two configs give the API server the
// same limits; they are fixed when the server starts.
func sameServerLimits(a, b config.Server) bool {
	return a.ReadHeaderTimeout == b.ReadHeaderTimeout && a.ReadTimeout == b.ReadTimeout &&
		a.WriteTimeout == b.WriteTimeout && a.IdleTimeout == b.IdleTimeout &&
		a.MaxBodyBytes == b.MaxBodyBytes && a.MaxUnauthenticatedRequests == b.MaxUnauthenticatedRequests
}
