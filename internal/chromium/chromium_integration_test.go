//go:build integration

package chromium

import (
	"bytes"
	"context"
	"image/png"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const page = `<!doctype html><html><head><title>t</title></head><body>
<p id="state">static</p><div id="box" style="width:120px;height:40px;background:#c00"></div>
<noscript><p id="fallback">no script</p></noscript>
<script>
document.getElementById("state").textContent = "scripted";
console.error("boom", 42);
undefinedFunction();
</script></body></html>`

func TestPageInChromium(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(page))
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b := Launch(t)

	for _, tc := range []struct {
		name     string
		noScript bool
		state    string
		console  []string
	}{
		{"scripts on", false, "scripted", []string{"console.error: boom 42", "exception at line 7: Uncaught ReferenceError: undefinedFunction is not defined"}},
		{"scripts off", true, "static", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := b.Open(ctx, srv.URL+"/", Options{NoScript: tc.noScript})
			require.NoError(t, err)
			defer func() { require.NoError(t, p.Close(ctx)) }()
			dom, err := p.DOM(ctx)
			require.NoError(t, err)
			assert.Contains(t, dom, `<p id="state">`+tc.state+`</p>`)
			console := p.Console()
			require.Len(t, console, len(tc.console), "%q", console)
			for i, want := range tc.console {
				assert.Contains(t, console[i], want)
			}

			var w float64
			require.NoError(t, p.Eval(ctx, `document.getElementById("box").getBoundingClientRect().width`, &w), "DevTools evaluates even with the page's scripts off")
			assert.Equal(t, 120.0, w)

			shot, err := p.Screenshot(ctx, "#box")
			require.NoError(t, err)
			img, err := png.Decode(bytes.NewReader(shot))
			require.NoError(t, err)
			assert.Equal(t, 120, img.Bounds().Dx())
			assert.Equal(t, 40, img.Bounds().Dy())
			r, _, _, _ := img.At(60, 20).RGBA()
			assert.Equal(t, uint32(0xcccc), r, "the element's own pixels")

			_, err = p.Screenshot(ctx, "#missing")
			assert.ErrorContains(t, err, `nothing matches "#missing"`)
		})
	}
}
