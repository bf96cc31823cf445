package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/canaryproj/canary/daemon"
	"github.com/canaryproj/canary/demotarget"
	"github.com/canaryproj/canary/redact"
)

func newDaemonCmd(env Env) *cobra.Command {
	var (
		config      string
		logFormat   string
		logLevel    string
		demoTargets []string
		listen      string
		resetState  bool
	)
	cmd := &cobra.Command{
		Use:   "daemon --config canary.yaml",
		Short: "Run checks continuously, export metrics, judge SLOs, page Slack, serve the gate API",
		Long: `daemon runs every check of the config continuously (or on its cron schedule),
exports Prometheus metrics at /metrics, judges each check's SLOs over its window,
pages Slack (or Alertmanager) on error-budget burn, and answers "is this version
good?" at /api/v1/checks/{name}/verdict and /api/v1/gate/{name}. The status page
is at /. See docs/daemon.md and docs/gates.md.

SIGHUP, POST /-/reload and a change of the config file reload it; an invalid
config is rejected whole and the old one keeps running. SIGTERM/SIGINT stop new
iterations, wait for in-flight ones (server.shutdown_grace) and exit 0; a
second signal ends it at once.

It logs a line when a verdict changes or an alert fires or resolves, and a
heartbeat every 5 minutes. Exit 2: a bad config (an unset ${VAR} included)
or a state file it cannot use (--reset-state moves a damaged one aside);
exit 1: the address is taken (--listen moves it) or another failure.`,
		Example: `  canary daemon --config examples/canary.yaml
  canary daemon --config examples/canary.yaml --with-demo-target 127.0.0.1:8080   # a demo target too
  canary daemon --config examples/canary.yaml --with-demo-target 127.0.0.1:8080 \
      --with-demo-target 127.0.0.1:8081,latency=20ms,jitter=20ms \
      --with-demo-target 127.0.0.1:8082,latency=20ms,jitter=20ms,slower=15%,error_ratio=0.01   # what make run does
  canary daemon --config canary.yaml --listen 127.0.0.1:9091                      # 9090 is Prometheus'
  kill -HUP $(pidof canary)                                                       # reload`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if config == "" {
				return usageErr("--config is required")
			}
			if listen != "" {
				if _, _, err := net.SplitHostPort(listen); err != nil {
					return usageErr("--listen %q: want HOST:PORT, e.g. 127.0.0.1:9091", listen)
				}
			}
			secrets := &redact.Set{}
			logger, err := newLogger(env, logFormat, logLevel, secrets)
			if err != nil {
				return usageErr("%v", err)
			}
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			var wg sync.WaitGroup
			defer wg.Wait()
			for _, spec := range demoTargets {
				addr, faults, err := parseDemoTarget(spec)
				if err != nil {
					return usageErr("--with-demo-target %q: %v", spec, err)
				}
				srv := demotarget.New(demotarget.Options{Logger: logger.With("component", "demo-target", "addr", addr), Faults: faults})
				ready := make(chan error, 1)
				wg.Add(1)
				go func() {
					defer wg.Done()
					err := demotarget.ListenAndServe(ctx, addr, srv, logger, func(string) { ready <- nil })
					if err != nil {
						ready <- err
					}
				}()
				if err := <-ready; err != nil {
					return demoTargetError(err) // it says it is the demo target's
				}
			}
			defer daemonGC(env.Getenv)()
			d, err := daemon.New(daemon.Options{
				ConfigPath: config, Env: env.Getenv, Logger: logger, Version: version, Secrets: secrets, Listen: listen, ResetState: resetState,
				Ready: func(addr string) {
					fmt.Fprintf(env.Stderr, "canary daemon on http://%s — status page /, metrics /metrics, verdicts /api/v1/checks\n", addr)
				},
			})
			if err != nil {
				return daemonError(err, secrets)
			}
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-ctx.Done():
						return
					case <-hup:
						_ = d.Reload() // logged by the daemon
					}
				}
			}()
			err = d.Run(ctx)
			cancel()
			if err != nil {
				return daemonError(err, secrets)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&config, "config", "", "daemon config file (docs/daemon.md)")
	f.StringVar(&logFormat, "log-format", "text", "log format: text or json")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	f.StringArrayVar(&demoTargets, "with-demo-target", nil, "also serve the built-in demo target on ADDR[,knob=value...] (fault knobs as in /admin/faults: latency, jitter, slower, error_ratio, error_status, path_prefix); repeatable (for demos: make run)")
	f.StringVar(&listen, "listen", "", "serve the API, metrics and status page on this address instead of server.listen (e.g. 127.0.0.1:9091)")
	f.BoolVar(&resetState, "reset-state", false, "when the state file is damaged, move it aside (the copy is kept) and start with an empty state")
	return cmd
}

