package profiles

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/canaryproj/canary/internal/yamlfile"
)

// profileYAML is a profile file as written (docs/profile.md).
type profileYAML struct {
	Name        string         `yaml:"name"`
	Model       string         `yaml:"model"`
	Stages      []stageYAML    `yaml:"stages"`
	Start       float64        `yaml:"start"`
	MaxInflight *int           `yaml:"max_inflight"`
	MaxLag      *time.Duration `yaml:"max_lag"`
	Loop        bool           `yaml:"loop"`
	Rate        string         `yaml:"rate"`
	Constant    *constantYAML  `yaml:"constant"`
	Spike       *spikeYAML     `yaml:"spike"`
	Sine        *sineYAML      `yaml:"sine"`
	Steps       *stepsYAML     `yaml:"steps"`
}

type stageYAML struct {
	Duration time.Duration `yaml:"duration" required:"true"`
	Target   float64       `yaml:"target" required:"true"`
}

type constantYAML struct {
	Target   float64       `yaml:"target" required:"true"`
	Duration time.Duration `yaml:"duration" required:"true"`
}

type spikeYAML struct {
	Base     float64       `yaml:"base" required:"true"`
	Peak     float64       `yaml:"peak" required:"true"`
	At       time.Duration `yaml:"at" required:"true"`
	Hold     time.Duration `yaml:"hold" required:"true"`
	Duration time.Duration `yaml:"duration" required:"true"`
}

type sineYAML struct {
	Min      float64       `yaml:"min" required:"true"`
	Max      float64       `yaml:"max" required:"true"`
	Period   time.Duration `yaml:"period" required:"true"`
	Duration time.Duration `yaml:"duration" required:"true"`
}

type stepsYAML struct {
	From  float64       `yaml:"from" required:"true"`
	To    float64       `yaml:"to" required:"true"`
	Step  float64       `yaml:"step" required:"true"`
	Every time.Duration `yaml:"every" required:"true"`
}

// Load reads and validates a profile file.
func Load(path string, opts yamlfile.Options) (*Profile, error) {
	data, err := yamlfile.ReadFile("profile", path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data, opts)
}

// Parse validates a profile file's bytes; every problem is reported as
// file:line:col.
func Parse(file string, data []byte, opts yamlfile.Options) (*Profile, error) {
	n, err := yamlfile.Parse(file, data)
	if err != nil {
		return nil, err
	}
	d := yamlfile.NewDecoder(file, opts)
	p := Decode(d, n)
	if err := d.Err(); err != nil {
		return nil, err
	}
	return p, nil
}

