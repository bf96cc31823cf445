//go:build integration

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	reportstats "github.com/canaryproj/canary/stats"
)

// docBlock is the fenced block that follows marker in a Markdown document.
func docBlock(t *testing.T, doc, marker string) string {
	t.Helper()
	_, after, ok := strings.Cut(doc, marker)
	require.True(t, ok, "the document has %s", marker)
	after = strings.TrimLeft(after, "\n")
	require.True(t, strings.HasPrefix(after, "```"), "a fenced block follows %s", marker)
	_, body, _ := strings.Cut(after, "\n")
	body, _, ok = strings.Cut(body, "\n```")
	require.True(t, ok, "the block after %s is closed", marker)
	return body
}

// shellWords splits a command line as sh would for the forms the
// rehearsal uses: words, single quotes, $NAME and ${NAME}.
func shellWords(t *testing.T, line string, vars map[string]string) []string {
	t.Helper()
	var words []string
	var w strings.Builder
	inWord, quoted := false, false
	varRE := regexp.MustCompile(`^\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))`)
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quoted && c == '\'':
			quoted = false
		case quoted:
			w.WriteByte(c)
		case c == '\'':
			quoted, inWord = true, true
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		case c == '$':
			m := varRE.FindStringSubmatch(line[i:])
			require.NotNil(t, m, "a variable in %q", line)
			name := m[1] + m[2]
			v, ok := vars[name]
			require.True(t, ok, "$%s is set before %q", name, line)
			w.WriteString(v)
			inWord = true
			i += len(m[0]) - 1
		case strings.ContainsRune(`"\;&|<>()`+"`", rune(c)):
			t.Fatalf("the rehearsal's interpreter does not know %q in %q: keep the script to its forms", c, line)
		default:
			w.WriteByte(c)
			inWord = true
		}
	}
	require.False(t, quoted, "an unclosed quote in %q", line)
	if inWord {
		words = append(words, w.String())
	}
	return words
}

// rehearsal runs docs/deployment.md's rehearsal script: the commands as
// written, on free ports, in a temporary directory.
type rehearsal struct {
	t       *testing.T
	bin     string
	dir     string
	vars    map[string]string
	env     []string
	ports   *strings.Replacer // the doc's 8080 and 9090 → the real ones
	target  string
	daemon  string
	segs    []*segment // the loop's background runs
	outputs []result   // every foreground canary command, in order
	bodies  []string   // every curl's answer, in order
	onStart func(i int, s *segment)
}

