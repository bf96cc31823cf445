package daemon

import (
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canaryproj/canary/demotarget"
	"github.com/canaryproj/canary/slo"
	"github.com/canaryproj/canary/stats"
)

// checkSummaryOf is one check of GET /api/v1/checks, decoded.
func (td *testDaemon) checkSummaryOf(name string) map[string]any {
	td.t.Helper()
	_, _, list := td.do("GET", "/api/v1/checks", "", nil)
	checks, _ := list["checks"].([]any)
	for _, c := range checks {
		if m, _ := c.(map[string]any); m["name"] == name {
			return m
		}
	}
	td.t.Fatalf("no check %q in %v", name, list)
	return nil
}

func TestUptimeInTheAPIAndOnThePage(t *testing.T) {
	td := start(t, shopCheck)
	require.Eventually(t, func() bool {
		return td.checkSummaryOf("shop")["verdict"] == "pass"
	}, 10*time.Second, 100*time.Millisecond)
	// Failures, enough to overspend the 5 % budget: the uptime counts them,
	// exactly.
	require.NoError(t, td.demo.SetFaults(demotarget.Faults{ErrorRatio: 0.5, PathPrefix: "/products"}))
	require.Eventually(t, func() bool {
		ups, _ := td.checkSummaryOf("shop")["uptime"].([]any)
		u, _ := ups[0].(map[string]any)
		success, _ := u["success"].(float64)
		total, _ := u["total"].(float64)
		return total > 0 && success/total < 0.9
	}, 20*time.Second, 100*time.Millisecond)

	s := td.checkSummaryOf("shop")
	ups, _ := s["uptime"].([]any)
	require.Len(t, ups, 3)
	for i, want := range []string{"24h", "7d", "30d"} {
		u := ups[i].(map[string]any)
		assert.Equal(t, want, u["window"])
		success, total := u["success"].(float64), u["total"].(float64)
		assert.Greater(t, total, success)
		assert.InDelta(t, success/total, u["ratio"].(float64), 1e-12, "ratio is success/total")
		span := u["span_s"].(float64)
		assert.True(t, span > 0 && span < 60, "%s: span_s %v counts what the young check has run", want, span)
		_, err := time.Parse(time.RFC3339Nano, fmt.Sprint(u["covered_from"]))
		assert.NoError(t, err)
	}
	assert.Nil(t, s["next_run"], "a continuous check has no next run")

	page := td.raw("/checks/shop")
	for _, want := range []string{"<h2>Uptime</h2>", "last 24h", "last 30d", `<figure id="latency">`, ">time (UTC)<",
		`<img src="/badge/shop.svg"`, "error budget", "overspent", "so far (of a 30d period)"} {
		assert.Contains(t, page, want)
	}
	assert.Contains(t, td.raw("/"), "uptime 24 h")
}

func TestScheduledChecksShowTheirNextAndLastRun(t *testing.T) {
	td := start(t, `  - name: every3s
    scenario: shop.yaml
    profile: {constant: {target: 20, duration: 1s}}
    schedule: "@every 3s"
    slos:
      - {name: availability, success: 95%}
    window: 1s
    min_samples: 5
`)
	// Before the first run: the next one.
	s := td.checkSummaryOf("every3s")
	next, err := time.Parse(time.RFC3339Nano, fmt.Sprint(s["next_run"]))
	require.NoError(t, err, "next_run %v", s["next_run"])
	assert.WithinDuration(t, time.Now().Add(3*time.Second), next, 2*time.Second)

	// After a run: its verdict, judged over what the run recorded.
	var last map[string]any
	require.Eventually(t, func() bool {
		last, _ = td.checkSummaryOf("every3s")["last_run"].(map[string]any)
		return last != nil
	}, 15*time.Second, 100*time.Millisecond)
	assert.Equal(t, "pass", last["verdict"])
	assert.InDelta(t, 20, last["samples"], 2, "the run's iterations, not the window's")
	start, err := time.Parse(time.RFC3339Nano, fmt.Sprint(last["start"]))
	require.NoError(t, err)
	end, err := time.Parse(time.RFC3339Nano, fmt.Sprint(last["end"]))
	require.NoError(t, err)
	assert.InDelta(t, time.Second, end.Sub(start), float64(time.Second), "a run of the 1 s profile")

	require.Eventually(t, func() bool {
		page := td.raw("/")
		return strings.Contains(page, "last run") && strings.Contains(page, "next run")
	}, 10*time.Second, 100*time.Millisecond, "the overview shows the last and next run, not an empty inconclusive row")
	assert.Contains(t, td.raw("/checks/every3s"), "Scheduled <code>@every 3s</code>")
}

