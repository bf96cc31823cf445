package slack

import (
	"fmt"
	"math"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	goslack "github.com/slack-go/slack"

	"github.com/canaryproj/canary/alert"
	"github.com/canaryproj/canary/stats"
)

// Slack's Block Kit limits (https://api.slack.com/reference/block-kit), in
// characters. Going over any of them makes Slack reject the whole message
// with invalid_blocks, so every piece of text is bounded below them.
const (
	maxHeader      = 150  // header block plain_text
	maxSectionText = 3000 // section text
	maxField       = 2000 // one section field
	maxContextText = 300  // our own bound for one context element
	maxFallback    = 1000 // our own bound for the notification text (Slack's is 40 000)
	maxURL         = 2000 // longer links are dropped rather than cut: a cut URL is a wrong URL

	// maxValue bounds one user-controlled value (a check name, an objective)
	// inside a larger text, so that one long value cannot crowd out the rest.
	maxValue = 200
	// maxTop and maxLabels bound the lists; the alert package already keeps
	// TopErrors and TopStatus to five entries.
	maxTop    = 5
	maxLabels = 10
)

// The emoji shortcodes of each state: Slack renders them in header blocks
// (plain_text with emoji enabled) and in the mrkdwn notification text.
var stateLabels = map[alert.Kind]struct{ emoji, word string }{
	alert.Firing:   {":rotating_light:", "FIRING"},
	alert.Reminder: {":hourglass_flowing_sand:", "STILL FIRING"},
	alert.Resolved: {":white_check_mark:", "RESOLVED"},
}

// Message builds the Slack message for nt: the plain-text fallback (what
// notifications, screen readers and clients without Block Kit show) and the
// Block Kit blocks. It is pure: the same notification always gives the same
// message, byte for byte once marshalled.
//
// Every user-controlled value is escaped for mrkdwn (so a check named
// "<!channel>" cannot ping a channel) and bounded to Slack's limits.
func Message(nt *alert.Notification) (text string, blocks []goslack.Block) {
	if nt == nil {
		nt = &alert.Notification{}
	}
	emoji, word := state(nt.Kind)
	title := plainClip(nt.Check, maxValue) + " · " + plainClip(nt.SLO, maxValue)

	header := goslack.NewHeaderBlock(goslack.NewTextBlockObject(goslack.PlainTextType,
		plainClip(emoji+" "+word+": "+title, maxHeader), true, false))

	section := goslack.NewSectionBlock(mrkdwnText(summary(nt), maxSectionText), fields(nt), nil)
	blocks = []goslack.Block{header, section}
	if f := failureBlock(nt); f != nil {
		blocks = append(blocks, f)
	}
	if ctx := contextBlock(nt); ctx != nil {
		blocks = append(blocks, ctx)
	}
	return fallback(nt, emoji, word), blocks
}

// state returns the emoji and the word of a notification kind; an unknown
// kind is shown as itself rather than dressed up as one it is not.
func state(k alert.Kind) (emoji, word string) {
	if l, ok := stateLabels[k]; ok {
		return l.emoji, l.word
	}
	return ":grey_question:", strings.ToUpper(plainClip(string(k), 20))
}

// summary is the sentence at the top of the message.
func summary(nt *alert.Notification) string {
	check := "*" + escapeClip(nt.Check, maxValue) + "*"
	slo := "*" + escapeClip(nt.SLO, maxValue) + "*"
	burn := burnRate(nt.BurnRate)
	window := ""
	if nt.Window != "" {
		window = " over " + escapeClip(nt.Window, 40)
	}
	if nt.Threshold {
		return thresholdSummary(nt, check, slo)
	}
	switch nt.Kind {
	case alert.Resolved:
		// An alert resolves once no rule burns above its factor: the
		// budget may still be burning, only slower. Say which, with the
		// notification's own numbers.
		rate := "burn rate " + burn
		if long := longWindow(nt.Window); long != "" {
			rate += " over " + escapeClip(long, 20)
		}
		s := check + " is back within the error budget of " + slo + ": " + rate
		if !(nt.BurnRate <= 1) {
			s = check + " no longer burns the error budget of " + slo + " fast enough to page, but still above the sustainable rate: *" + rate + "*"
		}
		if d, ok := firedFor(nt); ok {
			s += ", after firing for " + d
		}
		return s + "."
	case alert.Reminder:
		s := check + " is still burning the error budget of " + slo + " at " + burn + " the sustainable rate" + window
		if d, ok := firedFor(nt); ok {
			s += " (firing for " + d + ")"
		}
		return s + "."
	default:
		return check + " is burning the error budget of " + slo + " at *" + burn + "* the sustainable rate" + window + "."
	}
}

