package slack

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	goslack "github.com/slack-go/slack"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canaryproj/canary/alert"
	"github.com/canaryproj/canary/internal/golden"
	"github.com/canaryproj/canary/stats"
)

var since = time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC)

// fixture is a realistic notification of the given kind.
func fixture(kind alert.Kind) *alert.Notification {
	nt := &alert.Notification{
		ID:         "checkout/availability/1/" + string(kind),
		AlertID:    "checkout/availability/1",
		Kind:       kind,
		At:         since,
		Check:      "checkout",
		SLO:        "availability",
		Severity:   "page",
		Labels:     map[string]string{"team": "payments", "env": "staging"},
		Objective:  "success >= 99.5%",
		Observed:   "97.9%",
		BurnRate:   14.4,
		Window:     "1h/5m",
		Since:      since,
		TopErrors:  []alert.Count{{Name: "timeout", Count: 112}, {Name: "http_5xx", Count: 31}},
		TopStatus:  []alert.Count{{Name: "503", Count: 31}, {Name: "200", Count: 5012}},
		StatusURL:  "https://canary.example.com/checks/checkout",
		RunbookURL: "https://wiki.example.com/runbooks/checkout?section=slo&lang=en",
	}
	nt.Failure = &alert.Failure{Reason: "step login: POST http://staging.example.com/login: status 503, want 200", Count: 31,
		Sample: &stats.FailureSample{
			Step: "login", Class: "http_status", Status: 503,
			Request: stats.SampleRequest{Method: "POST", URL: "http://staging.example.com/login",
				Headers: []stats.SampleHeader{{Name: "Authorization", Value: "<redacted>"}}},
			Response: &stats.SampleResponse{Status: 503, Headers: []stats.SampleHeader{{Name: "Retry-After", Value: "5"}},
				Body: "upstream `pool` exhausted <try later>", BodyBytes: 37},
			Assertion: &stats.AssertionFailure{Kind: "status", Expected: "200", Actual: "503"},
			Timing:    stats.SampleTiming{FirstByteMs: 2.5, BodyMs: 0.1, TotalMs: 2.7},
		}}
	switch kind {
	case alert.Reminder:
		nt.At = since.Add(4*time.Hour + 30*time.Second)
		nt.Observed = "98.4%"
		nt.BurnRate = 6.25
		nt.Window = "6h/30m"
	case alert.Resolved:
		nt.At = since.Add(5*time.Hour + 17*time.Minute)
		nt.Observed = "99.8%"
		nt.BurnRate = 0.4
		nt.TopErrors, nt.TopStatus = nil, nil
	}
	return nt
}

// partial is the resolve of an alert whose burn fell below every rule's
// factor without the SLO recovering: not "back within the budget".
func partial() *alert.Notification {
	nt := fixture(alert.Resolved)
	nt.BurnRate = 3.2
	nt.Observed = "success 99.21% < 99.9% over 1h, 99.7% < 99.9% over 5m"
	return nt
}

// hostile is a notification whose every text tries to break the message.
func hostile() *alert.Notification {
	nt := fixture(alert.Firing)
	nt.Check = "<!channel> & <@U123|boss>\nsecond line"
	nt.SLO = strings.Repeat("very-long-slo-name-", 20)
	nt.Objective = "p99(login) < 800ms & errors > 1% `x`"
	nt.Observed = strings.Repeat("&", 500)
	nt.TopErrors = []alert.Count{{Name: "a`b<c>", Count: 1}, {Name: "2", Count: 2}, {Name: "3", Count: 3},
		{Name: "4", Count: 4}, {Name: "5", Count: 5}, {Name: "6 (beyond the bound)", Count: 6}}
	nt.Labels = map[string]string{"<b>": "x&y"}
	nt.StatusURL = "javascript:alert(1)"
	nt.RunbookURL = "https://wiki.example.com/a|b>c"
	return nt
}

func goldenCases() []struct {
	name string
	nt   *alert.Notification
} {
	minimal := &alert.Notification{Kind: alert.Firing, Check: "api", SLO: "p99", BurnRate: 20}
	return []struct {
		name string
		nt   *alert.Notification
	}{
		{"firing", fixture(alert.Firing)},
		{"reminder", fixture(alert.Reminder)},
		{"resolved", fixture(alert.Resolved)},
		{"resolved-partially", partial()},
		{"minimal", minimal},
		{"hostile", hostile()},
		{"threshold-firing", threshold(alert.Firing)},
		{"threshold-resolved", threshold(alert.Resolved)},
	}
}