type segment struct {
	cmd        *exec.Cmd
	registered <-chan string
	stderr     *syncBuffer
	done       chan struct{}
	code       int
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// lines joins continued lines and drops comments and blank lines.
func scriptLines(script string) []string {
	var out []string
	var cur string
	for _, l := range strings.Split(script, "\n") {
		l = strings.TrimSpace(l)
		if strings.HasSuffix(l, `\`) {
			cur += strings.TrimSuffix(l, `\`)
			continue
		}
		l = strings.TrimSpace(cur + l)
		cur = ""
		if l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}

var assignRE = regexp.MustCompile(`^([A-Z_]+)=(.*)$`)

// run interprets lines.
func (r *rehearsal) run(lines []string) {
	t := r.t
	for k := 0; k < len(lines); k++ {
		line := lines[k]
		switch {
		case strings.HasPrefix(line, "export "):
			name, value, _ := strings.Cut(strings.TrimPrefix(line, "export "), "=")
			r.vars[name] = value
			r.env = append(r.env, name+"="+value)
		case strings.HasPrefix(line, "for i in ") && strings.HasSuffix(line, "; do"):
			var body []string
			for k++; lines[k] != "done"; k++ {
				body = append(body, lines[k])
			}
			for _, i := range strings.Fields(strings.TrimSuffix(strings.TrimPrefix(line, "for i in "), "; do")) {
				r.vars["i"] = i
				r.run(body)
			}
			delete(r.vars, "i")
		case line == `pids="$pids $!"`:
			// the shell's bookkeeping for `wait $pids`
		case line == "wait $pids":
			for _, s := range r.segs {
				<-s.done
			}
		case assignRE.MatchString(line):
			// Evaluated by sh itself, with what is set so far: the date
			// arithmetic and the run id are the user's shell's.
			m := assignRE.FindStringSubmatch(line)
			sh := exec.Command("sh", "-c", line+`; printf %s "$`+m[1]+`"`)
			for k, v := range r.vars {
				sh.Env = append(sh.Env, k+"="+v)
			}
			sh.Env = append(sh.Env, "PATH="+os.Getenv("PATH"))
			out, err := sh.Output()
			require.NoError(t, err, "sh -c %q", line)
			r.vars[m[1]] = string(out)
		case strings.HasPrefix(line, "curl -s "):
			url := r.ports.Replace(shellWords(t, strings.TrimPrefix(line, "curl -s "), r.vars)[0])
			resp, err := http.Get(url)
			require.NoError(t, err, line)
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.Equal(t, http.StatusOK, resp.StatusCode, "%s: %s", line, b)
			r.bodies = append(r.bodies, string(b))
		case strings.HasPrefix(line, "canary "):
			r.canary(line)
		default:
			t.Fatalf("the rehearsal's interpreter does not know the line %q: keep the script to its forms", line)
		}
	}
}

// canary runs one canary command line of the script.
func (r *rehearsal) canary(line string) {
	t := r.t
	background := strings.HasSuffix(line, " &")
	words := shellWords(t, strings.TrimSuffix(line, " &"), r.vars)[1:]
	switch {
	case words[0] == "demo-target":
		require.True(t, background)
		r.target = r.serve(words, "127.0.0.1:8080", regexp.MustCompile(`listening on (http://127\.0\.0\.1:\d+)`))
		return
	case words[0] == "daemon":
		require.True(t, background)
		r.daemon = r.serve(words, "", regexp.MustCompile(`canary daemon on (http://127\.0\.0\.1:\d+)`))
		r.ports = strings.NewReplacer("http://127.0.0.1:8080", r.target, "http://127.0.0.1:9090", r.daemon)
		return
	}
	for k, w := range words {
		words[k] = r.ports.Replace(w)
	}
	cmd := exec.Command(r.bin, words...)
	cmd.Dir = r.dir
	cmd.Env = append(os.Environ(), r.env...)
	if !background {
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else {
			require.NoError(t, err, line)
		}
		r.outputs = append(r.outputs, result{code, o.String(), e.String()})
		return
	}
	require.Equal(t, "run", words[0], "only segments run in the background besides the servers")
	pr, pw := io.Pipe()
	s := &segment{cmd: cmd, stderr: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout = io.Discard
	cmd.Stderr = io.MultiWriter(pw, s.stderr)
	s.registered = watchFor(pr, regexp.MustCompile(`(registered) with`))
	require.NoError(t, cmd.Start())
	go func() {
		defer close(s.done)
		err := cmd.Wait()
		pw.Close()
		if ee, ok := err.(*exec.ExitError); ok {
			s.code = ee.ExitCode()
		}
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-s.done })
	r.segs = append(r.segs, s)
	if r.onStart != nil {
		r.onStart(len(r.segs), s)
	}
}

// serve starts a server command of the script on a free port and returns
// its URL.
func (r *rehearsal) serve(words []string, listen string, ready *regexp.Regexp) string {
	t := r.t
	for k, w := range words {
		if w == listen {
			words[k] = "127.0.0.1:0"
		}
	}
	cmd := exec.Command(r.bin, words...)
	cmd.Dir = r.dir
	cmd.Env = append(os.Environ(), r.env...)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() })
	select {
	case u := <-watchFor(stderr, ready):
		return u
	case <-time.After(15 * time.Second):
		t.Fatalf("canary %s did not start", strings.Join(words, " "))
	}
	return ""
}

func readReportFile(t *testing.T, path string) *reportstats.Report {
	t.Helper()
	fh, err := os.Open(path)
	require.NoError(t, err)
	defer fh.Close()
	r, err := reportstats.ReadReport(fh)
	require.NoError(t, err)
	return r
}

type runAnswer struct {
	Status   string   `json:"status"`
	Verdict  string   `json:"verdict"`
	Reasons  []string `json:"reasons"`
	Segments struct {
		Expected int `json:"expected"`
		Received int `json:"received"`
	} `json:"segments"`
	Report *reportstats.Report `json:"report"`
}

// TestDistributedRehearsal is docs/deployment.md's rehearsal: four
// segments of one run, started together, pushed to a daemon that merges
// and judges them; the same load from one process; and a segment killed.
func TestDistributedRehearsal(t *testing.T) {
	bin := binary(t)
	raw, err := os.ReadFile("../../docs/deployment.md")
	require.NoError(t, err)
	doc := string(raw)
	dir := t.TempDir()
	cfg := docBlock(t, doc, "<!-- rehearsal: rehearsal.yaml -->")
	require.Contains(t, cfg, "listen: 127.0.0.1:9090")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "rehearsal.yaml"), []byte(strings.Replace(cfg, "127.0.0.1:9090", "127.0.0.1:0", 1)), 0o644))
	lines := scriptLines(docBlock(t, doc, "<!-- rehearsal: script -->"))
	r := &rehearsal{t: t, bin: bin, dir: dir, vars: map[string]string{}, ports: strings.NewReplacer()}
	r.run(lines)

	// What the script printed and wrote.
	require.Len(t, r.bodies, 2, "the run, then the target's counts")
	require.Len(t, r.outputs, 3, "gate --run-id, report --merge, then the single run")
	var got runAnswer
	require.NoError(t, json.Unmarshal([]byte(r.bodies[0]), &got))
	var counts struct {
		Requests map[string]int64 `json:"requests"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.bodies[1]), &counts))
	var segs []*reportstats.Report
	var achieved float64
	for i := 1; i <= 4; i++ {
		require.Contains(t, []int{0, 3}, r.segs[i-1].code, "segment %d: %s", i, r.segs[i-1].stderr)
		s := readReportFile(t, filepath.Join(dir, fmt.Sprintf("seg-%d.json", i)))
		segs = append(segs, s)
		achieved += s.Rate.Achieved
	}
	merged := got.Report
	require.NotNil(t, merged, "the daemon's answer: %s", r.bodies[0])
	fromFiles := readReportFile(t, filepath.Join(dir, "merged.json"))
	single := readReportFile(t, filepath.Join(dir, "single.json"))

	t.Run("the daemon merged the four segments", func(t *testing.T) {
		assert.Equal(t, 4, got.Segments.Expected)
		assert.Equal(t, 4, got.Segments.Received)
		assert.Equal(t, "merged 4/4", merged.Profile.(map[string]any)["segment"])
		// The target answers in 20–40 ms, far under p99<1s and errors<1%: the
		// run passes, unless a busy machine saturated the generators.
		assert.Contains(t, []string{"passed", "inconclusive"}, got.Status, "reasons: %v", got.Reasons)
		if got.Status == "inconclusive" {
			assert.True(t, slices.ContainsFunc(got.Reasons, func(why string) bool { return strings.HasPrefix(why, "generator saturated") }),
				"only a busy machine may leave it undecided: %v", got.Reasons)
		}
	})
	t.Run("canary gate --run-id answers with the merged verdict", func(t *testing.T) {
		gate := r.outputs[0]
		assert.Equal(t, map[string]int{"pass": 0, "inconclusive": 3}[got.Verdict], gate.code, gate.stderr)
		assert.Contains(t, gate.stdout, r.vars["RUN"]+": "+strings.ToUpper(got.Verdict), "the verdict line names the run")
	})
	t.Run("the merged request count is the target's", func(t *testing.T) {
		sent := merged.Iterations.Success + merged.Iterations.Failure
		assert.Equal(t, int64(600), sent, "200/s for 3 s")
		assert.Zero(t, merged.Iterations.Dropped)
		assert.Equal(t, sent+single.Iterations.Success+single.Iterations.Failure, counts.Requests["GET /products"],
			"the target counted the segments' requests and the single run's")
	})
	t.Run("the merged rate is the sum", func(t *testing.T) {
		assert.InDelta(t, achieved, merged.Rate.Achieved, 0.01)
		assert.InDelta(t, 200, merged.Rate.Achieved, 2)
		assert.Equal(t, 200.0, merged.Rate.Target)
	})
	t.Run("the merge is exact, and report --merge makes the same", func(t *testing.T) {
		h, err := reportstats.DecodeHistogram(segs[0].Steps[0].HDR.Latency)
		require.NoError(t, err)
		for _, s := range segs[1:] {
			o, err := reportstats.DecodeHistogram(s.Steps[0].HDR.Latency)
			require.NoError(t, err)
			h.Merge(o)
		}
		assert.Equal(t, reportstats.Summarize(h), merged.Steps[0].Latency, "percentiles of every request, exactly")
		assert.Equal(t, merged.Steps[0].HDR, fromFiles.Steps[0].HDR)
		assert.Equal(t, merged.Latency, fromFiles.Latency)
		assert.Equal(t, got.Verdict, fromFiles.Verdict)
		assert.Equal(t, map[string]int{"pass": 0, "inconclusive": 3}[got.Verdict], r.outputs[1].code, r.outputs[1].stderr)
	})
	t.Run("four segments measure what one process does", func(t *testing.T) {
		// The target waits 20–40 ms (uniform): both medians are near 30 ms.
		// The tails hold the generators' scheduling on a busy machine, so
		// they are reported, not compared.
		for _, c := range []struct {
			name    string
			m, s    reportstats.LatencySummary
			withLag bool
		}{
			{"service", merged.Steps[0].Service, single.Steps[0].Service, false},
			{"corrected", merged.Steps[0].Latency, single.Steps[0].Latency, true},
		} {
			t.Logf("%s p50/p99: merged %.1f/%.1f ms, single %.1f/%.1f ms", c.name, c.m.P50, c.m.P99, c.s.P50, c.s.P99)
			if !c.withLag {
				assert.InDelta(t, c.s.P50, c.m.P50, math.Max(3, 0.15*c.s.P50), "%s p50", c.name)
			}
		}
	})
	var first, last time.Time
	for _, s := range segs {
		if first.IsZero() || s.Start.Before(first) {
			first = s.Start
		}
		if s.Start.After(last) {
			last = s.Start
		}
	}
	assert.Less(t, last.Sub(first), time.Second, "the segments start together")
	t.Logf("segments 4, target counted %d, merged rate %.1f/s (target %.0f/s), starts within %v, verdict %s %v; single run %.1f/s, verdict %s",
		counts.Requests["GET /products"]-single.Iterations.Total, merged.Rate.Achieved, merged.Rate.Target, last.Sub(first), got.Verdict, got.Reasons,
		single.Rate.Achieved, single.Verdict)

	t.Run("a segment killed: inconclusive, naming it", func(t *testing.T) {
		// The same script's START_AT, RUN and loop again; segment 3 is
		// killed once it has registered with the daemon.
		var again []string
		for k, l := range lines {
			if strings.HasPrefix(l, "START_AT=") || strings.HasPrefix(l, "RUN=") {
				again = append(again, l)
			}
			if strings.HasPrefix(l, "for i in ") {
				for ; lines[k] != "wait $pids"; k++ {
					again = append(again, lines[k])
				}
				again = append(again, lines[k])
				break
			}
		}
		r.segs = nil
		killed := make(chan struct{})
		r.onStart = func(i int, s *segment) {
			if i == 3 {
				go func() {
					defer close(killed)
					select {
					case <-s.registered:
						_ = s.cmd.Process.Signal(syscall.SIGKILL)
					case <-s.done:
					}
				}()
			}
		}
		start := time.Now()
		r.run(again)
		<-killed
		require.Equal(t, -1, r.segs[2].code, "segment 3 was killed: %s", r.segs[2].stderr)
		id := r.vars["RUN"]
		var a runAnswer
		require.Eventually(t, func() bool {
			resp, err := http.Get(r.daemon + "/api/v1/runs/" + id)
			if err != nil {
				return false
			}
			defer resp.Body.Close()
			a = runAnswer{}
			return json.NewDecoder(resp.Body).Decode(&a) == nil && a.Status != "running"
		}, 30*time.Second, 200*time.Millisecond, "the run closes at its deadline")
		assert.Equal(t, "inconclusive", a.Status)
		require.NotEmpty(t, a.Reasons)
		assert.Regexp(t, `^segment 3/4 never reported \(deadline \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\)$`, a.Reasons[0])
		assert.Equal(t, 3, a.Segments.Received)
		require.NotNil(t, a.Report)
		assert.Equal(t, "merged 3/4", a.Report.Profile.(map[string]any)["segment"])
		assert.Equal(t, int64(450), a.Report.Iterations.Success+a.Report.Iterations.Failure, "the three others' requests")
		t.Logf("killed segment 3: %s after %v: %v", a.Status, time.Since(start).Round(time.Second), a.Reasons)
	})
}