// thresholdSummary is the sentence of an objective without an error
// budget (tls_expiry): it fails, or holds again.
func thresholdSummary(nt *alert.Notification, check, slo string) string {
	observed := ""
	if nt.Observed != "" {
		observed = ": " + escapeClip(nt.Observed, maxValue)
	}
	switch nt.Kind {
	case alert.Resolved:
		s := check + " meets " + slo + " again"
		if d, ok := firedFor(nt); ok {
			s += " after failing it for " + d
		}
		return s + "."
	case alert.Reminder:
		s := check + " still fails " + slo + observed
		if d, ok := firedFor(nt); ok {
			s += " (failing for " + d + ")"
		}
		return s + "."
	default:
		return check + " fails " + slo + observed + "."
	}
}

// fields are the details, two columns in Slack; at most 9 of Slack's 10.
func fields(nt *alert.Notification) []*goslack.TextBlockObject {
	var fs []*goslack.TextBlockObject
	add := func(name, value string) {
		if value == "" {
			return
		}
		fs = append(fs, mrkdwnText("*"+name+"*\n"+value, maxField))
	}
	add("Objective", escapeClip(nt.Objective, maxValue))
	add("Observed", escapeClip(nt.Observed, maxValue))
	if !nt.Threshold {
		burn := burnRate(nt.BurnRate)
		if nt.Window != "" {
			burn += " over " + escapeClip(nt.Window, 40)
		}
		add("Burn rate", burn)
	}
	add("Severity", escapeClip(nt.Severity, 40))
	if !nt.Since.IsZero() {
		add("Firing since", slackDate(nt.Since))
	}
	if d, ok := firedFor(nt); ok {
		switch nt.Kind {
		case alert.Resolved:
			add("Fired for", d)
		case alert.Reminder:
			add("Firing for", d)
		}
	}
	add("Top error classes", counts(nt.TopErrors))
	add("Status codes", counts(nt.TopStatus))
	return fs
}

// contextBlock carries the links, the labels and the alert's identity.
func contextBlock(nt *alert.Notification) *goslack.ContextBlock {
	var els []goslack.MixedElement
	if l := link(nt.StatusURL, ":bar_chart: Status page"); l != "" {
		els = append(els, mrkdwnText(l, maxContextText))
	}
	if l := link(nt.RunbookURL, ":book: Runbook"); l != "" {
		els = append(els, mrkdwnText(l, maxContextText))
	}
	if ls := labels(nt.Labels); ls != "" {
		els = append(els, mrkdwnText(ls, maxContextText))
	}
	id := "canary"
	if nt.AlertID != "" {
		id += " · alert " + code(nt.AlertID, 80)
	}
	els = append(els, mrkdwnText(id, maxContextText))
	return goslack.NewContextBlock("", els...)
}

// fallback is the message's top-level text: one line that stands on its own.
func fallback(nt *alert.Notification, emoji, word string) string {
	var b strings.Builder
	b.WriteString(emoji + " " + word + ": " + escapeClip(nt.Check, maxValue) + " · " + escapeClip(nt.SLO, maxValue))
	switch {
	case nt.Threshold && nt.Kind == alert.Resolved:
		b.WriteString(" — meets its objective again")
		if d, ok := firedFor(nt); ok {
			b.WriteString(" after " + d)
		}
	case nt.Threshold:
		b.WriteString(" — fails its objective")
		if nt.Observed != "" || nt.Objective != "" {
			b.WriteString(", observed " + escapeClip(nt.Observed, maxValue) +
				" (objective " + escapeClip(nt.Objective, maxValue) + ")")
		}
	case nt.Kind == alert.Resolved:
		if nt.BurnRate <= 1 {
			b.WriteString(" — back within the error budget (burn rate " + burnRate(nt.BurnRate))
		} else {
			b.WriteString(" — no longer burning fast enough to page (burn rate " + burnRate(nt.BurnRate))
		}
		if long := longWindow(nt.Window); long != "" {
			b.WriteString(" over " + escapeClip(long, 20))
		}
		b.WriteString(")")
		if d, ok := firedFor(nt); ok {
			b.WriteString(", resolved after " + d)
		}
		if nt.Observed != "" {
			b.WriteString(" (observed " + escapeClip(nt.Observed, maxValue) + ")")
		}
	default:
		b.WriteString(" — burn rate " + burnRate(nt.BurnRate))
		if nt.Window != "" {
			b.WriteString(" over " + escapeClip(nt.Window, 40))
		}
		if nt.Observed != "" || nt.Objective != "" {
			b.WriteString(", observed " + escapeClip(nt.Observed, maxValue) +
				" (objective " + escapeClip(nt.Objective, maxValue) + ")")
		}
		if f := nt.Failure; f != nil && f.Reason != "" {
			b.WriteString("; top failure: " + escapeClip(f.Reason, maxValue))
		}
	}
	return clipEscaped(b.String(), maxFallback)
}

