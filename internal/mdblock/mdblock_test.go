package mdblock

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func write(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "page.md")
	require.NoError(t, os.WriteFile(p, []byte(text), 0o600))
	return p
}

func TestRead(t *testing.T) {
	p := write(t, "# Title\n\n## `canary gate`\n\n```sh\ncanary gate a\ncanary gate b\n```\n\ntext # not a heading\n"+
		"```json\n{}\n```\n\n### Other\n```\nplain\n```\n")
	blocks, err := Read(p)
	require.NoError(t, err)
	assert.Equal(t, []Block{
		{Path: p, Line: 5, Lang: "sh", Heading: "`canary gate`", Body: "canary gate a\ncanary gate b"},
		{Path: p, Line: 11, Lang: "json", Heading: "`canary gate`", Body: "{}"},
		{Path: p, Line: 16, Lang: "", Heading: "Other", Body: "plain"},
	}, blocks)
	assert.Equal(t, p+":11 (the ```json block under \"`canary gate`\")", blocks[1].Name())

	b, err := One(blocks, "`canary", "json")
	require.NoError(t, err)
	assert.Equal(t, "{}", b.Body)
	_, err = One(blocks, "Other", "json")
	assert.EqualError(t, err, "want one ```json block under the heading \"Other\", found 0")

	_, err = Read(write(t, "# T\n```sh\nopen\n"))
	assert.ErrorContains(t, err, ":2: the ```sh block is never closed")
}
