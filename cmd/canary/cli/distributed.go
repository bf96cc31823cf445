package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/canaryproj/canary/profiles"
	"github.com/canaryproj/canary/push"
	"github.com/canaryproj/canary/run"
	"github.com/canaryproj/canary/stats"
)

// segmentFlags reads --segment (1-based) or --segment-index (0-based, as a
// Kubernetes Indexed Job numbers its pods): the 0-based index and n, ok
// false when neither is given.
func segmentFlags(segment, index string) (i, n int, ok bool, err error) {
	switch {
	case segment != "" && index != "":
		return 0, 0, false, errors.New("--segment and --segment-index: give one (--segment-index 1/4 is --segment 2/4)")
	case segment != "":
		i, n, err = profiles.ParseSegment(segment)
		return i, n, err == nil, err
	case index != "":
		a, b, _ := strings.Cut(strings.TrimSpace(index), "/")
		k, err := strconv.Atoi(strings.TrimSpace(a))
		if err == nil && k >= 0 {
			if i, n, err = profiles.ParseSegment(fmt.Sprintf("%d/%s", k+1, b)); err == nil {
				return i, n, true, nil
			}
		}
		return 0, 0, false, fmt.Errorf("--segment-index %q: want i/n with 0 ≤ i < n, e.g. 1/4 (the second of four)", index)
	}
	return 0, 1, false, nil
}

// distributed is a segment's side of a distributed run: where it pushes,
// under which run id, and by when the daemon should have every segment.
type distributed struct {
	client   *push.Client
	runID    string
	segment  string // "2/4"
	scenario string
	startAt  *time.Time
	deadline time.Time
	stderr   io.Writer
}

// newDistributed checks the --push flags against the run; nil without --push.
func newDistributed(env Env, f *runFlags, cmd *cobra.Command, scenarioName string, p *profiles.Profile, startAt time.Time) (*distributed, error) {
	if f.push == "" {
		for _, fl := range []string{"run-id", "token", "push-retry"} {
			if cmd.Flags().Changed(fl) {
				return nil, fmt.Errorf("--%s applies with --push", fl)
			}
		}
		return nil, nil
	}
	u, err := url.Parse(f.push)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--push %s: want the daemon's URL, like http://canary.monitoring:9090", push.Redact(f.push))
	}
	if f.pushRetry <= 0 {
		return nil, fmt.Errorf("--push-retry %v: want a positive duration", f.pushRetry)
	}
	if p.Duration() <= 0 {
		return nil, errors.New("--push needs a load with an end (--duration or a profile's stages): the daemon waits for the segments until it")
	}
	i, n := p.SegmentOf()
	d := &distributed{segment: fmt.Sprintf("%d/%d", i+1, n), scenario: scenarioName, stderr: env.Stderr}
	// Without a start time the run starts once registered (within
	// registerWait).
	start := time.Now().Add(registerWait)
	if !startAt.IsZero() {
		start = startAt
		at := startAt.UTC()
		d.startAt = &at
	}
	switch {
	case f.runID != "":
		if err := push.CheckRunID(f.runID); err != nil {
			return nil, fmt.Errorf("--run-id: %w", err)
		}
		d.runID = f.runID
	case startAt.IsZero() && n > 1:
		return nil, errors.New("--push with --segment: give --start-at or --run-id, so that the segments find their run")
	default:
		d.runID = push.RunID(scenarioName, time.Now())
		if !startAt.IsZero() {
			d.runID = push.RunID(scenarioName, startAt)
		}
	}
	// The daemon waits until every segment could have run, drained its
	// iterations in flight and pushed with every retry.
	d.deadline = start.Add(p.Duration() + f.grace + f.pushRetry).UTC()
	token := f.token
	if token == "" {
		token, _ = env.Getenv("CANARY_TOKEN")
	}
	d.client = &push.Client{URL: f.push, Token: token, Retry: f.pushRetry}
	return d, nil
}

func (d *distributed) message(event string) push.Message {
	return push.Message{Event: event, Segment: d.segment, Scenario: d.scenario, Deadline: d.deadline, StartAt: d.startAt}
}

// registerWait bounds how long a segment tries to register.
const registerWait = 5 * time.Second

// start tells the daemon the segment is ready, so that the run is listed
// from now on. It must not delay the start: it gives up a second before
// it, and a failure is only a warning (the report is pushed anyway).
func (d *distributed) start(ctx context.Context) {
	c := *d.client
	c.Retry = registerWait
	if d.startAt != nil {
		c.Retry = min(c.Retry, time.Until(*d.startAt)-time.Second)
	}
	ctx, cancel := context.WithTimeout(ctx, max(c.Retry, 0))
	defer cancel()
	if c.Retry <= 0 {
		fmt.Fprintf(d.stderr, "segment %s of run %s: too close to the start to register with the daemon; the report is pushed at the end\n", d.segment, d.runID)
		return
	}
	if _, err := c.Send(ctx, d.runID, d.message(push.Start)); err != nil {
		fmt.Fprintf(d.stderr, "canary: warning: %v (the report is pushed at the end)\n", err)
		return
	}
	at := "now"
	if d.startAt != nil {
		at = d.startAt.Format(time.RFC3339Nano)
	}
	fmt.Fprintf(d.stderr, "segment %s of run %s: registered with %s; starting %s\n", d.segment, d.runID, push.Redact(d.client.URL), at)
}

// pushContext is the context a last push runs in: ctx, or when ctx has
// ended (Ctrl-C), a short one of its own, so that the daemon still learns
// that the segment ended early rather than waiting for its deadline.
func (d *distributed) pushContext(ctx context.Context) (context.Context, *push.Client, context.CancelFunc) {
	c := *d.client
	if ctx.Err() == nil {
		ctx, cancel := context.WithCancel(ctx)
		return ctx, &c, cancel
	}
	c.Retry = min(c.Retry, 10*time.Second)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.Retry)
	return ctx, &c, cancel
}

// done pushes the segment's report.
func (d *distributed) done(ctx context.Context, rep *stats.Report) error {
	raw, err := json.Marshal(rep)
	if err != nil {
		return err
	}
	m := d.message(push.Done)
	m.Report = raw
	return d.send(ctx, m)
}

// failed tells the daemon the segment did not run, and why.
func (d *distributed) failed(ctx context.Context, why error) error {
	m := d.message(push.Failed)
	m.Error = why.Error()
	return d.send(ctx, m)
}

func (d *distributed) send(ctx context.Context, m push.Message) error {
	ctx, c, cancel := d.pushContext(ctx)
	defer cancel()
	a, err := c.Send(ctx, d.runID, m)
	if err != nil {
		return err
	}
	fmt.Fprintf(d.stderr, "segment %s of run %s: pushed to %s (%d of %d segments in, %s)\n",
		d.segment, d.runID, push.Redact(c.URL), a.Segments.Received, a.Segments.Expected, a.Status)
	return nil
}

// startError is the exit of a segment that did not start: 3, with the
// reason, after telling the daemon.
func (d *distributed) startError(ctx context.Context, se *run.StartError) error {
	if d != nil {
		if err := d.failed(ctx, se); err != nil {
			return &exitError{code: ExitInternal, err: fmt.Errorf("%v; and %w", se, err)}
		}
	}
	return &exitError{code: ExitInconclusive, err: se}
}