// Decode decodes a profile from a mapping node (a whole file, or inline in
// the daemon config, e.g. {rate: 1/10s}); problems go to d. It returns nil
// when the profile is unusable.
func Decode(d *yamlfile.Decoder, n *yaml.Node) *Profile {
	var y profileYAML
	before := d.Failed()
	d.Decode(n, &y)
	if d.Failed() && !before && yamlfile.Resolve(n) != nil && yamlfile.Resolve(n).Kind != yaml.MappingNode {
		return nil
	}
	v := validator{d: d, n: n}
	p := &Profile{Name: y.Name, Start: y.Start, Loop: y.Loop, MaxInflight: DefaultMaxInflight, MaxLag: DefaultMaxLag, Shape: "stages"}

	switch y.Model {
	case "", "open":
		p.Model = Open
	case "closed":
		p.Model = Closed
	default:
		v.errorf("model", "model %q: want open or closed", y.Model)
	}
	if y.MaxInflight != nil {
		p.MaxInflight = *y.MaxInflight
		if p.MaxInflight < 1 || p.MaxInflight > 100000 {
			v.errorf("max_inflight", "max_inflight %d: want 1..100000", p.MaxInflight)
		}
	}
	if y.MaxLag != nil {
		p.MaxLag = *y.MaxLag // 0 is meaningful: never wait for a slot
	}
	if p.Model == Closed && (y.MaxInflight != nil || y.MaxLag != nil) {
		v.errorf("model", "max_inflight and max_lag belong to the open model; a closed model's concurrency is its VU count")
	}
	if y.Start < 0 || y.Start > MaxTarget || math.IsNaN(y.Start) {
		v.errorf("start", "start %v: want 0..%g", y.Start, MaxTarget)
	}

	shapes := []string{}
	for _, s := range []struct {
		key string
		set bool
	}{{"stages", len(y.Stages) > 0}, {"rate", y.Rate != ""}, {"constant", y.Constant != nil}, {"spike", y.Spike != nil}, {"sine", y.Sine != nil}, {"steps", y.Steps != nil}} {
		if s.set {
			shapes = append(shapes, s.key)
		}
	}
	switch {
	case len(shapes) == 0:
		if !d.Failed() || !before {
			d.Errorf(n, "profile has no shape: give stages, or one of rate, constant, spike, sine, steps")
		}
		return nil
	case len(shapes) > 1:
		v.errorf(shapes[1], "give one of stages, rate, constant, spike, sine or steps, not %s", strings.Join(shapes, " and "))
		return nil
	}

	switch shapes[0] {
	case "stages":
		if len(y.Stages) > MaxStages {
			v.errorf("stages", "%d stages: at most %d", len(y.Stages), MaxStages)
		}
		sn := yamlfile.Child(n, "stages")
		for i, s := range y.Stages {
			item := yamlfile.Resolve(sn)
			if item != nil && i < len(item.Content) {
				item = item.Content[i]
			}
			// Only a duration that was written and parsed can be judged;
			// a missing or unparsable one has been reported already.
			if dn := yamlfile.Child(item, "duration"); dn != nil && s.Duration <= 0 && parsedDuration(dn) {
				d.Errorf(dn, "stage duration must be positive")
			}
			v.checkDuration(yamlfile.Child(item, "duration"), s.Duration)
			v.checkTarget(yamlfile.Child(item, "target"), s.Target)
			p.Stages = append(p.Stages, Stage(s))
		}
	case "rate":
		r, err := ParseRate(y.Rate)
		if err != nil {
			v.errorf("rate", "%v", err)
		}
		if d.Unknown(yamlfile.Child(n, "rate")) {
			// From an unset ${VAR} while only reading the file: any rate
			// stands in, so that what does not depend on it is checked.
			r = 1
		}
		p.Model, p.Shape, p.Loop = Open, "rate", true
		if y.Model == "closed" {
			v.errorf("rate", "rate is an arrival rate: it needs the open model")
		}
		// A constant rate that loops: one pass of an hour is arbitrary but
		// keeps the numbers of one pass small.
		p.Start = r
		p.Stages = []Stage{{Duration: time.Hour, Target: r}}
	case "constant":
		c := y.Constant
		cn := yamlfile.Child(n, "constant")
		v.checkTarget(yamlfile.Child(cn, "target"), c.Target)
		v.checkPositive(yamlfile.Child(cn, "duration"), c.Duration, "duration")
		p.Shape, p.Start = "constant", c.Target
		p.Stages = []Stage{{Duration: c.Duration, Target: c.Target}}
	case "spike":
		s := y.Spike
		sn := yamlfile.Child(n, "spike")
		v.checkTarget(yamlfile.Child(sn, "base"), s.Base)
		v.checkTarget(yamlfile.Child(sn, "peak"), s.Peak)
		v.checkPositive(yamlfile.Child(sn, "duration"), s.Duration, "duration")
		if s.At+s.Hold > s.Duration {
			d.Errorf(yamlfile.Child(sn, "hold"), "at (%v) + hold (%v) must fit in duration (%v)", s.At, s.Hold, s.Duration)
		}
		p.Shape, p.Start = "spike", s.Base
		// Instant jumps are stages of zero length.
		p.Stages = []Stage{{s.At, s.Base}, {0, s.Peak}, {s.Hold, s.Peak}, {0, s.Base}, {s.Duration - s.At - s.Hold, s.Base}}
	case "sine":
		s := y.Sine
		sn := yamlfile.Child(n, "sine")
		v.checkTarget(yamlfile.Child(sn, "min"), s.Min)
		v.checkTarget(yamlfile.Child(sn, "max"), s.Max)
		if s.Max < s.Min {
			d.Errorf(yamlfile.Child(sn, "max"), "max (%v) must not be below min (%v)", s.Max, s.Min)
		}
		v.checkPositive(yamlfile.Child(sn, "period"), s.Period, "period")
		v.checkPositive(yamlfile.Child(sn, "duration"), s.Duration, "duration")
		p.Shape = "sine"
		p.Start = s.Min
		p.sine = &sineShape{min: s.Min, max: s.Max, period: s.Period, duration: s.Duration}
	case "steps":
		s := y.Steps
		sn := yamlfile.Child(n, "steps")
		v.checkTarget(yamlfile.Child(sn, "from"), s.From)
		v.checkTarget(yamlfile.Child(sn, "to"), s.To)
		v.checkPositive(yamlfile.Child(sn, "every"), s.Every, "every")
		if s.Step <= 0 {
			d.Errorf(yamlfile.Child(sn, "step"), "step must be positive")
		} else if levels := math.Abs(s.To-s.From)/s.Step + 1; levels > MaxStages/2 {
			d.Errorf(yamlfile.Child(sn, "step"), "%.0f levels: at most %d", levels, MaxStages/2)
		} else {
			p.Shape, p.Start = "steps", s.From
			dir := 1.0
			if s.To < s.From {
				dir = -1
			}
			for lvl := s.From; dir*(s.To-lvl) >= -1e-9; lvl += dir * s.Step {
				p.Stages = append(p.Stages, Stage{0, lvl}, Stage{s.Every, lvl})
			}
		}
	}
	if d.Failed() && !before {
		return nil
	}
	p.prepare()
	if p.total > MaxDuration {
		d.Errorf(n, "profile lasts %v: at most %v", p.total, MaxDuration)
		return nil
	}
	if p.Loop && p.Model == Open && p.perPass <= 0 {
		d.Errorf(n, "a looping profile whose rate is always 0 never runs an iteration")
		return nil
	}
	return p
}

