package web

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestNumbersForPeople(t *testing.T) {
	for _, tc := range []struct {
		name string
		got  string
		want string
	}{
		{"uptime rounds down", uptimePct(0.998276), "99.82\u00a0%"},
		{"uptime never reads 100 with a failure", uptimePct(0.99999), "99.99\u00a0%"},
		{"uptime whole", uptimePct(1), "100\u00a0%"},
		{"uptime none", uptimePct(0), "0\u00a0%"},
		{"uptime tiny", uptimePct(0.00001), "<0.01\u00a0%"},
		{"uptime no data", uptimePct(math.NaN()), "n/a"},
		{"uptime long ratio", uptimePct(0.648208), "64.82\u00a0%"},
		{"errors round up", errorPct(1.231), "1.24\u00a0%"},
		{"errors exact", errorPct(12.5), "12.50\u00a0%"},
		{"errors never read 0 with a failure", errorPct(0.004), "<0.01\u00a0%"},
		{"errors none", errorPct(0), "0\u00a0%"},
		{"errors all", errorPct(100), "100\u00a0%"},
		{"ms micro", millis(0.85), "850 µs"},
		{"ms", millis(41.23), "41.2 ms"},
		{"ms hundreds", millis(400), "400 ms"},
		{"ms rounds to three digits", millis(412.7), "413 ms"},
		{"seconds", millis(1234), "1.23 s"},
		{"ms none", millis(0), "0 ms"},
		{"rate", perSecond(20), "20/s"},
		{"slow rate", perSecond(0.1), "0.1/s"},
		{"very slow rate", perSecond(1.0 / 600), "0.1/min"},
		{"fast rate", perSecond(15300), "15.3k/s"},
		{"count", count(1234567), "1\u2009234\u2009567"},
		{"small count", count(999), "999"},
		{"span seconds", span(45 * time.Second), "45 s"},
		{"span minutes", span(12*time.Minute + 5*time.Second), "12 min"},
		{"span few minutes", span(3*time.Minute + 5*time.Second), "3 min 5 s"},
		{"span hours", span(3*time.Hour + 12*time.Minute), "3 h 12 min"},
		{"span days", span(2*24*time.Hour + 4*time.Hour), "2 d 4 h"},
		{"span many days", span(41*24*time.Hour + 4*time.Hour), "41 d"},
		{"window day", windowName(24 * time.Hour), "24h"},
		{"window two days", windowName(48 * time.Hour), "2d"},
		{"window days", windowName(30 * 24 * time.Hour), "30d"},
		{"window hours", windowName(6 * time.Hour), "6h"},
		{"window minutes", windowName(5 * time.Minute), "5m"},
		{"budget left", budget(0.6248), "62.4\u00a0% left"},
		{"budget overspent", budget(-1.5), "overspent 2.5×"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, tc.got)
		})
	}
}