// threshold is an alert of an objective without an error budget.
func threshold(kind alert.Kind) *alert.Notification {
	nt := fixture(kind)
	nt.SLO, nt.Severity, nt.Objective = "certificate", alert.LevelSeverity, "tls_expiry>14d"
	nt.Observed = "9.5d (the certificate of shop.example.com (step login) expires 2025-03-24 09:26 UTC)"
	nt.BurnRate, nt.Window, nt.Threshold = 0, "", true
	nt.TopErrors, nt.TopStatus, nt.Failure = nil, nil, nil
	if kind == alert.Resolved {
		nt.Observed = "89d"
	}
	return nt
}

// payload is what the golden files hold: the fallback text and the blocks,
// as Slack receives them.
type payload struct {
	Text   string          `json:"text"`
	Blocks []goslack.Block `json:"blocks"`
}

func marshalPayload(t *testing.T, nt *alert.Notification) []byte {
	t.Helper()
	text, blocks := Message(nt)
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // readable goldens: "<" rather than "\u003c"
	enc.SetIndent("", "  ")
	require.NoError(t, enc.Encode(payload{Text: text, Blocks: blocks}))
	return b.Bytes()
}

func goldenPath(name string) string {
	return filepath.Join("testdata", name+".golden.json")
}

func readGolden(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(goldenPath(name))
	require.NoError(t, err, "golden file %s (regenerate with go test -update)", goldenPath(name))
	return b
}

func TestMessageGolden(t *testing.T) {
	for _, tc := range goldenCases() {
		t.Run(tc.name, func(t *testing.T) {
			got := marshalPayload(t, tc.nt)
			golden.Assert(t, goldenPath(tc.name), got)
			// Pure: a second build is the same, byte for byte.
			assert.Equal(t, string(got), string(marshalPayload(t, tc.nt)), "Message(%s) is not deterministic", tc.name)
		})
	}
}

func TestMessageStates(t *testing.T) {
	for _, tc := range []struct {
		kind   alert.Kind
		header string
		text   string
		field  string
	}{
		{alert.Firing, ":rotating_light: FIRING: checkout · availability", "burn rate 14.4× over 1h/5m", "*Firing since*"},
		{alert.Reminder, ":hourglass_flowing_sand: STILL FIRING: checkout · availability", "burn rate 6.3× over 6h/30m", "*Firing for*\n4h 0m"},
		{alert.Resolved, ":white_check_mark: RESOLVED: checkout · availability", "back within the error budget (burn rate 0.4× over 1h), resolved after 5h 17m", "*Fired for*\n5h 17m"},
	} {
		t.Run(string(tc.kind), func(t *testing.T) {
			text, blocks := Message(fixture(tc.kind))
			require.GreaterOrEqual(t, len(blocks), 3)
			h, ok := blocks[0].(*goslack.HeaderBlock)
			require.True(t, ok, "first block is %T, want a header", blocks[0])
			assert.Equal(t, tc.header, h.Text.Text)
			assert.Contains(t, text, tc.text)
			assert.True(t, strings.HasPrefix(text, tc.header), "text %q should start with the header", text)

			s, ok := blocks[1].(*goslack.SectionBlock)
			require.True(t, ok, "second block is %T, want a section", blocks[1])
			var fields []string
			for _, f := range s.Fields {
				fields = append(fields, f.Text)
			}
			assert.Contains(t, strings.Join(fields, "|"), tc.field)

			c, ok := blocks[len(blocks)-1].(*goslack.ContextBlock)
			require.True(t, ok, "last block is %T, want a context", blocks[len(blocks)-1])
			ctx := contextTexts(c)
			assert.Contains(t, ctx, "<https://canary.example.com/checks/checkout|:bar_chart: Status page>")
			// '&' in a link is escaped like any other '&'.
			assert.Contains(t, ctx, "<https://wiki.example.com/runbooks/checkout?section=slo&amp;lang=en|:book: Runbook>")
			assert.Contains(t, ctx, "env=staging · team=payments")
		})
	}
}

func contextTexts(c *goslack.ContextBlock) string {
	var parts []string
	for _, e := range c.ContextElements.Elements {
		if tb, ok := e.(*goslack.TextBlockObject); ok {
			parts = append(parts, tb.Text)
		}
	}
	return strings.Join(parts, "\n")
}

// limited is one text of a message and the limit it must keep.
type limited struct {
	text   string
	max    int
	mrkdwn bool
}

