package slo

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// tls_expiry objectives: "tls_expiry > 14d" holds while every certificate
// the check was last served expires more than 14 days from now. They judge
// the certificates a check's handshakes saw, not its iterations, and have
// no error budget: they fail while the objective fails (the daemon alerts
// on it as on a threshold, not a burn rate).

// Certificates are what a tls_expiry objective judges: the leaf
// certificates a check was last served, as of At.
type Certificates struct {
	At    time.Time
	Certs []Certificate
}

// Certificate is one leaf certificate a check was served.
type Certificate struct {
	Name     string // what it was served for: "shop.example.com (step login)"
	NotAfter time.Time
}

var tlsExpiryRE = regexp.MustCompile(`(?i)^\s*tls_expiry\s*(>=|>|<=|<)\s*(\S+(?:\s+[a-z]+)?)\s*$`)

// parseTLSExpiry parses "tls_expiry > 14d"; ok is false when s is not a
// tls_expiry objective at all.
func parseTLSExpiry(s string) (o Objective, ok bool, err error) {
	m := tlsExpiryRE.FindStringSubmatch(s)
	if m == nil {
		if strings.HasPrefix(strings.ToLower(strings.TrimSpace(s)), "tls_expiry") {
			return Objective{}, true, fmt.Errorf("slo %q: want tls_expiry > DURATION, e.g. tls_expiry > 14d", s)
		}
		return Objective{}, false, nil
	}
	o = Objective{Name: strings.TrimSpace(s), Kind: KindTLSExpiry, Op: parseOp(m[1])}
	if o.Op == LT || o.Op == LE {
		return Objective{}, true, fmt.Errorf("slo %q: a certificate must expire later than a time, not sooner: use > or >=", s)
	}
	d, err := ParseExpiry(strings.Join(strings.Fields(m[2]), "")) // "14 d" as "14d"
	if err != nil {
		return Objective{}, true, fmt.Errorf("slo %q: value %q: %w", s, m[2], err)
	}
	o.Target = d.Seconds()
	return o, true, nil
}

// ParseExpiry reads how long before its expiry a certificate must be
// renewed: "14d", "2w", "36h", "1.5d".
func ParseExpiry(s string) (time.Duration, error) {
	bad := errors.New("want a duration like 14d, 2w or 36h")
	t := strings.TrimSpace(s)
	unit := time.Duration(0)
	switch {
	case strings.HasSuffix(t, "d"):
		unit = 24 * time.Hour
	case strings.HasSuffix(t, "w"):
		unit = 7 * 24 * time.Hour
	}
	var d time.Duration
	if unit > 0 {
		f, err := strconv.ParseFloat(t[:len(t)-1], 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f > 3650 {
			return 0, bad
		}
		d = time.Duration(f * float64(unit))
	} else {
		var err error
		if d, err = time.ParseDuration(t); err != nil {
			return 0, bad
		}
	}
	if d <= 0 {
		return 0, errors.New("must be positive")
	}
	return d, nil
}

// formatExpiry prints a time left before an expiry, in seconds: "14d",
// "9.5d", "36h", "-3d" once expired.
func formatExpiry(v float64) string {
	d := time.Duration(v * float64(time.Second))
	sign := ""
	if d < 0 {
		sign, d = "-", -d
	}
	if d >= 48*time.Hour {
		return sign + strconv.FormatFloat(round(d.Hours()/24, 1), 'f', -1, 64) + "d"
	}
	return sign + FormatDuration(d)
}

// evaluateTLS judges a tls_expiry objective: observed is the time left
// before the certificate that expires first, in seconds.
func evaluateTLS(o Objective, c *Certificates) Result {
	r := Result{Objective: o, Observed: math.NaN()}
	if c == nil || len(c.Certs) == 0 {
		return r
	}
	first := c.Certs[0]
	for _, cert := range c.Certs[1:] {
		if cert.NotAfter.Before(first.NotAfter) {
			first = cert
		}
	}
	r.Samples = int64(len(c.Certs))
	r.Observed = first.NotAfter.Sub(c.At).Seconds()
	r.Evaluated = true
	r.Pass = o.Op.holds(r.Observed, o.Target)
	if !r.Pass {
		r.Note = fmt.Sprintf("the certificate of %s expires %s", first.Name, first.NotAfter.UTC().Format("2006-01-02 15:04 UTC"))
	}
	return r
}
