package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/canaryproj/canary/internal/clock"
	"github.com/canaryproj/canary/internal/mdblock"
	"github.com/canaryproj/canary/profiles"
	"github.com/canaryproj/canary/push"
	"github.com/canaryproj/canary/run"
	"github.com/canaryproj/canary/scenario"
	"github.com/canaryproj/canary/slo"
)

// The JSON examples of docs/gates.md's API section are what users expect
// the daemon to send and accept. These tests decode each one strictly into
// the daemon's own type and compare the keys it shows with those of a real
// answer for a comparable case, so that the page cannot drift from the API.

// gatesDocBlocks returns the fenced blocks of docs/gates.md.
func gatesDocBlocks(t *testing.T) []mdblock.Block {
	t.Helper()
	blocks, err := mdblock.Read("../docs/gates.md")
	require.NoError(t, err)
	return blocks
}

// gatesDocBlock is the only block of lang under the heading that starts
// with heading.
func gatesDocBlock(t *testing.T, heading, lang string) mdblock.Block {
	t.Helper()
	b, err := mdblock.One(gatesDocBlocks(t), heading, lang)
	require.NoError(t, err, "docs/gates.md")
	return b
}

// decodeStrictly decodes the block into v as the daemon would have to
// read it: every key one of v's fields, one JSON value and nothing after.
func decodeStrictly(t *testing.T, b mdblock.Block, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(b.Body))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(v), "%s is not what the daemon's %T holds", b.Name(), v)
	require.ErrorIs(t, dec.Decode(new(any)), io.EOF, "%s: something after its JSON value", b.Name())
}

// keyPaths lists the keys of a JSON value, nested keys as "a.b", the keys
// of an array's elements (all of them together) as "a[].b".
func keyPaths(v any) []string {
	set := map[string]bool{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				p := k
				if prefix != "" {
					p = prefix + "." + k
				}
				set[p] = true
				walk(p, e)
			}
		case []any:
			for _, e := range v {
				walk(prefix+"[]", e)
			}
		}
	}
	walk("", v)
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestKeyPaths(t *testing.T) {
	for _, tc := range []struct {
		name string
		json string
		want []string
	}{
		{"a scalar", `1`, []string{}},
		{"flat", `{"b": 1, "a": null}`, []string{"a", "b"}},
		{"nested", `{"a": {"b": {"c": true}}}`, []string{"a", "a.b", "a.b.c"}},
		{"the elements of an array together", `{"a": [{"x": 1}, {"y": 2}, 3]}`, []string{"a", "a[].x", "a[].y"}},
		{"an array of arrays", `[[{"x": 1}]]`, []string{"[][].x"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var v any
			require.NoError(t, json.Unmarshal([]byte(tc.json), &v))
			require.Equal(t, tc.want, keyPaths(v))
		})
	}
}

// sameKeys fails, naming the block, unless the block shows exactly the
// keys of the daemon's answer.
func sameKeys(t *testing.T, b mdblock.Block, answer []byte) {
	t.Helper()
	var doc, real any
	require.NoError(t, json.Unmarshal([]byte(b.Body), &doc), b.Name())
	require.NoError(t, json.Unmarshal(answer, &real), "the daemon's answer: %s", answer)
	docKeys, realKeys := keyPaths(doc), keyPaths(real)
	var onlyDoc, onlyReal []string
	for _, k := range docKeys {
		if !slices.Contains(realKeys, k) {
			onlyDoc = append(onlyDoc, k)
		}
	}
	for _, k := range realKeys {
		if !slices.Contains(docKeys, k) {
			onlyReal = append(onlyReal, k)
		}
	}
	require.True(t, onlyDoc == nil && onlyReal == nil,
		"%s has drifted from the daemon's answer:\nkeys the doc shows that the daemon does not send: %v\nkeys the daemon sends that the doc does not show: %v\nthe answer: %s",
		b.Name(), onlyDoc, onlyReal, answer)
}

