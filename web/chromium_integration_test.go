//go:build integration

package web

import (
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// chromium renders a page in Debian's headless Chromium (installed by
// scripts/deps.sh) and returns the DOM after rendering.
func chromium(t *testing.T, args ...string) string {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium not found: run scripts/deps.sh (make test does)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
		"--user-data-dir=" + t.TempDir()}
	out, err := exec.CommandContext(ctx, bin, append(base, args...)...).Output()
	require.NoError(t, err)
	return string(out)
}

func TestStatusPageInChromium(t *testing.T) {
	srv := httptest.NewServer(Handler(func(context.Context) (Status, error) { return fixture(), nil }, nil))
	defer srv.Close()
	dom := chromium(t, "--dump-dom", srv.URL+"/")
	assert.Contains(t, dom, `<span class="v fail">fail</span>`, "the verdict is text, not only colour")
	assert.Contains(t, dom, "checkout")
	assert.Contains(t, dom, "<polyline")
	shot := filepath.Join(t.TempDir(), "shot.png")
	chromium(t, "--screenshot="+shot, "--window-size=1280,900", srv.URL+"/checks/checkout")
	st, err := os.Stat(shot)
	require.NoError(t, err)
	assert.Greater(t, st.Size(), int64(5000), "a rendered page, not a blank one")
}