func TestBadges(t *testing.T) {
	td := start(t, shopCheck)
	require.Eventually(t, func() bool {
		return td.checkSummaryOf("shop")["verdict"] == "pass"
	}, 10*time.Second, 100*time.Millisecond)

	badge := func(path string) (int, http.Header, string) {
		resp, err := http.Get(td.base + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		var doc struct {
			Title string `xml:"title"`
		}
		require.NoError(t, xml.Unmarshal(b, &doc), "%s: an SVG document: %s", path, b)
		return resp.StatusCode, resp.Header, doc.Title
	}
	for _, tc := range []struct {
		name, path string
		code       int
		title      string // a regular expression
	}{
		{"status", "/badge/shop.svg", 200, `^shop: pass$`},
		{"status with a cache buster", "/badge/shop.svg?v=2", 200, `^shop: pass$`},
		{"uptime over 30 days by default", "/badge/shop/uptime.svg", 200, `^uptime 30d: 100%$`},
		{"uptime over 7 days", "/badge/shop/uptime.svg?window=7d", 200, `^uptime 7d: 100%$`},
		{"uptime over a day", "/badge/shop/uptime.svg?window=24h", 200, `^uptime 24h: 100%$`},
		{"uptime over an hour", "/badge/shop/uptime.svg?window=1h", 200, `^uptime 1h: 100%$`},
		{"another window", "/badge/shop/uptime.svg?window=5m", 400, `^window: use 1h, 24h, 7d or 30d$`},
		{"not a window", "/badge/shop/uptime.svg?window=forever", 400, `^window: use 1h, 24h, 7d or 30d$`},
		{"a long query", "/badge/shop.svg?x=" + strings.Repeat("a", 300), 400, `^query: too long$`},
		{"an unknown check", "/badge/nope.svg", 404, `^check: not found$`},
		{"an unknown check's uptime", "/badge/nope/uptime.svg", 404, `^check: not found$`},
		{"not an svg", "/badge/shop.png", 404, `^badge: not found$`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, hdr, title := badge(tc.path)
			assert.Equal(t, tc.code, code)
			assert.Equal(t, "image/svg+xml; charset=utf-8", hdr.Get("Content-Type"))
			assert.Equal(t, "no-cache, max-age=0", hdr.Get("Cache-Control"))
			if strings.HasPrefix(tc.title, "^shop: ") {
				// The verdict the status page shows, which a busy machine may
				// turn inconclusive (a saturated generator) between two reads:
				// the badge says what the API says.
				require.Eventually(t, func() bool {
					_, _, title = badge(tc.path)
					return title == "shop: "+fmt.Sprint(td.checkSummaryOf("shop")["verdict"])
				}, 10*time.Second, 50*time.Millisecond, "the badge %q follows the API's verdict", title)
				return
			}
			assert.Regexp(t, tc.title, title)
		})
	}

	require.NoError(t, td.demo.SetFaults(demotarget.Faults{ErrorRatio: 1, PathPrefix: "/products"}))
	require.Eventually(t, func() bool { _, _, title := badge("/badge/shop.svg"); return title == "shop: fail" }, 10*time.Second, 100*time.Millisecond)
	_, _, title := badge("/badge/shop/uptime.svg?window=1h")
	assert.Regexp(t, `^uptime 1h: \d{1,2}\.\d\d%$`, title, "failures bring the uptime down")
}

