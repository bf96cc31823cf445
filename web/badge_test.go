package web

import (
	"encoding/xml"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBadge(t *testing.T) {
	for _, tc := range []struct {
		name, label, message, color string
		wantColor, wantText         string
	}{
		{"pass", "checkout", "pass", VerdictColor("pass"), ColorPass, "checkout: pass"},
		{"fail", "checkout", "fail", VerdictColor("fail"), ColorFail, "checkout: fail"},
		{"uptime", "uptime 30d", UptimeText(0.99823), UptimeColor(0.99823), ColorGood, "uptime 30d: 99.82%"},
		{"no data", "uptime 30d", UptimeText(math.NaN()), UptimeColor(math.NaN()), ColorUnknown, "uptime 30d: no data"},
		{"escaped", `<a&b>`, `"x"`, "not a colour", ColorUnknown, `<a&b>: "x"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svg := Badge(tc.label, tc.message, tc.color)
			// A well-formed SVG document whose title says what it shows.
			var doc struct {
				XMLName xml.Name
				Width   int    `xml:"width,attr"`
				Title   string `xml:"title"`
				Rects   []struct {
					Fill string `xml:"fill,attr"`
				} `xml:"g>rect"`
			}
			require.NoError(t, xml.Unmarshal(svg, &doc), "%s", svg)
			assert.Equal(t, "svg", doc.XMLName.Local)
			assert.Equal(t, tc.wantText, doc.Title)
			require.Len(t, doc.Rects, 3)
			assert.Equal(t, tc.wantColor, doc.Rects[1].Fill)
			assert.Greater(t, doc.Width, textWidth(tc.label)+textWidth(tc.message))
		})
	}
}

func TestBadgeClipsText(t *testing.T) {
	svg := string(Badge(strings.Repeat("x", 500), "pass\n\x00", ColorPass))
	assert.Less(t, len(svg), 2000)
	assert.Contains(t, svg, "…")
	assert.NotContains(t, svg, "\x00")
}

func TestUptimeColors(t *testing.T) {
	for _, tc := range []struct {
		ratio float64
		want  string
	}{{1, ColorPass}, {0.999, ColorPass}, {0.995, ColorGood}, {0.96, ColorWarn}, {0.92, ColorBad}, {0.5, ColorFail}} {
		assert.Equal(t, tc.want, UptimeColor(tc.ratio), "UptimeColor(%v)", tc.ratio)
	}
}
