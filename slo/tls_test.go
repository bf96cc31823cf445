package slo

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canaryproj/canary/stats"
)

func TestParseTLSExpiry(t *testing.T) {
	for _, tc := range []struct {
		in     string
		target time.Duration
		op     Op
		str    string
	}{
		{"tls_expiry > 14d", 14 * 24 * time.Hour, GT, "tls_expiry>14d"},
		{"tls_expiry>=2w", 14 * 24 * time.Hour, GE, "tls_expiry>=14d"},
		{"tls_expiry>36h", 36 * time.Hour, GT, "tls_expiry>36h"},
		{"tls_expiry>1.5d", 36 * time.Hour, GT, "tls_expiry>36h"},
		{"tls_expiry>90d", 90 * 24 * time.Hour, GT, "tls_expiry>90d"},
	} {
		got, err := ParseExpr(tc.in)
		require.NoError(t, err, "ParseExpr(%q)", tc.in)
		assert.Equal(t, KindTLSExpiry, got.Kind)
		assert.Equal(t, tc.op, got.Op)
		assert.InDelta(t, tc.target.Seconds(), got.Target, 1e-6, "ParseExpr(%q)", tc.in)
		assert.Equal(t, tc.str, got.String())
		assert.False(t, got.HasBudget(), "a threshold, not a budget")
	}
	for _, tc := range []struct{ in, want string }{
		{"tls_expiry < 14d", `slo "tls_expiry < 14d": a certificate must expire later than a time, not sooner: use > or >=`},
		{"tls_expiry > soon", `slo "tls_expiry > soon": value "soon": want a duration like 14d, 2w or 36h`},
		{"tls_expiry > -1d", `slo "tls_expiry > -1d": value "-1d": must be positive`},
		{"tls_expiry(login) > 14d", `slo "tls_expiry(login) > 14d": want tls_expiry > DURATION, e.g. tls_expiry > 14d`},
	} {
		_, err := ParseExpr(tc.in)
		assert.EqualError(t, err, tc.want, "ParseExpr(%q)", tc.in)
	}
}

func TestEvaluateTLSExpiry(t *testing.T) {
	at := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	o, err := ParseExpr("tls_expiry > 14d")
	require.NoError(t, err)
	certs := func(days ...float64) *Certificates {
		c := &Certificates{At: at}
		for i, d := range days {
			c.Certs = append(c.Certs, Certificate{Name: []string{"a.example.com (step login)", "b.example.com (step cart)"}[i],
				NotAfter: at.Add(time.Duration(d * 24 * float64(time.Hour)))})
		}
		return c
	}
	for _, tc := range []struct {
		name     string
		certs    *Certificates
		pass     bool
		eval     bool
		observed string
		note     string
	}{
		{"none known", nil, false, false, "n/a", ""},
		{"far", certs(90, 41), true, true, "41d", ""},
		{"the first to expire decides", certs(90, 9.5), false, true, "9.5d", "the certificate of b.example.com (step cart) expires 2026-12-04 00:00 UTC"},
		{"expired", certs(-3), false, true, "-3d", "the certificate of a.example.com (step login) expires 2026-11-21 12:00 UTC"},
		{"a day and a half", certs(1.5), false, true, "36h", "the certificate of a.example.com (step login) expires 2026-11-26 00:00 UTC"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Evaluate(o, Input{Snapshot: stats.NewSnapshot(nil), Certificates: tc.certs})
			assert.Equal(t, tc.eval, r.Evaluated)
			assert.Equal(t, tc.pass, r.Pass)
			assert.Equal(t, tc.observed, r.ObservedText())
			if tc.note != "" {
				assert.Equal(t, tc.note, r.Note)
			}
			if !tc.eval {
				assert.True(t, math.IsNaN(r.Observed))
			}
		})
	}

	// In a verdict: a failing certificate fails the check, with why.
	j := Judge([]Objective{o}, Input{Snapshot: snapWithIterations(20), Window: "5m", Certificates: certs(90, 9.5)})
	assert.Equal(t, Fail, j.Verdict)
	require.Len(t, j.Reasons, 1)
	assert.Contains(t, j.Reasons[0], "tls_expiry 9.5d <= 14d")
	assert.Contains(t, j.Reasons[0], "b.example.com (step cart)")
}

func snapWithIterations(n int64) *stats.Snapshot {
	s := stats.NewSnapshot(nil)
	s.Iterations.Success = n
	return s
}