// get returns the status and body of a GET.
func (td *testDaemon) get(path string) (int, []byte) {
	td.t.Helper()
	resp, err := http.Get(td.base + path)
	require.NoError(td.t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(td.t, err)
	return resp.StatusCode, body
}

// The verdict answer of GET /api/v1/checks/{name}/verdict (and the gate's,
// "the same body"), shown in docs/gates.md: a check with a success and a
// latency objective, judged since a time, as in the example.
func TestGatesDocVerdictAnswer(t *testing.T) {
	b := gatesDocBlock(t, "`GET /api/v1/checks/{name}/verdict", "json")
	decodeStrictly(t, b, &verdictDoc{})

	td := startFake(t, "", `  - name: checkout
    scenario: shop.yaml
    profile: {rate: 20/s}
    slos:
      - {name: availability, success: 99.5%}
      - {name: products-p99, latency: {step: products, percentile: 99, below: 300ms}}
    window: 5m
    min_samples: 10
`)
	since := td.clk.Now().UTC().Format(time.RFC3339)
	td.advance(3 * time.Second)
	for _, tc := range []struct {
		path  string
		codes []int
	}{
		{"/api/v1/checks/checkout/verdict", []int{200}},
		{"/api/v1/gate/checkout", []int{200, 412, 503}},
	} {
		t.Run(tc.path, func(t *testing.T) {
			code, answer := td.get(tc.path + "?since=" + since)
			require.Contains(t, tc.codes, code, "%s", answer)
			sameKeys(t, b, answer)
		})
	}
}

// The body of POST /api/v1/runs shown in docs/gates.md: the daemon reads
// it strictly, and starts the run it asks for when it is sent as written.
func TestGatesDocRunRequest(t *testing.T) {
	b := gatesDocBlock(t, "`POST /api/v1/runs`", "json")
	decodeStrictly(t, b, &runRequest{})

	// On a fake clock the run starts and waits: the test is about its start.
	td := startFake(t, "", `  - name: checkout
    scenario: shop.yaml
    profile: {rate: 5/s}
    slos:
      - {name: availability, success: 99.5%}
`)
	code, hdr, answer := td.send("POST", "/api/v1/runs", bearer(token), b.Body)
	require.Equal(t, http.StatusAccepted, code, "%s, sent as written: %s", b.Name(), answer)
	require.True(t, strings.HasPrefix(hdr.Get("Location"), td.base+"/api/v1/runs/"), "an absolute Location: %q", hdr.Get("Location"))
	var started runDoc
	require.NoError(t, json.Unmarshal([]byte(answer), &started))
	var req runRequest
	require.NoError(t, json.Unmarshal([]byte(b.Body), &req))
	require.Equal(t, req.Check, started.Check)
	require.Equal(t, req.Key, started.Key)
}

// The run document of a distributed run in docs/gates.md: four segments
// that started at a start time, three of which have reported.
func TestGatesDocDistributedRun(t *testing.T) {
	b := gatesDocBlock(t, "Distributed runs", "json")
	decodeStrictly(t, b, &runDoc{})

	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer target.Close()
	sc, err := scenario.Parse("checkout.yaml", []byte(`name: checkout
steps:
  - name: products
    request: {url: "`+target.URL+`/products"}
    expect: {status: 200}
`), scenario.LoadOptions{})
	require.NoError(t, err)
	var objs []slo.Objective
	for _, e := range []string{"errors<1%", "p99(products)<300ms"} {
		o, err := slo.ParseExpr(e)
		require.NoError(t, err)
		objs = append(objs, o)
	}
	// What `canary run --rate 20/s --duration … --segment i/4` reports,
	// shortened to a fifth of a second.
	whole, err := profiles.FromFlags(profiles.Flags{Rate: "20/s", Duration: 200 * time.Millisecond})
	require.NoError(t, err)

	td := segmentsDaemon(t, clock.NewFake(epoch))
	const id = "checkout-20261207T100000Z"
	startAt, deadline := epoch, epoch.Add(9*time.Minute)
	msg := func(event string, i int, report json.RawMessage) push.Message {
		return push.Message{Event: event, Segment: fmt.Sprintf("%d/4", i+1), Scenario: "checkout",
			Deadline: deadline, StartAt: &startAt, Report: report}
	}
	for i := range 4 {
		_, err := td.pushTo(id, msg(push.Start, i, nil))
		require.NoError(t, err)
	}
	for i := range 3 {
		seg, err := whole.Segment(i, 4)
		require.NoError(t, err)
		o, err := run.Run(context.Background(), run.Options{Scenario: sc, Profile: seg, SLOs: objs})
		require.NoError(t, err)
		raw, err := json.Marshal(o.Report)
		require.NoError(t, err)
		_, err = td.pushTo(id, msg(push.Done, i, raw))
		require.NoError(t, err)
	}
	code, answer := td.get("/api/v1/runs/" + id)
	require.Equal(t, http.StatusOK, code, "%s", answer)
	var doc runDoc
	require.NoError(t, json.Unmarshal(answer, &doc))
	require.Equal(t, RunRunning, doc.Status, "three segments of four reported")
	sameKeys(t, b, answer)
}

// gatesDocChecked are the blocks of docs/gates.md that tests here and in
// cmd/canary/cli (gates_doc_test.go) check, by heading and language.
var gatesDocChecked = []struct{ heading, lang string }{
	{"`GET /api/v1/checks/{name}/verdict", "json"}, // TestGatesDocVerdictAnswer
	{"`POST /api/v1/runs`", "json"},                // TestGatesDocRunRequest
	{"Distributed runs", "json"},                   // TestGatesDocDistributedRun
	{"`canary gate`", "sh"},                        // cli: TestGatesDocGateCommands
	{"`canary gate`", ""},                          // cli: TestGatesDocGateOutput
}

// Every block of docs/gates.md is checked by a test: one of the blocks
// above, or a file under deploy/ shown verbatim (which deploy/docs_test.go,
// gates_doc_test.go and cmd/canary/flagger_test.go feed to Argo, Flagger,
// Spinnaker and the CI runners). A new block needs a test.
func TestGatesDocEveryBlockIsChecked(t *testing.T) {
	var files []string
	for _, dir := range []string{"argo", "ci", "flagger", "spinnaker"} {
		entries, err := os.ReadDir(filepath.Join("..", "deploy", dir))
		require.NoError(t, err)
		for _, e := range entries {
			raw, err := os.ReadFile(filepath.Join("..", "deploy", dir, e.Name()))
			require.NoError(t, err)
			files = append(files, string(raw))
		}
	}
	for _, b := range gatesDocBlocks(t) {
		checked := slices.Contains(files, b.Body+"\n")
		for _, c := range gatesDocChecked {
			checked = checked || b.Lang == c.lang && strings.HasPrefix(b.Heading, c.heading)
		}
		require.True(t, checked, "%s is checked by no test: show a file of deploy/ verbatim, or test the block", b.Name())
	}
}

// The keys docs/gates.md lists in a line for the answer of GET
// /api/v1/runs/{id} ("Always 200 with `{"id", …}`") are those of an
// on-demand run's answer, running and done. Two are not produced here:
// "error" (documented, for a run that could not run) and "request_hash"
// (what the daemon compares a reused key's request with: not for users).
func TestGatesDocRunAnswerKeys(t *testing.T) {
	raw, err := os.ReadFile("../docs/gates.md")
	require.NoError(t, err)
	const what = "docs/gates.md, the keys of GET /api/v1/runs/{id} (\"Always 200 with `{…}`\")"
	list := regexp.MustCompile("Always 200 with `(\\{[^`]*\\})`").FindSubmatch(raw)
	require.NotNil(t, list, "%s: the line is not found", what)
	var documented []string
	for _, m := range regexp.MustCompile(`"([a-z_]+)"(?:\s*:\s*"[^"]*")?`).FindAllSubmatch(list[1], -1) {
		documented = append(documented, string(m[1]))
	}
	sort.Strings(documented)

	// An objective no target meets, for a run with reasons.
	td := start(t, `  - name: checkout
    scenario: shop.yaml
    profile: {rate: 5/s}
    slos:
      - {name: instant, expr: "p99 < 1us"}
`)
	code, hdr, started := td.send("POST", "/api/v1/runs", bearer(token),
		`{"check": "checkout", "profile": {"rate": "5/s"}, "duration": "1s", "key": "k1"}`)
	require.Equal(t, http.StatusAccepted, code, started)
	path := strings.TrimPrefix(hdr.Get("Location"), td.base)
	seen := map[string]bool{"error": true}
	add := func(answer []byte) map[string]any {
		var m map[string]any
		require.NoError(t, json.Unmarshal(answer, &m), "%s", answer)
		for k := range m {
			seen[k] = k != "request_hash"
		}
		return m
	}
	_, running := td.get(path)
	add(running)
	require.Eventually(t, func() bool {
		_, answer := td.get(path)
		return add(answer)["status"] != RunRunning
	}, 30*time.Second, 100*time.Millisecond)
	var real []string
	for k, shown := range seen {
		if shown {
			real = append(real, k)
		}
	}
	sort.Strings(real)
	require.Equal(t, real, documented, "%s has drifted from the daemon's answers", what)
}