// longWindow is the long window of a rule's "1h/5m": what the burn rate
// is measured over.
func longWindow(w string) string {
	long, _, _ := strings.Cut(w, "/")
	return long
}

// Bounds of the failure sample in a message: a few lines of it.
const (
	maxSampleHeaders = 4
	maxSampleBody    = 300
)

// failureBlock shows the check's top failure lately with one sample: the
// reason and its count, then the exchange as a code block (request line,
// a few response header fields, the beginning of the body, the failed
// expectation and the time split). Nil on a resolve or without a failure.
func failureBlock(nt *alert.Notification) *goslack.SectionBlock {
	f := nt.Failure
	if f == nil || nt.Kind == alert.Resolved || f.Reason == "" {
		return nil
	}
	text := "*Top failure lately* (" + strconv.FormatInt(f.Count, 10) + "×): " + escapeClip(f.Reason, maxValue)
	if s := f.Sample; s != nil {
		lines := []string{oneLine(s.Request.Method + " " + s.Request.URL)}
		if r := s.Response; r != nil {
			lines = append(lines, "< "+strconv.Itoa(r.Status))
			for _, h := range r.Headers[:min(len(r.Headers), maxSampleHeaders)] {
				lines = append(lines, "< "+oneLine(h.Name+": "+h.Value))
			}
			if r.Body != "" {
				lines = append(lines, "< "+clipRunes(oneLine(r.Body), maxSampleBody))
			}
		} else {
			lines = append(lines, "< (no response)")
		}
		if a := s.Assertion; a != nil && a.Expected != "" {
			what := a.Kind
			if a.Target != "" {
				what += " " + a.Target
			}
			lines = append(lines, clipRunes(oneLine(what+": want "+a.Expected+", got "+a.Actual), maxValue))
		}
		lines = append(lines, "total "+strconv.FormatFloat(s.Timing.TotalMs, 'f', -1, 64)+" ms"+sampleTiming(s))
		// In a code block '`' would end it early; escape the rest.
		code := strings.ReplaceAll(escape(strings.Join(lines, "\n")), "`", "'")
		text += "\n```" + code + "```"
	}
	return goslack.NewSectionBlock(mrkdwnText(text, maxSectionText), nil, nil)
}

