//go:build integration

package web

import (
	"bytes"
	"context"
	"image/png"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canaryproj/canary/internal/chromium"
)

// chartFactsJS reads every chart as the browser laid it out.
const chartFactsJS = `Array.from(document.querySelectorAll("svg.chart")).map(svg => ({
  Label: svg.getAttribute("aria-label"),
  Points: Number(svg.dataset.points),
  Drawn: Array.from(svg.querySelectorAll("polyline.series")).reduce((n, p) => n + p.points.numberOfItems, 0)
       + svg.querySelectorAll("circle.pt").length,
  YTicks: Array.from(svg.querySelectorAll("text.tick.y")).map(e => e.textContent),
  XTicks: Array.from(svg.querySelectorAll("text.tick.x")).map(e => e.textContent),
  Titles: Array.from(svg.querySelectorAll("text.title")).map(e => e.textContent),
  Legend: Array.from(svg.querySelectorAll("text.legend")).map(e => e.textContent),
  Width: svg.getBoundingClientRect().width,
  Mini: svg.classList.contains("mini"),
}))`

type chartFacts struct {
	Label          string
	Points, Drawn  int
	YTicks, XTicks []string
	Titles, Legend []string
	Width          float64
	Mini           bool
}

// imagesJS reports every image as loaded and laid out.
const imagesJS = `Array.from(document.images).map(i => ({Src: i.getAttribute("src"), Complete: i.complete, Width: i.naturalWidth, Height: i.naturalHeight}))`

type imageFacts struct {
	Src           string
	Complete      bool
	Width, Height int
}

// fixtureServer serves the fixture's pages and its badges, as the daemon
// does.
func fixtureServer(t *testing.T) *httptest.Server {
	mux := http.NewServeMux()
	mux.Handle("/", Handler(func(context.Context) (Status, error) { return fixture(), nil }, nil))
	mux.HandleFunc("GET /badge/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/svg+xml")
		_, _ = w.Write(Badge("checkout", "fail", VerdictColor("fail")))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// TestStatusPageInChromium loads the fixture's pages as a browser lays
// them out: no console message, every chart with its points drawn, ticks
// on both axes, units and a legend, and the badges rendered as images.
func TestStatusPageInChromium(t *testing.T) {
	srv := fixtureServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := chromium.Launch(t)

	for _, tc := range []struct {
		name, path string
		points     []int // per chart: a line per series of ten points
	}{
		{"overview", "/", []int{10, 0, 10}}, // checkout, nightly (not run yet), health
		{"check", "/checks/checkout", []int{20, 10, 10}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := b.Open(ctx, srv.URL+tc.path, chromium.Options{Width: 1280, Height: 900})
			require.NoError(t, err)
			defer func() { require.NoError(t, p.Close(ctx)) }()
			assert.Empty(t, p.Console(), "no console messages, errors or failed loads")
			dom, err := p.DOM(ctx)
			require.NoError(t, err)
			assert.Contains(t, dom, `<span class="v fail">fail</span>`, "the verdict is text, not only colour")

			var charts []chartFacts
			require.NoError(t, p.Eval(ctx, chartFactsJS, &charts))
			require.Len(t, charts, len(tc.points))
			for i, c := range charts {
				assert.Equal(t, tc.points[i], c.Points, "%s: the series' points", c.Label)
				assert.GreaterOrEqual(t, c.Drawn, c.Points, "%s: every point drawn", c.Label)
				assert.GreaterOrEqual(t, len(c.YTicks), 2, "%s: y ticks", c.Label)
				assert.GreaterOrEqual(t, len(c.XTicks), 2, "%s: x ticks", c.Label)
				if c.Mini {
					continue
				}
				assert.Contains(t, c.Titles, "time (UTC)", c.Label)
				assert.NotEmpty(t, c.Legend, c.Label)
				assert.Greater(t, c.Width, 500.0, "%s: drawn wide", c.Label)
			}
			shot, err := p.Screenshot(ctx, "")
			require.NoError(t, err)
			img, err := png.Decode(bytes.NewReader(shot))
			require.NoError(t, err)
			assert.Equal(t, 1280, img.Bounds().Dx())
			if tc.name != "check" {
				return
			}
			var imgs []imageFacts
			require.NoError(t, p.Eval(ctx, imagesJS, &imgs))
			require.Len(t, imgs, 2, "the status and uptime badges")
			for _, img := range imgs {
				assert.True(t, img.Complete, img.Src)
				assert.Equal(t, 20, img.Height, "%s: rendered as an image", img.Src)
				assert.Greater(t, img.Width, 60, img.Src)
			}
			assert.True(t, strings.Contains(dom, "Latest failures") && strings.Contains(dom, "TLS certificates"))

		})
	}
}
