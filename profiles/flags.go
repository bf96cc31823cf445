package profiles

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Flags are `canary run`'s load flags (docs/profile.md, "From flags").
type Flags struct {
	Rate        string        // --rate 100/s: the open model
	VUs         int           // --vus N: the closed model (with --duration) or the workers of --iterations
	Duration    time.Duration // --duration
	Iterations  uint64        // --iterations N
	MaxInflight int           // --max-inflight (open model; 0 = default)
	MaxLag      *time.Duration
}

// FromFlags builds the profile the flags describe:
//
//	--rate R --duration D      open model, constant R/s for D
//	--vus N --duration D       closed model, N VUs for D
//	--iterations N [--vus M]   N iterations over M VUs (default 1)
//	(none)                     one iteration: a smoke test
func FromFlags(f Flags) (*Profile, error) {
	p := &Profile{MaxInflight: DefaultMaxInflight, MaxLag: DefaultMaxLag}
	if f.MaxInflight < 0 || f.MaxInflight > 100000 {
		return nil, fmt.Errorf("--max-inflight %d: want 1..100000", f.MaxInflight)
	}
	if f.MaxInflight > 0 {
		p.MaxInflight = f.MaxInflight
	}
	if f.MaxLag != nil {
		if *f.MaxLag < 0 {
			return nil, errors.New("--max-lag must not be negative")
		}
		p.MaxLag = *f.MaxLag
	}
	if f.VUs < 0 {
		return nil, errors.New("--vus must be positive")
	}
	if f.Duration < 0 || f.Duration > MaxDuration {
		return nil, fmt.Errorf("--duration %v: want a positive duration up to %v", f.Duration, MaxDuration)
	}
	switch {
	case f.Rate != "":
		if f.VUs > 0 {
			return nil, errors.New("--rate and --vus: the open model (--rate) has no VUs; bound its concurrency with --max-inflight")
		}
		if f.Iterations > 0 {
			return nil, errors.New("--rate and --iterations: choose one")
		}
		if f.Duration == 0 {
			return nil, errors.New("--rate needs --duration")
		}
		r, err := ParseRate(f.Rate)
		if err != nil {
			return nil, err
		}
		if r <= 0 {
			return nil, fmt.Errorf("rate %q: must be above 0", f.Rate)
		}
		p.Model, p.Shape, p.Start = Open, "constant", r
		p.Stages = []Stage{{Duration: f.Duration, Target: r}}
	case f.Iterations > 0:
		if f.Duration > 0 {
			return nil, errors.New("--iterations and --duration: choose one (iterations run as fast as --vus allow)")
		}
		p.Model, p.Shape, p.Iterations, p.Workers = Iterations, "iterations", f.Iterations, max(f.VUs, 1)
	case f.VUs > 0:
		if f.Duration == 0 {
			return nil, errors.New("--vus needs --duration (or --iterations)")
		}
		p.Model, p.Shape, p.Start = Closed, "constant", float64(f.VUs)
		p.Stages = []Stage{{Duration: f.Duration, Target: float64(f.VUs)}}
	case f.Duration > 0:
		return nil, errors.New("--duration needs --rate or --vus")
	default:
		p.Model, p.Shape, p.Iterations, p.Workers = Iterations, "iterations", 1, 1
	}
	p.prepare()
	return p, nil
}

// ParseSegment reads --segment i/n (1-based, as people count: 1/4 … 4/4)
// and returns the 0-based index and the count.
func ParseSegment(s string) (i, n int, err error) {
	a, b, ok := strings.Cut(strings.TrimSpace(s), "/")
	if ok {
		i, err = strconv.Atoi(strings.TrimSpace(a))
		if err == nil {
			n, err = strconv.Atoi(strings.TrimSpace(b))
		}
	}
	if !ok || err != nil || n < 1 || i < 1 || i > n || n > 10000 {
		return 0, 0, fmt.Errorf("segment %q: want i/n with 1 ≤ i ≤ n, e.g. 2/4", s)
	}
	return i - 1, n, nil
}
