// Package mdblock reads the fenced code blocks of a Markdown page, each with
// the heading it stands under: test support for the tests that keep the
// documentation's examples honest (they feed a block to its consumer, or
// compare it with what the code produces).
package mdblock

import (
	"fmt"
	"os"
	"strings"
)

// Block is one fenced block of a page.
type Block struct {
	Path    string // the page, as given to Read
	Line    int    // of the opening fence, 1-based
	Lang    string // the fence's info string ("json", "sh", or "")
	Heading string // the nearest heading above it, without its #s
	Body    string // without the fences; no trailing newline
}

// Name says which block it is, for a failure message.
func (b Block) Name() string {
	return fmt.Sprintf("%s:%d (the ```%s block under %q)", b.Path, b.Line, b.Lang, b.Heading)
}

// Read returns the fenced blocks of the page at path, in order; a block
// left open is an error.
func Read(path string) ([]Block, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var (
		out     []Block
		cur     *Block
		body    []string
		heading string
	)
	for i, line := range strings.Split(string(raw), "\n") {
		switch {
		case strings.HasPrefix(line, "```") && cur == nil:
			cur = &Block{Path: path, Line: i + 1, Lang: strings.TrimPrefix(line, "```"), Heading: heading}
			body = nil
		case strings.HasPrefix(line, "```"):
			cur.Body = strings.Join(body, "\n")
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			body = append(body, line)
		case strings.HasPrefix(line, "#"):
			heading = strings.TrimSpace(strings.TrimLeft(line, "#"))
		}
	}
	if cur != nil {
		return nil, fmt.Errorf("%s:%d: the ```%s block is never closed", path, cur.Line, cur.Lang)
	}
	return out, nil
}

// One is the only block of lang under a heading that starts with heading.
func One(blocks []Block, heading, lang string) (Block, error) {
	var found []Block
	for _, b := range blocks {
		if b.Lang == lang && strings.HasPrefix(b.Heading, heading) {
			found = append(found, b)
		}
	}
	if len(found) != 1 {
		return Block{}, fmt.Errorf("want one ```%s block under the heading %q, found %d", lang, heading, len(found))
	}
	return found[0], nil
}
