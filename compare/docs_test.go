package compare

import (
	"bytes"
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// codeBlocks returns the fenced blocks of a Markdown file with the given
// info string, in order.
func codeBlocks(t *testing.T, path, info string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var blocks []string
	re := regexp.MustCompile("(?ms)^```" + regexp.QuoteMeta(info) + "\n(.*?)^```")
	for _, m := range re.FindAllStringSubmatch(string(data), -1) {
		blocks = append(blocks, m[1])
	}
	return blocks
}

func lines(block string) []string {
	return strings.Split(strings.TrimRight(block, "\n"), "\n")
}

// TestDocsExamples: what docs/compare.md shows is what the code does — its
// objectives parse, its defaults are the defaults, its error messages are
// the parser's, and its JSON is a judgement's.
func TestDocsExamples(t *testing.T) {
	const doc = "../docs/compare.md"
	text := codeBlocks(t, doc, "text")
	require.GreaterOrEqual(t, len(text), 3, "%s: the objectives, the errors and the defaults", doc)

	for _, s := range lines(text[0]) {
		_, err := ParseObjective(s)
		assert.NoError(t, err, "%s shows %q", doc, s)
	}

	errLine := regexp.MustCompile(`^objective "((?:[^"\\]|\\.)*)": `)
	for _, want := range lines(text[1]) {
		m := errLine.FindStringSubmatch(want)
		require.NotNil(t, m, "%s: %q is not an objective's error", doc, want)
		var expr string
		require.NoError(t, json.Unmarshal([]byte(`"`+m[1]+`"`), &expr))
		_, err := ParseObjective(expr)
		assert.EqualError(t, err, want, "%s shows the error of %q", doc, expr)
	}

	assert.Equal(t, defaultObjectives, lines(text[2]), "%s lists the default objectives", doc)

	js := codeBlocks(t, doc, "json")
	require.Len(t, js, 1)
	dec := json.NewDecoder(bytes.NewReader([]byte(js[0])))
	dec.DisallowUnknownFields()
	var j Judgement
	require.NoError(t, dec.Decode(&j), "%s: the JSON example is a judgement", doc)
	require.NotEmpty(t, j.Results)
	_, err := ParseObjective(j.Results[0].Expr)
	assert.NoError(t, err)
}
