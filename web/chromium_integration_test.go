//go:build integration

package web

import (
	"bytes"
	"context"
	"image/png"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canaryproj/canary/internal/chromium"
)

func TestStatusPageInChromium(t *testing.T) {
	srv := httptest.NewServer(Handler(func(context.Context) (Status, error) { return fixture(), nil }, nil))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := chromium.Launch(t)

	p, err := b.Open(ctx, srv.URL+"/", chromium.Options{})
	require.NoError(t, err)
	dom, err := p.DOM(ctx)
	require.NoError(t, err)
	assert.Contains(t, dom, `<span class="v fail">fail</span>`, "the verdict is text, not only colour")
	assert.Contains(t, dom, "checkout")
	assert.Contains(t, dom, "<polyline")
	assert.Empty(t, p.Console(), "no console messages, errors or failed loads")
	require.NoError(t, p.Close(ctx))

	p, err = b.Open(ctx, srv.URL+"/checks/checkout", chromium.Options{Width: 1280, Height: 900})
	require.NoError(t, err)
	shot, err := p.Screenshot(ctx, "")
	require.NoError(t, err)
	img, err := png.Decode(bytes.NewReader(shot))
	require.NoError(t, err)
	assert.Equal(t, 1280, img.Bounds().Dx())
	assert.Greater(t, len(shot), 5000, "a rendered page, not a blank one")
	assert.Empty(t, p.Console())
	require.NoError(t, p.Close(ctx))
}
