package daemon

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/canaryproj/canary/config"
	"github.com/canaryproj/canary/internal/clock"
	"github.com/canaryproj/canary/internal/membound"
	"github.com/canaryproj/canary/internal/yamlfile"
	"github.com/canaryproj/canary/profiles"
	"github.com/canaryproj/canary/stats"
)

// FuzzAPIBodies decodes the API's request bodies as their handlers do:
// POST /api/v1/runs (with an inline profile), POST /api/v1/silences and a
// Flagger webhook payload.
func FuzzAPIBodies(f *testing.F) {
	for _, s := range []string{
		`{"check":"checkout","profile":{"rate":"20/s"},"duration":"2m","key":"k1"}`,
		`{"check":"checkout","profile":"profiles/steady.yaml"}`,
		`{"check":"a","profile":{"stages":[{"duration":"1s","target":5}]}}`,
		`{"matchers":{"check":"checkout"},"duration":"2h","comment":"deploy"}`,
		`{"matchers":{"check":"a"},"ends_at":"2026-12-06T10:00:00Z"}`,
		`{"name":"podinfo","namespace":"test","phase":"Progressing","metadata":{"token":"t","window":"5m"}}`,
		`{"check":"a"} {"check":"b"}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		membound.Check(t, 64*membound.MiB, func() {
			var run runRequest
			if decodeStrict(strings.NewReader(body), &run) == nil {
				if p := strings.TrimSpace(string(run.Profile)); p != "" && p != "null" && p[0] == '{' {
					// An inline profile is JSON, which YAML reads as it is.
					_, _ = profiles.Parse("profile", run.Profile, yamlfile.Options{})
				}
				_, _ = yamlfile.ParseDuration(run.Duration)
			}
			var sil silenceRequest
			if decodeStrict(strings.NewReader(body), &sil) == nil {
				_, _ = yamlfile.ParseDuration(sil.Duration)
			}
			var fp flaggerPayload
			_, _ = decodeLenient(strings.NewReader(body), &fp) // as the Flagger handlers read it
		})
	})
}

// FuzzQueryParameters reads the verdict and gate endpoints' query (window,
// since, min_samples; a Flagger payload's metadata carries the same keys)
// as their handlers do: an answer or an error, within its memory bound.
func FuzzQueryParameters(f *testing.F) {
	for _, s := range []string{
		"window=5m&since=2026-12-06T10:00:00Z&min_samples=10",
		"window=30d", "window=-1s", "window=1e400h", "since=2999-01-01T00:00:00Z", "min_samples=-3",
		"window=%zz", "window=5m&window=6m", strings.Repeat("window=1", 100),
	} {
		f.Add(s)
	}
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	d := &Daemon{clk: clock.NewFake(now)}
	ck := &config.Check{Name: "c", Window: 5 * time.Minute, MinSamples: 1}
	run := &checkRunner{ck: ck, col: stats.NewCollector([]string{"s"}, now.Add(-time.Hour), stats.Options{WindowRetention: 24 * time.Hour})}
	f.Fuzz(func(t *testing.T, query string) {
		membound.Check(t, 16*membound.MiB, func() {
			r := &http.Request{URL: &url.URL{RawQuery: query}}
			meta := map[string]string{}
			for k, vs := range r.URL.Query() {
				meta[k] = vs[0]
			}
			for _, m := range []map[string]string{nil, meta} {
				req := r
				if m != nil {
					req = &http.Request{URL: &url.URL{}}
				}
				p, err := d.parseParams(req, run, m)
				if err == nil && (p.window <= 0 || p.window > 24*time.Hour || p.minSamples < 0 || p.since.After(now)) {
					t.Fatalf("%q: accepted %+v", query, p)
				}
			}
		})
	})
}