// sampleTiming is the phases of a sample's time that were seen:
// " (connect 0.2 ms, first byte 3.1 ms)".
func sampleTiming(s *stats.FailureSample) string {
	t := s.Timing
	var parts []string
	for _, p := range []struct {
		name string
		ms   float64
	}{{"dns", t.DNSMs}, {"connect", t.ConnectMs}, {"tls", t.TLSMs}, {"first byte", t.FirstByteMs}, {"body", t.BodyMs}} {
		if p.ms > 0 {
			parts = append(parts, p.name+" "+strconv.FormatFloat(p.ms, 'f', -1, 64)+" ms")
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// firedFor is how long the alert has been (or was) firing.
func firedFor(nt *alert.Notification) (string, bool) {
	if nt.Since.IsZero() || nt.At.IsZero() || nt.At.Before(nt.Since) {
		return "", false
	}
	return humanDuration(nt.At.Sub(nt.Since)), true
}

// humanDuration prints d the way people say it: "45s", "12m 5s", "3h 12m",
// "2d 4h"; the precision of the largest two units is enough for a page.
func humanDuration(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d <= 0:
		return "0s"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		m, s := int(d/time.Minute), int(d%time.Minute/time.Second)
		if s == 0 {
			return fmt.Sprintf("%dm", m)
		}
		return fmt.Sprintf("%dm %ds", m, s)
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh %dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
	default:
		day := 24 * time.Hour
		return fmt.Sprintf("%dd %dh", int(d/day), int(d%day/time.Hour))
	}
}

// slackDate renders t in each reader's own time zone (Slack's date token),
// with UTC as the fallback for clients that cannot.
func slackDate(t time.Time) string {
	return fmt.Sprintf("<!date^%d^{date_short_pretty} {time}|%s>",
		t.Unix(), t.UTC().Format("2006-01-02 15:04 UTC"))
}

// burnRate prints a burn rate as a multiple ("14.4×"), with one decimal
// (whole numbers from 100 up).
func burnRate(f float64) string {
	switch {
	case math.IsNaN(f):
		return "n/a"
	case math.IsInf(f, 1):
		return "∞×"
	case math.IsInf(f, -1):
		return "-∞×"
	case math.Abs(f) >= 100:
		return strconv.FormatFloat(math.Round(f), 'f', -1, 64) + "×"
	default:
		return strconv.FormatFloat(math.Round(f*10)/10, 'f', -1, 64) + "×"
	}
}

// counts prints "`timeout` 12" lines, most frequent first as given.
func counts(cs []alert.Count) string {
	if len(cs) > maxTop {
		cs = cs[:maxTop]
	}
	lines := make([]string, 0, len(cs))
	for _, c := range cs {
		lines = append(lines, code(c.Name, 60)+" "+strconv.FormatInt(c.Count, 10))
	}
	return strings.Join(lines, "\n")
}

// labels prints "team=payments · env=staging", sorted by name.
func labels(ls map[string]string) string {
	if len(ls) == 0 {
		return ""
	}
	names := make([]string, 0, len(ls))
	for k := range ls {
		names = append(names, k)
	}
	sort.Strings(names)
	if len(names) > maxLabels {
		names = names[:maxLabels]
	}
	parts := make([]string, 0, len(names))
	for _, k := range names {
		parts = append(parts, escapeClip(k, 40)+"="+escapeClip(ls[k], 60))
	}
	return clipEscaped(strings.Join(parts, " · "), maxContextText)
}

// link returns a mrkdwn link to raw, or "" when raw is empty, too long or
// not an absolute http(s) URL (a javascript: link has no place in a page).
func link(raw, label string) string {
	if raw == "" || len(raw) > maxURL {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return ""
	}
	// Inside <…|…> a '|' would end the URL and '>' the link; '&' and '<' are
	// escaped like everywhere else in mrkdwn.
	target := strings.ReplaceAll(escape(raw), "|", "%7C")
	return "<" + target + "|" + label + ">"
}

// code renders s as inline code. Backticks inside would end the span early,
// so they become quotes.
func code(s string, max int) string {
	return "`" + escapeClip(strings.ReplaceAll(s, "`", "'"), max) + "`"
}

func mrkdwnText(s string, max int) *goslack.TextBlockObject {
	return goslack.NewTextBlockObject(goslack.MarkdownType, clipEscaped(s, max), false, false)
}

// escape escapes the three characters Slack's mrkdwn gives a meaning to:
// '&', '<' and '>' (https://api.slack.com/reference/surfaces/formatting#escaping).
func escape(s string) string {
	if !strings.ContainsAny(s, "&<>") {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// escapeClip escapes a user-controlled value for mrkdwn and bounds it to max
// characters (counted after escaping), never cutting an escape in two.
func escapeClip(s string, max int) string {
	return clipEscaped(escape(oneLine(s)), max)
}

// plainClip bounds a value for a plain_text object (no escaping: Slack shows
// plain_text literally).
func plainClip(s string, max int) string {
	return clipRunes(oneLine(s), max)
}

// oneLine replaces control characters (newlines included) by spaces, so that
// a value cannot break the layout of the field it is printed in.
func oneLine(s string) string {
	if !strings.ContainsFunc(s, unicode.IsControl) && utf8.ValidString(s) {
		return s
	}
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
}

// clipRunes bounds s to max characters, marking a cut with "…".
func clipRunes(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	if max < 1 {
		return ""
	}
	rs := []rune(s)
	return string(rs[:max-1]) + "…"
}

// clipEscaped bounds already-escaped mrkdwn to max characters without
// cutting inside an entity ("&amp;") or a link or date token ("<…>"), which
// would leave Slack with broken markup.
func clipEscaped(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	if max < 1 {
		return ""
	}
	rs := []rune(s)
	cut := max - 1 // room for "…"
	// Find a token still open at the cut: "&…;" outside links, "<…>".
	open, inTag := -1, false
	for i := 0; i < cut; i++ {
		switch rs[i] {
		case '<':
			if !inTag {
				open, inTag = i, true
			}
		case '>':
			if inTag {
				open, inTag = -1, false
			}
		case '&':
			if !inTag {
				open = i
			}
		case ';':
			if !inTag {
				open = -1
			}
		}
	}
	if open >= 0 {
		cut = open
	}
	return string(rs[:cut]) + "…"
}