func TestSeriesViewMergesWithoutHidingSpikes(t *testing.T) {
	start := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	now := start.Add(48 * time.Hour)
	var pts []stats.Point
	for i := 0; i < 3000; i++ {
		p := stats.Point{T: float64(24*3600 + i*20), Rate: 2, Errors: 0, P50: 10, P99: 20}
		if i == 1234 {
			p.P99, p.Errors = 900, 1
		}
		if i >= 2000 && i < 2100 {
			p = stats.Point{T: p.T} // nothing ran
		}
		pts = append(pts, p)
	}
	old := stats.Point{T: 3600, Rate: 2, P99: 5000} // older than the page's 24 h
	view := seriesView(append([]stats.Point{old}, pts...), start, now)

	require.LessOrEqual(t, len(view), historyPoints)
	assert.False(t, view[0].T.Before(now.Add(-historySpan)), "only the last 24 h")
	top, errs, gaps := 0.0, 0.0, 0
	for _, p := range view {
		if math.IsNaN(p.P99Ms) {
			gaps++
			assert.True(t, math.IsNaN(p.ErrorPct), "no error share without iterations")
			continue
		}
		top = math.Max(top, p.P99Ms)
		errs = math.Max(errs, p.ErrorPct)
	}
	assert.Equal(t, 900.0, top, "a merged point keeps its highest p99")
	assert.Greater(t, errs, 0.0, "and its failures")
	assert.Greater(t, gaps, 5, "a stretch without iterations is a gap, not a latency of 0")
}

func TestObservedForPeople(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    slo.Objective
		v    float64
		want string
	}{
		{"success rounds down", slo.Objective{Kind: slo.KindSuccess}, 0.648208, "64.82\u00a0%"},
		{"success never reads 100 % with a failure", slo.Objective{Kind: slo.KindSuccess}, 0.99999, "99.99\u00a0%"},
		{"all successful", slo.Objective{Kind: slo.KindSuccess}, 1, "100\u00a0%"},
		{"no errors", slo.Objective{Kind: slo.KindErrors}, 0, "0\u00a0%"},
		{"errors round up", slo.Objective{Kind: slo.KindErrors}, 0.000012, "0.01\u00a0%"},
		{"latency to three digits", slo.Objective{Kind: slo.KindLatency}, 0.41273, "413ms"},
		{"rps", slo.Objective{Kind: slo.KindRPS}, 19.996, "20"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, observedForPeople(tc.o, tc.v))
		})
	}
}

// The badges docs/daemon.md tells people to paste into a README are
// served, as the Markdown gives them.
func TestDocumentedBadges(t *testing.T) {
	doc, err := os.ReadFile("../docs/daemon.md")
	require.NoError(t, err)
	block := regexp.MustCompile("(?s)## Badges.*?```markdown\n(.*?)```").FindSubmatch(doc)
	require.NotNil(t, block, "docs/daemon.md has a markdown block under ## Badges")
	images := regexp.MustCompile(`!\[[^\]]*\]\((https?://[^)\s]+)\)`).FindAllSubmatch(block[1], -1)
	require.Len(t, images, 2)

	td := startForDocs(t)
	require.Eventually(t, func() bool { return td.checkSummaryOf("checkout")["verdict"] == "pass" }, 10*time.Second, 100*time.Millisecond)
	for _, img := range images {
		u, err := url.Parse(string(img[1]))
		require.NoError(t, err)
		resp, err := http.Get(td.base + u.RequestURI())
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		assert.Equal(t, 200, resp.StatusCode, u.RequestURI())
		assert.Equal(t, "image/svg+xml; charset=utf-8", resp.Header.Get("Content-Type"))
		var svg struct {
			Title string `xml:"title"`
		}
		require.NoError(t, xml.Unmarshal(body, &svg), "%s", body)
		assert.Regexp(t, `^(checkout: pass|uptime 30d: 100%)$`, svg.Title, u.RequestURI())
	}
}
