//go:build integration

package report

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canaryproj/canary/internal/chromium"
	"github.com/canaryproj/canary/internal/golden"
)

// TestComparisonInChromium opens a comparison's page as a file in headless
// Chromium: no console message, every chart drawn with both versions'
// lines, the readout attached, and the effect plots laid out.
func TestComparisonInChromium(t *testing.T) {
	path := filepath.Join(t.TempDir(), "compare.html")
	f, err := os.Create(path)
	require.NoError(t, err)
	require.NoError(t, WriteComparisonHTML(f, comparisonFixture(t)))
	require.NoError(t, f.Close())

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b := chromium.Launch(t)
	p, err := b.Open(ctx, "file://"+path, chromium.Options{Width: 1100, Height: 900})
	require.NoError(t, err)
	defer func() { require.NoError(t, p.Close(ctx)) }()
	assert.Empty(t, p.Console(), "no console messages, errors or failed loads")

	var charts []chartFacts
	require.NoError(t, p.Eval(ctx, factsJS, &charts))
	require.Len(t, charts, 7)
	for _, c := range charts {
		assert.Equal(t, "on", c.Readout, "%s: the readout is attached", c.ID)
		assert.Greater(t, c.Width, 900.0, "%s: drawn at the page's width", c.ID)
		sides := map[string]bool{}
		for _, l := range c.Lines {
			assert.Greater(t, l.Length, 100.0, "%s %s: a drawn line", c.ID, l.Name)
			switch l.Name {
			case "baseline", "baseline corrected":
				sides["baseline"] = true
			case "candidate", "candidate corrected":
				sides["candidate"] = true
			}
		}
		assert.Equal(t, map[string]bool{"baseline": true, "candidate": true}, sides, "%s: both versions", c.ID)
		require.Len(t, c.AxisTitles, 2, c.ID)
		assert.GreaterOrEqual(t, len(c.XTicks), 3, c.ID)
		assert.GreaterOrEqual(t, len(c.YTicks), 3, c.ID)
	}

	var effects []struct {
		Label         string
		Width, Height float64
		Interval      float64
	}
	require.NoError(t, p.Eval(ctx, `Array.from(document.querySelectorAll("svg.effect")).map(s => {
  const r = s.getBoundingClientRect();
  return {Label: s.getAttribute("aria-label"), Width: r.width, Height: r.height,
    Interval: s.querySelector(".effect-interval").getTotalLength()};
})`, &effects))
	require.Len(t, effects, 5, "an effect plot per objective")
	for _, e := range effects {
		assert.Equal(t, 160.0, e.Width, e.Label)
		assert.Greater(t, e.Interval, 5.0, "%s: the interval is drawn", e.Label)
	}

	// The pictures docs/compare.md shows, rewritten with -update.
	for name, sel := range map[string]string{"compare-objectives.png": "table.objectives", "compare-spectrum.png": "#spectrum-iteration"} {
		shot, err := p.Screenshot(ctx, sel)
		require.NoError(t, err, name)
		img, err := png.Decode(bytes.NewReader(shot))
		require.NoError(t, err, name)
		assert.Greater(t, colours(img), 8, "%s: drawn, not a blank box", name)
		if golden.Updating() {
			require.NoError(t, os.WriteFile(filepath.Join("..", "docs", "screenshots", name), shot, 0o644))
		}
	}
}
