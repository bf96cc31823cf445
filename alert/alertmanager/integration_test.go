//go:build integration

package alertmanager

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canaryproj/canary/alert"
	"github.com/canaryproj/canary/internal/logtest"
)

const (
	alertmanagerBin = "/usr/bin/prometheus-alertmanager"
	amtoolBin       = "/usr/bin/amtool"
)

// startAlertmanager runs Debian's Alertmanager on a free loopback port with
// clustering off, a null receiver and its own storage, and returns its URL
// once it is ready. The process is killed when the test ends.
func startAlertmanager(ctx context.Context, t *testing.T) string {
	t.Helper()
	for _, bin := range []string{alertmanagerBin, amtoolBin} {
		if _, err := os.Stat(bin); err != nil {
			t.Fatalf("%s is missing (%v): install it with scripts/deps.sh (Debian package prometheus-alertmanager)", bin, err)
		}
	}
	dir := t.TempDir()
	config := filepath.Join(dir, "alertmanager.yml")
	require.NoError(t, os.WriteFile(config, []byte("route:\n  receiver: \"null\"\nreceivers:\n  - name: \"null\"\n"), 0o644))

	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())

	out := &logtest.Buffer{}
	cmd := exec.CommandContext(ctx, alertmanagerBin,
		"--config.file="+config,
		"--storage.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--cluster.listen-address=", // no HA mode: no gossip port, no settling wait
		"--log.level=warn",
	)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.WaitDelay = 5 * time.Second
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("alertmanager output:\n%s", out.String())
		}
	})

	base := "http://" + addr
	client := &http.Client{Timeout: time.Second}
	defer client.CloseIdleConnections()
	readyCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(readyCtx, http.MethodGet, base+"/-/ready", nil)
		require.NoError(t, err)
		if resp, err := client.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base
			}
		}
		select {
		case <-readyCtx.Done():
			t.Fatalf("alertmanager on %s not ready: %v\n%s", addr, readyCtx.Err(), out.String())
		case <-tick.C:
		}
	}
}

// amAlert is what amtool prints of an alert.
type amAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	StartsAt    time.Time         `json:"startsAt"`
	EndsAt      time.Time         `json:"endsAt"`
	Status      struct {
		State string `json:"state"`
	} `json:"status"`
	GeneratorURL string `json:"generatorURL"`
}

// query asks amtool for the active canary alerts.
func query(ctx context.Context, t *testing.T, base string) []amAlert {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, amtoolBin, "--alertmanager.url="+base,
		"alert", "query", "-o", "json", "alertname="+AlertName)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "amtool: %s", stderr.String())
	var alerts []amAlert
	require.NoError(t, json.Unmarshal(out, &alerts), "amtool output %s", out)
	return alerts
}

func TestRealAlertmanager(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	base := startAlertmanager(ctx, t)

	t0 := time.Now().UTC().Truncate(time.Millisecond) // Alertmanager keeps milliseconds
	clk := &clock{t: t0}
	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	n, err := New(Options{URL: base, HTTPClient: client, Now: clk.Now})
	require.NoError(t, err)

	nt := fixture(alert.Firing)
	nt.Since = t0.Add(-time.Minute)

	// Firing: active, with our labels, annotations and times.
	_, err = n.Notify(ctx, nt)
	require.NoError(t, err)
	alerts := query(ctx, t, base)
	require.Len(t, alerts, 1, "%+v", alerts)
	a := alerts[0]
	assert.Equal(t, "active", a.Status.State)
	assert.Equal(t, map[string]string{"alertname": AlertName, "check": "checkout", "slo": "availability",
		"severity": "page", "team": "payments", "cost_center": "42"}, a.Labels)
	assert.Equal(t, "checkout: SLO availability is burning its error budget 14.4× too fast over 1h/5m", a.Annotations["summary"])
	assert.Equal(t, nt.RunbookURL, a.Annotations["runbook_url"])
	assert.Equal(t, nt.StatusURL, a.GeneratorURL)
	assert.True(t, nt.Since.Equal(a.StartsAt), "startsAt %v, want %v", a.StartsAt, nt.Since)
	assert.True(t, t0.Add(DefaultResolveTimeout).Equal(a.EndsAt), "endsAt %v, want now+5m", a.EndsAt)

	// Refresh: the same alert, its end moved on.
	clk.Set(t0.Add(30 * time.Second))
	require.NoError(t, n.Refresh(ctx, nt))
	alerts = query(ctx, t, base)
	require.Len(t, alerts, 1, "a refresh is the same alert: %+v", alerts)
	assert.True(t, t0.Add(30*time.Second+DefaultResolveTimeout).Equal(alerts[0].EndsAt),
		"endsAt after refresh %v", alerts[0].EndsAt)
	assert.True(t, nt.Since.Equal(alerts[0].StartsAt), "startsAt kept")

	// Resolved: no longer active.
	clk.Set(time.Now().UTC())
	res := fixture(alert.Resolved)
	res.Since, res.At = nt.Since, clk.Now()
	_, err = n.Notify(ctx, res)
	require.NoError(t, err)
	alerts = query(ctx, t, base)
	assert.Empty(t, alerts, "resolved alert still active: %+v", alerts)

	// A clock behind ours: a start after the end is clamped, which
	// Alertmanager accepts (it refuses an alert that ends before it starts).
	skewed := fixture(alert.Resolved)
	skewed.Since = time.Now().Add(time.Hour)
	_, err = n.Notify(ctx, skewed)
	require.NoError(t, err)
}
