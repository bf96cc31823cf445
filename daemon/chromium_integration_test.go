//go:build integration

package daemon

import (
	"bytes"
	"context"
	"crypto/tls"
	"image/png"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canaryproj/canary/demotarget"
	"github.com/canaryproj/canary/internal/chromium"
	"github.com/canaryproj/canary/internal/golden"
	"github.com/canaryproj/canary/internal/logtest"
)

// startDegrading runs a daemon in process with three checks against the
// demo target over https (its certificate expires in 60 days): checkout,
// whose target degrades in three phases the test drives, health, and a
// nightly scheduled check that has not run yet.
func startDegrading(t *testing.T) *testDaemon {
	t.Helper()
	dir := t.TempDir()
	chain := newTestChain(t, dir, time.Now().Add(60*24*time.Hour).Truncate(time.Second))
	demo := demotarget.New(demotarget.Options{Seed: 1})
	target := httptest.NewUnstartedServer(demo)
	target.TLS = &tls.Config{Certificates: []tls.Certificate{chain.cert}}
	target.StartTLS()
	t.Cleanup(target.Close)
	files := map[string]string{
		"checkout.yaml": `name: checkout
vars: {base: "${TARGET}"}
defaults: {tls: {ca_file: "` + chain.caFile + `"}}
steps:
  - name: products
    request: {url: "{{ .base }}/products"}
    expect: {status: 200}
  - name: product
    request: {url: "{{ .base }}/products/sku-1001"}
    expect: {status: 200, json: {id: sku-1001}}
`,
		"health.yaml": `name: health
vars: {base: "${TARGET}"}
defaults: {tls: {ca_file: "` + chain.caFile + `"}}
steps:
  - {name: health, request: {url: "{{ .base }}/health"}}
`,
	}
	for name, body := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644))
	}
	cfg := filepath.Join(dir, "canary.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(configYAML(`  - name: checkout
    scenario: checkout.yaml
    profile: {rate: 15/s}
    labels: {team: payments}
    slos:
      - {name: availability, success: 99%}
      - {name: latency, latency: {percentile: 99, below: 250ms}}
      - {name: certificate, tls_expiry: 14d}
    window: 10s
    min_samples: 20
  - name: health
    scenario: health.yaml
    profile: {rate: 2/s}
    slos:
      - {name: availability, success: 99.9%}
    window: 10s
    min_samples: 5
  - name: nightly
    scenario: checkout.yaml
    profile: {constant: {target: 5, duration: 10s}}
    schedule: "0 3 * * *"
`)), 0o644))
	td := &testDaemon{t: t, dir: dir, cfg: cfg, demo: demo, target: target, logs: &logtest.Buffer{},
		env: map[string]string{"TARGET": target.URL, "CANARY_TOKEN": token}}
	td.run()
	return td
}

// checkoutIterations is how many iterations the checkout check completed.
func (td *testDaemon) checkoutIterations() float64 {
	ups, _ := td.checkSummaryOf("checkout")["uptime"].([]any)
	if len(ups) == 0 {
		return 0
	}
	total, _ := ups[0].(map[string]any)["total"].(float64)
	return total
}

// TestStatusPageInChromium runs the daemon against a target that degrades
// halfway — latency doubles, then 5 % of the requests fail — and reads its
// pages in headless Chromium as a person keeping them open would: no
// console message, charts with their points, ticks on both axes, units
// and legends, the uptimes, the certificates, and the badges rendered as
// images. With -update it writes the screenshots docs/daemon.md shows.
func TestStatusPageInChromium(t *testing.T) {
	td := startDegrading(t)
	// The phases follow the iterations completed, not the clock: each
	// lasts 150 iterations, whatever the machine's speed.
	for i, f := range []demotarget.Faults{
		{Latency: 30 * time.Millisecond, Jitter: 10 * time.Millisecond},
		{Latency: 60 * time.Millisecond, Jitter: 20 * time.Millisecond},
		{Latency: 60 * time.Millisecond, Jitter: 20 * time.Millisecond, ErrorRatio: 0.05},
	} {
		require.NoError(t, td.demo.SetFaults(f))
		until := float64(150 * (i + 1))
		require.Eventually(t, func() bool { return td.checkoutIterations() >= until }, 2*time.Minute, 200*time.Millisecond,
			"phase %d: %v iterations", i+1, until)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b := chromium.Launch(t)
	for _, tc := range []struct {
		name, path, shot string
		charts           int
		minPoints        int // per chart
	}{
		{"overview", "/", "status-overview.png", 3, 0},
		{"check", "/checks/checkout", "status-check.png", 3, 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := b.Open(ctx, td.base+tc.path, chromium.Options{Width: 1280, Height: 900})
			require.NoError(t, err)
			defer func() { require.NoError(t, p.Close(ctx)) }()
			assert.Empty(t, p.Console(), "no console messages, errors or failed loads")

			var charts []struct {
				Label          string
				Points, Drawn  int
				YTicks, XTicks []string
				Titles, Legend []string
				Width          float64
				Mini           bool
			}
			require.NoError(t, p.Eval(ctx, `Array.from(document.querySelectorAll("svg.chart")).map(svg => ({
  Label: svg.getAttribute("aria-label"),
  Points: Number(svg.dataset.points),
  Drawn: Array.from(svg.querySelectorAll("polyline.series")).reduce((n, p) => n + p.points.numberOfItems, 0) + svg.querySelectorAll("circle.pt").length,
  YTicks: Array.from(svg.querySelectorAll("text.tick.y")).map(e => e.textContent),
  XTicks: Array.from(svg.querySelectorAll("text.tick.x")).map(e => e.textContent),
  Titles: Array.from(svg.querySelectorAll("text.title")).map(e => e.textContent),
  Legend: Array.from(svg.querySelectorAll("text.legend")).map(e => e.textContent),
  Width: svg.getBoundingClientRect().width,
  Mini: svg.classList.contains("mini"),
}))`, &charts))
			require.Len(t, charts, tc.charts)
			for _, c := range charts {
				assert.GreaterOrEqual(t, len(c.YTicks), 2, "%s: y ticks", c.Label)
				assert.GreaterOrEqual(t, len(c.XTicks), 2, "%s: x ticks", c.Label)
				if c.Mini {
					continue
				}
				assert.GreaterOrEqual(t, c.Points, tc.minPoints, "%s: the history's points", c.Label)
				assert.GreaterOrEqual(t, c.Drawn, c.Points-2, "%s: drawn", c.Label)
				assert.GreaterOrEqual(t, len(c.YTicks), 3, "%s: y ticks", c.Label)
				assert.GreaterOrEqual(t, len(c.XTicks), 3, "%s: x ticks", c.Label)
				assert.Contains(t, c.Titles, "time (UTC)", c.Label)
				assert.NotEmpty(t, c.Legend, c.Label)
				assert.Greater(t, c.Width, 900.0, "%s: drawn at the page's width", c.Label)
			}

			dom, err := p.DOM(ctx)
			require.NoError(t, err)
			if tc.name == "overview" {
				assert.Contains(t, dom, "next run", "the scheduled check shows its next run")
				assert.Contains(t, dom, "uptime 24 h")
			} else {
				for _, want := range []string{"Uptime", "error budget", "TLS certificates", "Canary Test CA", "tls_expiry&gt;14d"} {
					assert.Contains(t, dom, want)
				}
				var imgs []struct {
					Src           string
					Complete      bool
					Width, Height int
				}
				require.NoError(t, p.Eval(ctx, `Array.from(document.images).map(i => ({Src: i.getAttribute("src"), Complete: i.complete, Width: i.naturalWidth, Height: i.naturalHeight}))`, &imgs))
				require.Len(t, imgs, 2, "the status and uptime badges")
				for _, img := range imgs {
					assert.True(t, img.Complete, img.Src)
					assert.Equal(t, 20, img.Height, "%s: rendered as an image", img.Src)
					assert.Greater(t, img.Width, 60, img.Src)
				}
			}

			shot, err := p.Screenshot(ctx, "")
			require.NoError(t, err)
			img, err := png.Decode(bytes.NewReader(shot))
			require.NoError(t, err)
			assert.Equal(t, 1280, img.Bounds().Dx())
			if golden.Updating() {
				require.NoError(t, os.WriteFile(filepath.Join("..", "docs", "screenshots", tc.shot), shot, 0o644))
				if tc.name == "check" {
					badges, err := p.Screenshot(ctx, "#badges")
					require.NoError(t, err)
					require.NoError(t, os.WriteFile(filepath.Join("..", "docs", "screenshots", "status-badges.png"), badges, 0o644))
				}
			}
		})
	}
}
