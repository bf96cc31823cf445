package report

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/canaryproj/canary/stats"
)

// How much of the failure samples the text renderings show: the first
// sample of each of the most frequent kinds, bodies cut to a line. The
// JSON report and the HTML page have them all.
const (
	textKinds = 5
	textBody  = 300
)

// groupTitle names a kind of failure: "login: http_status 503 ×1234".
func groupTitle(g *stats.FailureGroup) string {
	s := g.Step + ": " + g.Class
	switch {
	case g.Status != 0:
		s += " " + strconv.Itoa(g.Status)
	case g.Assertion != "":
		s += " (" + g.Assertion + ")"
	}
	return s + " ×" + strconv.FormatInt(g.Count, 10)
}

// sampleLines renders a sample as lines of text, the way curl -v shows an
// exchange: the request line, "> " request header fields and body, "< "
// response status, header fields and body; then the failed expectation
// and the time split. Bodies are cut to body bytes, on one line.
func sampleLines(s *stats.FailureSample, body int) []string {
	req := s.Request
	out := []string{req.Method + " " + req.URL}
	for _, h := range req.Headers {
		out = append(out, "> "+h.Name+": "+oneLine(h.Value, 200))
	}
	if req.Body != "" {
		out = append(out, "> "+oneLine(req.Body, body)+sizeNote(int64(len(req.Body)), req.BodyBytes))
	}
	if r := s.Response; r != nil {
		proto := ""
		if r.Proto != "" {
			proto = r.Proto + " "
		}
		out = append(out, "< "+proto+strconv.Itoa(r.Status))
		for _, h := range r.Headers {
			out = append(out, "< "+h.Name+": "+oneLine(h.Value, 200))
		}
		if r.Body != "" {
			out = append(out, "< "+oneLine(r.Body, body)+sizeNote(int64(len(r.Body)), r.BodyBytes))
		}
	} else {
		out = append(out, "< (no response)")
	}
	out = append(out, "failed: "+oneLine(failureText(s), 400))
	out = append(out, "timing: "+timingText(s.Timing))
	return out
}

// failureText is what failed: the expectation with the actual value, or
// the error.
func failureText(s *stats.FailureSample) string {
	a := s.Assertion
	if a == nil {
		return s.Error
	}
	what := a.Kind
	if a.Target != "" {
		what += " " + a.Target
	}
	switch {
	case a.Expected != "" && a.Actual != "":
		return fmt.Sprintf("%s: want %s, got %s", what, a.Expected, a.Actual)
	case a.Expected != "":
		return fmt.Sprintf("%s: want %s", what, a.Expected)
	}
	return s.Error
}

// timingText is a sample's time split: "connect 0.2 ms, first byte 3.1
// ms, body 0.1 ms (total 3.6 ms, new connection)".
func timingText(t stats.SampleTiming) string {
	var parts []string
	for _, p := range []struct {
		name string
		ms   float64
	}{{"dns", t.DNSMs}, {"connect", t.ConnectMs}, {"tls", t.TLSMs}, {"first byte", t.FirstByteMs}, {"body", t.BodyMs}} {
		if p.ms > 0 {
			parts = append(parts, p.name+" "+ms(p.ms)+" ms")
		}
	}
	total := "total " + ms(t.TotalMs) + " ms"
	if t.NewConnection {
		total += ", new connection"
	} else {
		total += ", reused connection"
	}
	if len(parts) == 0 {
		return total
	}
	return strings.Join(parts, ", ") + " (" + total + ")"
}

// sizeNote says when a body is only the beginning of what there was.
func sizeNote(shown, whole int64) string {
	if whole > shown {
		return fmt.Sprintf("  [first %d of %d bytes]", shown, whole)
	}
	return ""
}

// oneLine makes s one line of at most n bytes: control characters
// (newlines included) shown as spaces, a cut marked with "…".
func oneLine(s string, n int) string {
	s = strings.TrimRight(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s), " ")
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// writeFailures writes the text summary's failure samples: for the most
// frequent kinds, the first sample.
func writeFailures(b *strings.Builder, f *stats.FailureReport) {
	if f == nil || len(f.Groups) == 0 {
		return
	}
	b.WriteString("\n  failure samples (the first of each kind; the JSON and HTML reports have the latest too)\n")
	for i := range f.Groups[:min(len(f.Groups), textKinds)] {
		g := &f.Groups[i]
		fmt.Fprintf(b, "  %s  first %s, last %s\n", groupTitle(g), timeOfDay(g.First), timeOfDay(g.Last))
		if len(g.Samples) == 0 {
			continue
		}
		for _, l := range sampleLines(&g.Samples[0], textBody) {
			fmt.Fprintf(b, "      %s\n", l)
		}
	}
	if n := len(f.Groups) - textKinds; n > 0 {
		fmt.Fprintf(b, "  … and %d more kind%s\n", n, plural(n))
	}
	if f.Overflow > 0 {
		fmt.Fprintf(b, "  %d failures of further kinds were counted, not sampled\n", f.Overflow)
	}
}

// timeOfDay prints a sample's time of day, UTC.
func timeOfDay(t time.Time) string { return t.UTC().Format("15:04:05.000") }

// exchangeText is a sample's exchange for a page: like sampleLines, but the
// bodies whole (2 KiB at most) and on their own lines.
func exchangeText(s *stats.FailureSample) string {
	var b strings.Builder
	req := s.Request
	b.WriteString(req.Method + " " + req.URL + "\n")
	for _, h := range req.Headers {
		b.WriteString("> " + h.Name + ": " + oneLine(h.Value, 400) + "\n")
	}
	if req.Body != "" {
		b.WriteString(">\n" + printable(req.Body) + sizeNote(int64(len(req.Body)), req.BodyBytes) + "\n")
	}
	r := s.Response
	if r == nil {
		b.WriteString("\n< (no response)\n")
		return b.String()
	}
	b.WriteString("\n< ")
	if r.Proto != "" {
		b.WriteString(r.Proto + " ")
	}
	b.WriteString(strconv.Itoa(r.Status) + "\n")
	for _, h := range r.Headers {
		b.WriteString("< " + h.Name + ": " + oneLine(h.Value, 400) + "\n")
	}
	if r.Body != "" {
		b.WriteString("<\n" + printable(r.Body) + sizeNote(int64(len(r.Body)), r.BodyBytes) + "\n")
	}
	return b.String()
}

// printable keeps a body's lines and tabs and shows other control
// characters as spaces.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r != '\n' && r != '\t' && unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}

// failureView is a kind of failure on the HTML page.
type failureView struct {
	Title, Reason, First, Last string
	Open                       bool
	Samples                    []sampleView
}

type sampleView struct {
	Label, At, Failed, Timing, Exchange string
	Iteration                           uint64
}

// failureViews are the page's failure samples: every kind, every sample.
func failureViews(f *stats.FailureReport) []failureView {
	if f == nil {
		return nil
	}
	out := make([]failureView, 0, len(f.Groups))
	for i := range f.Groups {
		g := &f.Groups[i]
		v := failureView{Title: groupTitle(g), Reason: g.Reason(), First: timeOfDay(g.First), Last: timeOfDay(g.Last), Open: i == 0}
		for j := range g.Samples {
			s := &g.Samples[j]
			label := "latest"
			if j == 0 {
				label = "first"
			}
			v.Samples = append(v.Samples, sampleView{Label: label, At: timeOfDay(s.At), Iteration: s.Iteration,
				Failed: failureText(s), Timing: timingText(s.Timing), Exchange: exchangeText(s)})
		}
		out = append(out, v)
	}
	return out
}
