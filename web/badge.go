package web

import (
	"fmt"
	"html/template"
	"math"
	"strings"
	"unicode/utf8"
)

// Badges are small SVG images for READMEs, in the flat style shields.io and
// Gatus draw: a grey label on the left, a coloured message on the right.
// They are computed text, so they carry no font: widths come from the
// advance widths of Verdana at 11 px, the font they name, with a generous
// default for characters outside the table.

// Badge colours.
const (
	ColorPass    = "#44cc11" // pass; uptime at or above 99.9 %
	ColorGood    = "#97ca00" // uptime at or above 99 %
	ColorWarn    = "#dfb317" // inconclusive; uptime at or above 95 %
	ColorBad     = "#fe7d37" // uptime at or above 90 %
	ColorFail    = "#e05d44" // fail; uptime below 90 %
	ColorUnknown = "#9f9f9f" // no data
	colorLabel   = "#555555"
)

// maxBadgeText bounds each half of a badge, in characters.
const maxBadgeText = 48

// VerdictColor is the message colour of a status badge.
func VerdictColor(verdict string) string {
	switch verdict {
	case "pass":
		return ColorPass
	case "fail":
		return ColorFail
	case "inconclusive":
		return ColorWarn
	}
	return ColorUnknown
}

// UptimeColor is the message colour of an uptime badge for a success ratio
// (0..1); NaN when there is no data.
func UptimeColor(ratio float64) string {
	switch {
	case math.IsNaN(ratio):
		return ColorUnknown
	case ratio >= 0.999:
		return ColorPass
	case ratio >= 0.99:
		return ColorGood
	case ratio >= 0.95:
		return ColorWarn
	case ratio >= 0.90:
		return ColorBad
	}
	return ColorFail
}

// UptimeText is an uptime badge's message: the ratio rounded down to two
// decimals, so that a failure never reads 100 %.
func UptimeText(ratio float64) string {
	if math.IsNaN(ratio) {
		return "no data"
	}
	return strings.ReplaceAll(uptimePct(ratio), "\u00a0", "")
}

// Badge draws a badge: label on grey, message on color (a #rrggbb
// colour). Both texts are clipped to maxBadgeText characters and escaped.
func Badge(label, message, color string) []byte {
	label, message = clipText(label), clipText(message)
	if !validColor(color) {
		color = ColorUnknown
	}
	lw, mw := textWidth(label)+10, textWidth(message)+10
	w := lw + mw
	title := template.HTMLEscapeString(label + ": " + message)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="20" role="img" aria-label="%s">`, w, title)
	fmt.Fprintf(&b, `<title>%s</title>`, title)
	b.WriteString(`<linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/><stop offset="1" stop-opacity=".1"/></linearGradient>`)
	fmt.Fprintf(&b, `<clipPath id="r"><rect width="%d" height="20" rx="3" fill="#fff"/></clipPath>`, w)
	fmt.Fprintf(&b, `<g clip-path="url(#r)"><rect width="%d" height="20" fill="%s"/><rect x="%d" width="%d" height="20" fill="%s"/><rect width="%d" height="20" fill="url(#s)"/></g>`,
		lw, colorLabel, lw, mw, color, w)
	b.WriteString(`<g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" font-size="11">`)
	for _, t := range []struct {
		x    int
		text string
	}{{lw / 2, label}, {lw + mw/2, message}} {
		e := template.HTMLEscapeString(t.text)
		fmt.Fprintf(&b, `<text x="%d" y="15" fill="#010101" fill-opacity=".3">%s</text><text x="%d" y="14">%s</text>`, t.x, e, t.x, e)
	}
	b.WriteString(`</g></svg>`)
	return []byte(b.String())
}

func clipText(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return -1
		}
		return r
	}, s)
	if utf8.RuneCountInString(s) <= maxBadgeText {
		return s
	}
	return string([]rune(s)[:maxBadgeText-1]) + "…"
}

func validColor(c string) bool {
	if len(c) != 7 || c[0] != '#' {
		return false
	}
	for _, r := range c[1:] {
		if !strings.ContainsRune("0123456789abcdefABCDEF", r) {
			return false
		}
	}
	return true
}

// verdana11 are the advance widths (px) of Verdana at 11 px for the
// characters a badge usually carries.
var verdana11 = map[rune]int{
	' ': 4, '%': 12, '(': 5, ')': 5, '-': 5, '.': 4, '/': 5, ':': 5, '_': 7, '…': 11,
	'a': 7, 'b': 7, 'c': 6, 'd': 7, 'e': 7, 'f': 4, 'g': 7, 'h': 7, 'i': 3, 'j': 4, 'k': 6, 'l': 3, 'm': 11,
	'n': 7, 'o': 7, 'p': 7, 'q': 7, 'r': 5, 's': 6, 't': 4, 'u': 7, 'v': 6, 'w': 9, 'x': 6, 'y': 6, 'z': 6,
	'<': 9, '>': 9, '=': 9, '+': 9,
}

// textWidth estimates the width of s in Verdana 11 px.
func textWidth(s string) int {
	w := 0
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			w += 7
		case r >= 'A' && r <= 'Z':
			w += 8
		default:
			if v, ok := verdana11[r]; ok {
				w += v
			} else {
				w += 9
			}
		}
	}
	return w
}