// allTexts lists every text of a message: the fallback and each text object.
func allTexts(t *testing.T, text string, blocks []goslack.Block) []limited {
	t.Helper()
	out := []limited{{text, maxFallback, true}}
	for _, b := range blocks {
		switch b := b.(type) {
		case *goslack.HeaderBlock:
			out = append(out, limited{b.Text.Text, maxHeader, false})
		case *goslack.SectionBlock:
			out = append(out, limited{b.Text.Text, maxSectionText, true})
			if len(b.Fields) > 10 {
				t.Fatalf("%d fields in a section, Slack takes 10", len(b.Fields))
			}
			for _, f := range b.Fields {
				out = append(out, limited{f.Text, maxField, true})
			}
		case *goslack.ContextBlock:
			if len(b.ContextElements.Elements) > 10 {
				t.Fatalf("%d elements in a context block, Slack takes 10", len(b.ContextElements.Elements))
			}
			for _, e := range b.ContextElements.Elements {
				tb, ok := e.(*goslack.TextBlockObject)
				if !ok {
					t.Fatalf("unexpected context element %T", e)
				}
				out = append(out, limited{tb.Text, maxContextText, true})
			}
		default:
			t.Fatalf("unexpected block %T", b)
		}
	}
	return out
}

// checkEntities fails when a '&' in mrkdwn does not start a whole entity
// (a cut in the middle of one, or an unescaped '&').
func checkEntities(t *testing.T, s string) {
	t.Helper()
	for off := 0; ; {
		i := strings.IndexByte(s[off:], '&')
		if i < 0 {
			return
		}
		rest := s[off+i:]
		if !strings.HasPrefix(rest, "&amp;") && !strings.HasPrefix(rest, "&lt;") && !strings.HasPrefix(rest, "&gt;") {
			t.Fatalf("broken entity in %q at %d", s, off+i)
		}
		off += i + 1
	}
}

func TestMessageEscapesAndBounds(t *testing.T) {
	text, blocks := Message(hostile())
	texts := allTexts(t, text, blocks)
	var mrkdwn, all []string
	for _, l := range texts {
		assert.LessOrEqual(t, utf8.RuneCountInString(l.text), l.max, "text over its limit: %q", l.text)
		all = append(all, l.text)
		if l.mrkdwn {
			mrkdwn = append(mrkdwn, l.text)
			checkEntities(t, l.text)
		} else {
			assert.NotContains(t, l.text, "\n", "plain text on one line")
		}
	}
	// Nothing user-controlled reaches mrkdwn unescaped: no mention, no
	// foreign link, no javascript: URL.
	md := strings.Join(mrkdwn, "\n")
	assert.NotContains(t, md, "<!channel>")
	assert.NotContains(t, md, "<@U123")
	assert.Contains(t, md, "&lt;!channel&gt; &amp; &lt;@U123|boss&gt; second line", "escaped, control characters as spaces")
	assert.NotContains(t, strings.Join(all, "\n"), "javascript:")
	assert.Contains(t, md, "<https://wiki.example.com/a%7Cb&gt;c|:book: Runbook>")
	assert.Contains(t, md, "`a'b&lt;c&gt;`", "a backtick cannot end the code span early")
	assert.NotContains(t, md, "beyond the bound", "at most five top entries")
	assert.Contains(t, md, "…", "long values are cut visibly")
}

func TestClipEscaped(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		max  int
		want string
	}{
		{"fits", "abc", 3, "abc"},
		{"plain cut", "abcdef", 4, "abc…"},
		{"runes not bytes", "ééééé", 3, "éé…"},
		{"entity not cut", "ab&amp;cd", 5, "ab…"},
		{"entity kept whole", "ab&amp;cd", 8, "ab&amp;…"},
		{"link not cut", "see <https://x.example/a&amp;b|docs> now", 20, "see …"},
		{"link kept whole", "see <https://x.example|docs> now", 30, "see <https://x.example|docs> …"},
		{"zero", "abc", 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, clipEscaped(tc.in, tc.max), "clipEscaped(%q, %d)", tc.in, tc.max)
		})
	}
}

func TestHumanDuration(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{-time.Second, "0s"},
		{0, "0s"},
		{1400 * time.Millisecond, "1s"},
		{45 * time.Second, "45s"},
		{12 * time.Minute, "12m"},
		{12*time.Minute + 5*time.Second, "12m 5s"},
		{3*time.Hour + 12*time.Minute + 59*time.Second, "3h 12m"},
		{52 * time.Hour, "2d 4h"},
	} {
		assert.Equal(t, tc.want, humanDuration(tc.d), "humanDuration(%v)", tc.d)
	}
}

