package cli

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/canaryproj/canary/demotarget"
	"github.com/canaryproj/canary/internal/listenaddr"
)

func newDemoTargetCmd(env Env) *cobra.Command {
	var (
		listen      string
		allowPublic bool
		seed        uint64
		latency     time.Duration
		jitter      time.Duration
		slower      string
		errorRatio  float64
	)
	cmd := &cobra.Command{
		Use:   "demo-target",
		Short: "Serve a built-in sample API with fault knobs, to point canary at",
		Long: `demo-target serves a small shop API (login → token → cart, products, health)
plus httpbin-style tools (/slow, /status/{code}, /redirect/{n}, /bytes/{n}) and
fault knobs under /admin/faults, so that a new user has something real to test
and can watch SLOs fail and recover. See docs/demo-target.md.

It listens on loopback only unless --allow-public is given: the fault knobs
have no authentication.`,
		Example: `  canary demo-target
  canary demo-target --listen 127.0.0.1:8081 --latency 20ms
  # a version and a slower, more error-prone one, to try canary compare:
  canary demo-target --listen 127.0.0.1:8080 --latency 20ms --jitter 20ms
  canary demo-target --listen 127.0.0.1:8081 --latency 20ms --jitter 20ms --slower 15% --error-ratio 0.01
  # make it fail, then heal it:
  curl -X PUT 127.0.0.1:8080/admin/faults -d '{"error_ratio":0.2,"path_prefix":"/cart"}'
  curl -X DELETE 127.0.0.1:8080/admin/faults`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			faults := demotarget.Faults{Latency: latency, Jitter: jitter, ErrorRatio: errorRatio}
			if slower != "" {
				v, err := demotarget.ParseSlower(slower)
				if err != nil {
					return &exitError{code: ExitUsage, err: err}
				}
				faults.Slower = v
			}
			if err := faults.Validate(); err != nil {
				return &exitError{code: ExitUsage, err: err}
			}
			logger := slog.New(slog.NewTextHandler(env.Stderr, nil))
			srv := demotarget.New(demotarget.Options{
				Logger:      logger,
				Seed:        seed,
				AllowPublic: allowPublic,
				Faults:      faults,
			})
			ready := func(addr string) {
				fmt.Fprintf(env.Stderr, "demo target listening on http://%s (try: curl http://%s/health)\n", addr, addr)
			}
			if err := demotarget.ListenAndServe(cmd.Context(), listen, srv, logger, ready); err != nil {
				return demoTargetError(err)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&listen, "listen", "127.0.0.1:8080", "address to listen on (loopback unless --allow-public)")
	f.BoolVar(&allowPublic, "allow-public", false, "allow a non-loopback listen address (the fault knobs are unauthenticated)")
	f.Uint64Var(&seed, "seed", 0, "seed of the fault random source (0 = random), for repeatable demos")
	f.DurationVar(&latency, "latency", 0, "initial latency added to faultable routes")
	f.DurationVar(&jitter, "jitter", 0, "initial further random delay, uniform in 0..jitter")
	f.StringVar(&slower, "slower", "", "stretch latency and jitter by this much (15% or 0.15), to play a slower version")
	f.Float64Var(&errorRatio, "error-ratio", 0, "initial share of faultable requests answered with 503 (0..1)")
	return cmd
}

// demoTargetError is the demo target failing to serve: an address another
// process holds is the machine's problem (exit 1, like the daemon's own
// address); anything else, a bad address included, is a usage error.
func demoTargetError(err error) error {
	var le *listenaddr.Error
	if errors.As(err, &le) && le.InUse() {
		return &exitError{code: ExitInternal, err: err}
	}
	return &exitError{code: ExitUsage, err: err}
}
