package web

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Numbers for people: a few significant digits and a unit, never a ratio
// rounded the wrong way. An uptime of 99.996 % reads 99.99 %, not 100 %,
// and an error share of 0.004 % reads <0.01 %, not 0 %: rounding must not
// hide a failure.

// uptimePct prints a success ratio (0..1) as a percentage with two
// decimals, rounded down.
func uptimePct(ratio float64) string {
	switch {
	case math.IsNaN(ratio):
		return "n/a"
	case ratio >= 1:
		return "100\u00a0%"
	case ratio <= 0:
		return "0\u00a0%"
	}
	v := math.Floor(ratio*10000) / 100
	if v == 0 {
		return "<0.01\u00a0%"
	}
	return strconv.FormatFloat(v, 'f', 2, 64) + "\u00a0%"
}

// errorPct prints a percentage (0..100) of failures with two decimals,
// rounded up.
func errorPct(pct float64) string {
	switch {
	case math.IsNaN(pct):
		return "n/a"
	case pct <= 0:
		return "0\u00a0%"
	case pct >= 100:
		return "100\u00a0%"
	case pct < 0.01:
		return "<0.01\u00a0%"
	}
	v := math.Ceil(pct*100-1e-9) / 100
	return strconv.FormatFloat(v, 'f', 2, 64) + "\u00a0%"
}

// sig prints v with three significant digits and no trailing zeros:
// 0.123, 12.3, 413, 1230.
func sig(v float64) string {
	if v == 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	digits := 2 - int(math.Floor(math.Log10(math.Abs(v))))
	if digits <= 0 {
		p := math.Pow(10, float64(-digits))
		return strconv.FormatFloat(math.Round(v/p)*p, 'f', 0, 64)
	}
	text := strconv.FormatFloat(v, 'f', digits, 64)
	if digits > 0 {
		text = strings.TrimRight(strings.TrimRight(text, "0"), ".")
	}
	return text
}

// millis prints a latency given in milliseconds: "850 µs", "41.2 ms",
// "1.23 s".
func millis(ms float64) string {
	switch {
	case math.IsNaN(ms):
		return "n/a"
	case ms <= 0:
		return "0 ms"
	case ms < 1:
		return sig(ms*1000) + " µs"
	case ms < 1000:
		return sig(ms) + " ms"
	}
	return sig(ms/1000) + " s"
}

// perSecond prints a rate: "0.1/s", "20/s", "1.5k/s".
func perSecond(v float64) string {
	if v >= 10000 {
		return sig(v/1000) + "k/s"
	}
	if v > 0 && v < 0.01 {
		return sig(v*60) + "/min"
	}
	return sig(v) + "/s"
}

// count prints an integer with thin groups: 1 234 567.
func count(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteRune('\u2009')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// span prints a duration as people say it, to its largest two units:
// "45 s", "12 min", "3 h 12 min", "41 d", "2 d 4 h".
func span(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	d = d.Round(time.Second)
	days, hours := int64(d/(24*time.Hour)), int64(d%(24*time.Hour)/time.Hour)
	mins, secs := int64(d%time.Hour/time.Minute), int64(d%time.Minute/time.Second)
	switch {
	case days >= 10:
		return fmt.Sprintf("%d d", days)
	case days > 0 && hours > 0:
		return fmt.Sprintf("%d d %d h", days, hours)
	case days > 0:
		return fmt.Sprintf("%d d", days)
	case hours > 0 && mins > 0:
		return fmt.Sprintf("%d h %d min", hours, mins)
	case hours > 0:
		return fmt.Sprintf("%d h", hours)
	case mins > 0 && mins < 10 && secs > 0:
		return fmt.Sprintf("%d min %d s", mins, secs)
	case mins > 0:
		return fmt.Sprintf("%d min", mins)
	}
	return fmt.Sprintf("%d s", secs)
}

// windowName prints a window's length the short way: "5m", "1h", "24h",
// "7d", "30d".
func windowName(d time.Duration) string {
	switch {
	case d >= 48*time.Hour && d%(24*time.Hour) == 0:
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	case d >= time.Hour && d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d >= time.Minute && d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	}
	return strconv.FormatInt(int64(d.Round(time.Second)/time.Second), 10) + "s"
}

// WindowName is windowName for the daemon, which names windows the same
// way in the badge's query and the API.
func WindowName(d time.Duration) string { return windowName(d) }