func TestBurnRate(t *testing.T) {
	for _, tc := range []struct {
		f    float64
		want string
	}{
		{14.4, "14.4×"}, {6, "6×"}, {6.25, "6.3×"}, {0.04, "0×"}, {123.6, "124×"},
		{math.NaN(), "n/a"}, {math.Inf(1), "∞×"}, {math.Inf(-1), "-∞×"},
	} {
		assert.Equal(t, tc.want, burnRate(tc.f), "burnRate(%v)", tc.f)
	}
}

// FuzzMessage: whatever the notification, Message neither panics nor goes
// over a Slack limit, and its payload marshals.
func FuzzMessage(f *testing.F) {
	f.Add("checkout", "availability", "success >= 99.5%", "97.9%", "1h/5m", "timeout", "https://x.example/a", 14.4, int64(3600))
	f.Add("<!here>", "&&&", "`", strings.Repeat("é", 3000), "\n\t", "<a|b>", "javascript:x", -1.0, int64(-5))
	f.Add("", "", "", "", "", "", "%zz", 1e300, int64(1)<<40)
	f.Fuzz(func(t *testing.T, check, slo, objective, observed, window, class, link string, burn float64, secs int64) {
		nt := &alert.Notification{
			Kind: alert.Kind([]string{"firing", "reminder", "resolved", "other"}[uint64(secs)%4]),
			At:   since.Add(time.Duration(secs) * time.Second), Since: since,
			Check: check, SLO: slo, Objective: objective, Observed: observed, Window: window,
			BurnRate: burn, Severity: class, Labels: map[string]string{class: link},
			TopErrors: []alert.Count{{Name: class, Count: secs}}, StatusURL: link, RunbookURL: link,
		}
		text, blocks := Message(nt)
		for _, l := range allTexts(t, text, blocks) {
			if n := utf8.RuneCountInString(l.text); n > l.max {
				t.Fatalf("text of %d characters over its limit %d: %q", n, l.max, l.text)
			}
			if l.mrkdwn {
				checkEntities(t, l.text)
			}
		}
		if _, err := json.Marshal(payload{Text: text, Blocks: blocks}); err != nil {
			t.Fatalf("marshal: %v", err)
		}
	})
}

// A resolve says what is true of the SLO with the notification's own
// numbers: back within the budget only when the burn rate is, and
// otherwise that it no longer burns fast enough to page.
func TestResolveWording(t *testing.T) {
	text, blocks := Message(partial())
	assert.Equal(t, ":white_check_mark: RESOLVED: checkout · availability — no longer burning fast enough to page (burn rate 3.2× over 1h), resolved after 5h 17m (observed success 99.21% &lt; 99.9% over 1h, 99.7% &lt; 99.9% over 5m)", text)
	s := blocks[1].(*goslack.SectionBlock)
	assert.Equal(t, "*checkout* no longer burns the error budget of *availability* fast enough to page, but still above the sustainable rate: *burn rate 3.2× over 1h*, after firing for 5h 17m.", s.Text.Text)
	assert.NotContains(t, text, "back within")

	text, _ = Message(fixture(alert.Resolved))
	assert.Contains(t, text, "back within the error budget (burn rate 0.4× over 1h)")
}

// A firing shows the top failure lately with one sample, escaped for
// mrkdwn and inside a code block; a resolve does not.
func TestMessageFailureSample(t *testing.T) {
	text, blocks := Message(fixture(alert.Firing))
	assert.Contains(t, text, "; top failure: step login: POST http://staging.example.com/login: status 503, want 200")
	require.Len(t, blocks, 4)
	f := blocks[2].(*goslack.SectionBlock).Text.Text
	assert.Equal(t, "*Top failure lately* (31×): step login: POST http://staging.example.com/login: status 503, want 200\n"+
		"```POST http://staging.example.com/login\n&lt; 503\n&lt; Retry-After: 5\n&lt; upstream 'pool' exhausted &lt;try later&gt;\nstatus: want 200, got 503\ntotal 2.7 ms (first byte 2.5 ms, body 0.1 ms)```", f)
	_, blocks = Message(fixture(alert.Resolved))
	assert.Len(t, blocks, 3, "no sample on a resolve")
}
