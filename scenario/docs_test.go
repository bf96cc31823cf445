package scenario

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canaryproj/canary/slo"
)

// docSteps are steps every objective the docs show can be bound to.
const docSteps = `steps:
  - {name: login, tags: {region: eu, tier: auth}, request: {method: POST, url: "http://127.0.0.1:1/login"}}
  - {name: checkout, tags: {region: eu}, request: {method: POST, url: "http://127.0.0.1:1/checkout"}}
  - {name: cart, request: {url: "http://127.0.0.1:1/cart"}}
`

// section returns the text of a Markdown section, up to the next heading
// of its level.
func section(t *testing.T, doc, heading string) string {
	t.Helper()
	i := strings.Index(doc, heading+"\n")
	require.GreaterOrEqual(t, i, 0, "no section %q", heading)
	rest := doc[i+len(heading):]
	level := heading[:strings.IndexByte(heading, ' ')+1]
	if j := strings.Index(rest, "\n"+level); j >= 0 {
		rest = rest[:j]
	}
	return rest
}

// What docs/run.md shows as objectives parses and binds, and what it shows
// refused is refused.
func TestDocumentedObjectives(t *testing.T) {
	b, err := os.ReadFile("../docs/run.md")
	require.NoError(t, err)
	doc := string(b)
	sc := parseSrc(t, "name: docs\n"+docSteps, nil)
	var exprs []string
	for _, line := range strings.Split(section(t, doc, "## SLOs"), "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		for _, m := range regexp.MustCompile("`([^`]+)`").FindAllStringSubmatch(line, -1) {
			if strings.ContainsAny(m[1], "<>") {
				exprs = append(exprs, m[1])
			}
		}
	}
	for _, m := range regexp.MustCompile(`--slo '([^']+)'`).FindAllStringSubmatch(section(t, doc, "## Aborting early"), -1) {
		exprs = append(exprs, m[1])
	}
	require.Greater(t, len(exprs), 15)
	for _, e := range exprs {
		o, err := slo.ParseExpr(e)
		if assert.NoError(t, err, "docs/run.md: %q", e) {
			assert.NoError(t, sc.BindSLOs([]slo.Objective{o}), "docs/run.md: %q", e)
		}
	}
	assert.Contains(t, doc, "`errors<1` is\n  refused")
	_, err = slo.ParseExpr("errors<1")
	assert.Error(t, err)
	assert.Contains(t, doc, "`status=` filters only `errors` and `success`")
	_, err = slo.ParseExpr("p99(status=5xx)<1s")
	assert.Error(t, err)
}

// The slos block of docs/scenario.md loads, bound to the steps it names.
func TestDocumentedScenarioSLOs(t *testing.T) {
	b, err := os.ReadFile("../docs/scenario.md")
	require.NoError(t, err)
	block := regexp.MustCompile("(?s)```yaml\n(slos:\n.*?)```").FindStringSubmatch(section(t, string(b), "## Objectives (`slos`)"))
	require.NotNil(t, block, "docs/scenario.md has a slos block")
	sc := parseSrc(t, "name: docs\n"+docSteps+block[1], nil)
	assert.Len(t, sc.SLOs, 5)
	for _, o := range sc.SLOs {
		if o.Abort != nil {
			assert.Contains(t, []string{"errors<1%", "writes"}, o.Name)
		}
	}
}
