package daemon

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/canaryproj/canary/internal/membound"
	"github.com/canaryproj/canary/internal/yamlfile"
	"github.com/canaryproj/canary/profiles"
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
			_ = json.Unmarshal([]byte(body), &fp)
		})
	})
}