type validator struct {
	d *yamlfile.Decoder
	n *yaml.Node
}

func (v validator) errorf(key, format string, args ...any) {
	at := yamlfile.Child(v.n, key)
	if at == nil {
		at = v.n
	}
	v.d.Errorf(at, format, args...)
}

func (v validator) checkTarget(n *yaml.Node, t float64) {
	if t < 0 || t > MaxTarget || math.IsNaN(t) {
		v.d.Errorf(n, "target %v: want 0..%g", t, MaxTarget)
	}
}

func (v validator) checkDuration(n *yaml.Node, d time.Duration) {
	if d > MaxDuration {
		v.d.Errorf(n, "duration %v: at most %v", d, MaxDuration)
	}
}

// parsedDuration reports whether n holds a duration that parses (so that a
// derived check does not repeat the parse error).
func parsedDuration(n *yaml.Node) bool {
	n = yamlfile.Resolve(n)
	if n == nil || n.Kind != yaml.ScalarNode {
		return false
	}
	_, err := yamlfile.ParseDuration(n.Value)
	return err == nil
}

func (v validator) checkPositive(n *yaml.Node, d time.Duration, what string) {
	if d <= 0 && parsedDuration(n) {
		v.d.Errorf(n, "%s must be positive", what)
	}
	v.checkDuration(n, d)
}

// ParseRate reads an arrival rate: "100/s", "100/1m", "0.5/s", "1/10s", or a
// bare number of iterations per second.
func ParseRate(s string) (float64, error) {
	t := strings.TrimSpace(s)
	num, per, hasPer := strings.Cut(t, "/")
	n, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil || n < 0 || math.IsNaN(n) || math.IsInf(n, 0) {
		return 0, fmt.Errorf("rate %q: want N/PERIOD like 100/s, 100/1m, 0.5/s or 1/10s", s)
	}
	unit := time.Second
	if hasPer {
		per = strings.TrimSpace(per)
		if per != "" && (per[0] < '0' || per[0] > '9') {
			per = "1" + per // "s" → "1s"
		}
		unit, err = yamlfile.ParseDuration(per)
		if err != nil || unit <= 0 {
			return 0, fmt.Errorf("rate %q: period %q is not a duration like s, 1m or 10s", s, per)
		}
	}
	r := n / unit.Seconds()
	if r > MaxTarget {
		return 0, fmt.Errorf("rate %q: at most %g/s", s, MaxTarget)
	}
	return r, nil
}