// daemonError maps the daemon's errors to exit codes: a bad config or an
// unusable state file is 2 (the operator's to fix before it can start),
// anything else (the address in use, …) 1. Each message is the daemon's
// own, which says what to do; secrets are redacted from it.
func daemonError(err error, secrets *redact.Set) error {
	switch {
	case errors.Is(err, daemon.ErrBadConfig):
		return &exitError{code: ExitUsage, err: errors.New(secrets.String(badConfigMessage(err)))}
	case errors.Is(err, daemon.ErrState):
		return &exitError{code: ExitUsage, err: errors.New(secrets.String(err.Error()))}
	default:
		return &exitError{code: ExitInternal, err: errors.New(secrets.String(err.Error()))}
	}
}

func newLogger(env Env, format, level string, secrets *redact.Set) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	var h slog.Handler
	switch format {
	case "text":
		h = slog.NewTextHandler(env.Stderr, opts)
	case "json":
		h = slog.NewJSONHandler(env.Stderr, opts)
	default:
		return nil, fmt.Errorf("--log-format %q: want text or json", format)
	}
	return slog.New(redact.NewHandler(h, secrets)), nil
}

// badConfigMessage is err without the "bad config: " it starts with: exit 2
// says the config was refused, and what follows names the file ("config
// x.yaml: …", "x.yaml:3:1: …"), so the prefix only stutters.
func badConfigMessage(err error) string {
	return strings.TrimPrefix(err.Error(), daemon.ErrBadConfig.Error()+": ")
}

// parseDemoTarget reads --with-demo-target: an address, then the demo
// target's fault knobs as key=value, comma-separated, with the names of
// its /admin/faults JSON: "127.0.0.1:8082,latency=20ms,slower=15%".
func parseDemoTarget(spec string) (string, demotarget.Faults, error) {
	parts := strings.Split(spec, ",")
	addr := strings.TrimSpace(parts[0])
	if addr == "" {
		return "", demotarget.Faults{}, errors.New("want ADDR[,knob=value...], e.g. 127.0.0.1:8081,latency=20ms,slower=15%")
	}
	var f demotarget.Faults
	var errs []error
	for _, kv := range parts[1:] {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		var err error
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("%q: want knob=value", kv))
			continue
		case k == "latency":
			f.Latency, err = time.ParseDuration(v)
		case k == "jitter":
			f.Jitter, err = time.ParseDuration(v)
		case k == "slower":
			if f.Slower, err = demotarget.ParseSlower(v); err != nil {
				errs = append(errs, err) // it names the knob
				continue
			}
		case k == "error_ratio":
			f.ErrorRatio, err = strconv.ParseFloat(v, 64)
		case k == "error_status":
			f.ErrorStatus, err = strconv.Atoi(v)
		case k == "path_prefix":
			f.PathPrefix = v
		default:
			err = fmt.Errorf("unknown knob %q (latency, jitter, slower, error_ratio, error_status, path_prefix)", k)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", k, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return "", f, err
	}
	return addr, f, f.Validate()
}

// daemonGOGC is the daemon's garbage-collection target when GOGC is not
// set: the heap may grow to 1.25 times what is live between collections,
// not twice. A daemon's heap is mostly its checks' windows, which live as
// long as it does, and it allocates little, so collecting earlier costs
// no CPU that could be measured and keeps its resident set smaller: a
// month-old daemon of 20 checks, 44 against 50 MiB of anonymous memory at
// GOGC 50 (docs/PERFORMANCE.md, "Daemon footprint").
const daemonGOGC = 25

// daemonGC sets the daemon's GC target unless GOGC says otherwise, and
// returns what puts the previous one back.
func daemonGC(getenv func(string) (string, bool)) (restore func()) {
	if _, set := getenv("GOGC"); set {
		return func() {}
	}
	prev := debug.SetGCPercent(daemonGOGC)
	return func() { debug.SetGCPercent(prev) }
}
