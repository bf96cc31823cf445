package scenario

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/canaryproj/canary/internal/limits"
	"github.com/canaryproj/canary/redact"
	"github.com/canaryproj/canary/stats"
	"github.com/canaryproj/canary/transport"
)

// ---------------------------------------------------------------- feeder

// Bounds of a data file.
const (
	MaxDataRows  = limits.MaxDataRows
	MaxDataBytes = limits.MaxDataBytes
)

// feeder is a CSV file: its header row names columns, and iteration n reads
// row n mod rows.
type feeder struct {
	columns []string
	rows    [][]string
}

func loadCSV(path string) (*feeder, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, unwrapPathErr(err)
	}
	if fi.Size() > MaxDataBytes {
		return nil, fmt.Errorf("%d bytes: at most %d MiB", fi.Size(), MaxDataBytes>>20)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, unwrapPathErr(err)
	}
	defer f.Close()
	return readCSV(limits.Reader(f, MaxDataBytes, "the file"))
}

// readCSV reads a data file: a header row of column names, then rows.
func readCSV(in io.Reader) (*feeder, error) {
	r := csv.NewReader(in)
	r.ReuseRecord = false
	header, err := r.Read()
	if err == io.EOF {
		return nil, errors.New("empty: want a header row naming the columns")
	}
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for i, h := range header {
		h = strings.TrimSpace(h)
		header[i] = h
		if !identRE.MatchString(h) {
			return nil, fmt.Errorf("line 1: column %q: want letters, digits and '_' (templates read it as {{ .%s }})", h, h)
		}
		if seen[h] {
			return nil, fmt.Errorf("line 1: column %q twice", h)
		}
		seen[h] = true
	}
	fd := &feeder{columns: header}
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err // csv errors name the line: "record on line 5: wrong number of fields"
		}
		if len(fd.rows) >= MaxDataRows {
			return nil, fmt.Errorf("more than %d rows", MaxDataRows)
		}
		fd.rows = append(fd.rows, rec)
	}
	if len(fd.rows) == 0 {
		return nil, errors.New("no rows after the header")
	}
	return fd, nil
}

// ---------------------------------------------------------------- FromURL

// URLOptions describe `canary run URL`'s implicit one-step scenario.
type URLOptions struct {
	Method  string
	Headers []string // "K: V"
	Body    string
	Timeout time.Duration
	CAFile  string // PEM bundle added to the system roots, as defaults.tls.ca_file
}

// IsURL reports whether a `canary run` argument is a URL (the one-step
// scenario of FromURL) rather than a scenario file.
func IsURL(s string) bool {
	return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://")
}

// FromURL builds the implicit scenario of `canary run URL`: one step,
// "request", that expects a 2xx.
func FromURL(rawURL string, o URLOptions) (*Scenario, error) {
	if err := checkURL(rawURL); err != nil {
		return nil, fmt.Errorf("url %q: %v", redact.UserInfo(rawURL), err)
	}
	method := strings.ToUpper(strings.TrimSpace(o.Method))
	if method == "" {
		method = "GET"
	}
	if !methodRE.MatchString(method) {
		return nil, fmt.Errorf("--method %q: want an HTTP method like GET or POST", o.Method)
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	secrets := &redact.Set{}
	if u, err := url.Parse(rawURL); err == nil && u.User != nil {
		if p, ok := u.User.Password(); ok {
			secrets.Add(p)
		}
	}
	st := &Step{
		Name: "request", Method: method, url: staticTmpl(rawURL), timeout: timeout, follow: true, maxBody: DefaultMaxBody,
		expect: expectations{statusLo: 200, statusHi: 299, statusText: "2xx"}, static: true,
	}
	for _, h := range o.Headers {
		k, v, ok := strings.Cut(h, ":")
		k = strings.TrimSpace(k)
		if !ok || !validHeaderName(k) {
			return nil, fmt.Errorf("-H %q: want 'Name: value'", h)
		}
		v = strings.TrimSpace(v)
		if redact.IsSensitiveHeader(k) {
			secrets.Add(v)
			// "Bearer <token>", "Basic <credentials>": the credential alone too.
			if _, cred, ok := strings.Cut(v, " "); ok {
				secrets.Add(strings.TrimSpace(cred))
			}
		}
		st.headers = append(st.headers, headerTmpl{name: k, t: staticTmpl(v)})
	}
	if o.Body != "" {
		st.body = bodyTmpl{raw: staticTmpl(o.Body)}
	}
	return &Scenario{Name: "adhoc", File: rawURL, Steps: []*Step{st}, Secrets: secrets, maxRedirs: DefaultMaxRedirects,
		tls: transport.TLSOptions{CAFile: o.CAFile}, env: func(string) (string, bool) { return "", false }}, nil
}

// ---------------------------------------------------------------- running

// Doer sends a request (transport.Client does).
type Doer interface {
	Do(ctx context.Context, req *transport.Request, resp *transport.Response) error
}

// Iteration identifies one run of the scenario.
type Iteration struct {
	Number uint64    // global iteration number: picks the data row; {{ iteration }}
	VU     int       // virtual user: {{ vu }}
	Due    time.Time // when it should have started; zero = Start
	Start  time.Time // when it started (the engine has just read the clock); zero = now
}

// stepResult is one executed step. Corrected latency is Done−Due, service
// latency Done−Sent.
type stepResult struct {
	Step      int
	Status    int
	Class     stats.ErrorClass
	Assertion stats.Assertion
	Due       time.Time
	Sent      time.Time
	Done      time.Time
	Err       error // redacted; nil when the step passed
	// For a failure sample: the request sent (nil when none could be
	// built) and the expectation that failed.
	req    *transport.Request
	expect *expectError
}

// Result is how an iteration went.
type Result struct {
	OK         bool
	Class      stats.ErrorClass // of the first failure
	FailedStep int              // -1 when OK
	Start, End time.Time
	// Think is the think time the iteration spent between its steps: its
	// duration without it is what p99(iteration) judges.
	Think time.Duration
	Err   error // the first failure, redacted
}

// Runner executes iterations of one scenario. Safe for concurrent use.
type Runner struct {
	s     *Scenario
	c     Doer
	pool  sync.Pool // *iterState
	fixed []*transport.Request
	// failures, when set, receives failure samples; expect holds each
	// step's expected statuses, which its traces leave alone.
	failures FailureSink
	expect   []*transport.StatusSet
	// certs, when set, learns the certificates each step is served;
	// lastLeaf is, per step, the leaf it was last told of.
	certs    CertSink
	lastLeaf []atomic.Pointer[x509.Certificate]
}

// FailureSink keeps failure samples (stats.Failures does): Want counts a
// failure and says whether its sample is wanted, Add keeps it, Trace says
// whether a step's next request should be traced in full.
type FailureSink interface {
	Want(k stats.FailureKey, at time.Time) bool
	Add(k stats.FailureKey, s stats.FailureSample)
	Trace(step int, now time.Time) bool
}

var _ FailureSink = (*stats.Failures)(nil)

// CertSink learns the TLS certificate chains (leaf first) a step's
// requests were served, per host: the daemon tracks their expiry. It is
// called from many goroutines at once, when a step sees a chain other than
// the one it saw last.
type CertSink interface {
	SawCertificates(step int, host string, chain []*x509.Certificate)
}

// RunnerOption configures a Runner.
type RunnerOption func(*Runner)

// WithFailures makes the runner sample its failing exchanges into sink
// (docs/run.md, "Failure samples"). The requests that pass pay nothing for
// it but a bit test; a failing one is sampled when sink wants it.
func WithFailures(sink FailureSink) RunnerOption {
	return func(r *Runner) { r.failures = sink }
}

// WithCertificates tells sink of the certificates each step is served.
func WithCertificates(sink CertSink) RunnerOption {
	return func(r *Runner) { r.certs = sink }
}

type iterState struct {
	vars  map[string]string
	req   transport.Request
	resp  transport.Response
	trace transport.Trace
	buf   bytes.Buffer
	body  []byte
	url   strings.Builder
	res   stepResult
	num   uint64 // the iteration's number
}

// NewRunner returns a runner sending through c.
func NewRunner(s *Scenario, c Doer, opts ...RunnerOption) *Runner {
	r := &Runner{s: s, c: c}
	for _, o := range opts {
		o(r)
	}
	if r.certs != nil {
		r.lastLeaf = make([]atomic.Pointer[x509.Certificate], len(s.Steps))
	}
	if r.failures != nil {
		r.expect = make([]*transport.StatusSet, len(s.Steps))
		for i, st := range s.Steps {
			set := &transport.StatusSet{}
			for code := 100; code < 600; code++ {
				if st.expect.statusOK(code) {
					set.Add(code)
				}
			}
			r.expect[i] = set
		}
	}
	// Static steps' requests are built once.
	r.fixed = make([]*transport.Request, len(s.Steps))
	for i, st := range s.Steps {
		if st.static {
			req := &transport.Request{}
			if err := r.build(st, req, nil, &bytes.Buffer{}, nil, &strings.Builder{}); err == nil {
				// A URL that does not parse is left to Do, which reports it
				// on every request like a templated one.
				req.Parsed, _ = transport.ParseURL(req.URL)
				r.fixed[i] = req
			}
		}
	}
	return r
}

// put returns st to the pool, without a large body: the client counts
// one against its body budget while a Response holds it.
func (r *Runner) put(st *iterState) {
	st.resp.Release()
	r.pool.Put(st)
}

// Run executes one iteration, recording each executed step in rec (may be
// nil), synchronously, as soon as it is done. The iteration itself is the
// caller's to record: it knows the iteration's due time.
func (r *Runner) Run(ctx context.Context, it Iteration, rec stats.Recorder) Result {
	st, _ := r.pool.Get().(*iterState)
	if st == nil {
		st = &iterState{vars: map[string]string{}}
	}
	defer r.put(st)
	start := it.Start
	if start.IsZero() {
		start = time.Now()
	}
	res := Result{OK: true, FailedStep: -1, Start: start}
	due := it.Due
	if due.IsZero() {
		due = start
	}
	s := r.s
	st.num = it.Number
	clear(st.vars)
	if s.usesIterState {
		st.vars[keyIteration] = itoa(it.Number)
		st.vars[keyVU] = itoa(uint64(it.VU))
		if s.data != nil {
			row := s.data.rows[it.Number%uint64(len(s.data.rows))]
			for i, col := range s.data.columns {
				if i < len(row) {
					st.vars[col] = row[i]
				}
			}
		}
		for _, v := range s.vars {
			val, err := v.t.render(&st.buf, st.vars)
			if err != nil {
				res = r.fail(res, 0, stats.ClassOther, fmt.Errorf("var %s: %w", v.name, err))
				res.End = time.Now()
				return res
			}
			st.vars[v.name] = val
		}
	}
	think := s.think[0] < s.think[1] || s.think[0] > 0
	var timer *time.Timer
	var end time.Time // the last step's end, while nothing has happened since
	for i, step := range s.Steps {
		if i > 0 && think {
			end = time.Time{}
			if timer == nil {
				timer = time.NewTimer(time.Hour)
				defer timer.Stop()
			}
			pause := s.pause()
			slept := time.Now()
			if !sleep(ctx, timer, pause) {
				res.Think += time.Since(slept)
				res = r.fail(res, i, stats.ClassOther, ctx.Err())
				break
			}
			res.Think += time.Since(slept)
		}
		if ctx.Err() != nil {
			res = r.fail(res, i, stats.ClassOther, fmt.Errorf("stopped: %w", ctx.Err()))
			break
		}
		if i > 0 {
			due = time.Now()
		}
		sr := r.runStep(ctx, i, step, st, due)
		end = sr.Done
		if rec != nil {
			rec.RecordStep(sr.Step, sr.Status, sr.Class, sr.Assertion, sr.Done.Sub(sr.Due), sr.Done.Sub(sr.Sent))
		}
		if sr.Err != nil {
			if r.failures != nil {
				r.sample(step, st, sr)
			}
			res = r.fail(res, i, sr.Class, sr.Err)
			if !step.ContinueOnFailure {
				break
			}
		}
	}
	if end.IsZero() {
		end = time.Now()
	}
	res.End = end
	return res
}

// pause draws a think time.
func (s *Scenario) pause() time.Duration {
	lo, hi := s.think[0], s.think[1]
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(mrand.Int64N(int64(hi-lo)+1))
}

func sleep(ctx context.Context, t *time.Timer, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t.Reset(d)
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		return false
	}
}

func (r *Runner) fail(res Result, step int, class stats.ErrorClass, err error) Result {
	if res.OK {
		res.OK, res.Class, res.FailedStep, res.Err = false, class, step, r.redactErr(err)
	}
	return res
}

func (r *Runner) redactErr(err error) error {
	if err == nil {
		return nil
	}
	return errors.New(r.s.Secrets.String(err.Error()))
}

// sawCertificates tells the sink of the chains a step's request was
// served, unless it is the one chain the step was served last (most
// requests reuse a connection, or resume its session, and see the same).
func (r *Runner) sawCertificates(step int, hops []transport.PeerCert) {
	if len(hops) == 1 && len(hops[0].Chain) > 0 && r.lastLeaf[step].Load() == hops[0].Chain[0] {
		return
	}
	for _, h := range hops {
		if len(h.Chain) > 0 {
			r.certs.SawCertificates(step, h.Host, h.Chain)
		}
	}
	if last := hops[len(hops)-1]; len(last.Chain) > 0 {
		r.lastLeaf[step].Store(last.Chain[0])
	}
}

func (r *Runner) runStep(ctx context.Context, i int, step *Step, st *iterState, due time.Time) *stepResult {
	sr := &st.res
	*sr = stepResult{Step: i, Due: due}
	req := r.fixed[i]
	if req == nil {
		req = &st.req
		if err := r.build(step, req, st.vars, &st.buf, &st.body, &st.url); err != nil {
			sr.Sent = time.Now()
			sr.Done = sr.Sent
			sr.Class, sr.Err = stats.ClassOther, r.redactErr(fmt.Errorf("step %s: %w", step.Name, err))
			return sr
		}
	}
	sr.req = req
	st.resp.Reset()
	if r.failures != nil {
		st.resp.Trace = &st.trace
		st.trace.Expect = r.expect[i]
		st.trace.All = r.failures.Trace(i, due)
	}
	sr.Sent = time.Now()
	err := r.c.Do(ctx, req, &st.resp)
	sr.Done = time.Now()
	sr.Status = st.resp.Status
	if r.certs != nil && len(st.resp.TLS) > 0 {
		r.sawCertificates(i, st.resp.TLS)
	}
	if err != nil {
		sr.Class = stats.ClassOther
		var te *transport.Error
		if errors.As(err, &te) {
			sr.Class = te.Class
		}
		sr.Err = r.redactErr(fmt.Errorf("step %s: %w", step.Name, err))
		return sr
	}
	class, assertion, err := step.expect.check(&st.resp, sr.Done.Sub(due), st.vars)
	if err != nil {
		sr.Class, sr.Assertion = class, assertion
		sr.expect, _ = err.(*expectError)
		sr.Err = r.redactErr(fmt.Errorf("step %s: %s %s: %w", step.Name, req.Method, redact.UserInfo(req.URL), err))
		return sr
	}
	for _, cp := range step.captures {
		v, ok := cp.extract(&st.resp)
		if !ok {
			sr.Class = stats.ClassCapture
			sr.Err = r.redactErr(fmt.Errorf("step %s: capture %s: %s found nothing", step.Name, cp.name, cp.describe()))
			return sr
		}
		st.vars[cp.name] = v
	}
	return sr
}

// build renders a step's request into req.
func (r *Runner) build(step *Step, req *transport.Request, vars map[string]string, buf *bytes.Buffer, body *[]byte, ub *strings.Builder) error {
	u, err := step.url.render(buf, vars)
	if err != nil {
		return fmt.Errorf("url: %w", err)
	}
	if len(step.query) > 0 {
		ub.Reset()
		ub.WriteString(u)
		sep := byte('?')
		if strings.Contains(u, "?") {
			sep = '&'
		}
		for _, q := range step.query {
			v, err := q.t.render(buf, vars)
			if err != nil {
				return fmt.Errorf("query %s: %w", q.name, err)
			}
			ub.WriteByte(sep)
			sep = '&'
			ub.WriteString(queryEscape(q.name))
			ub.WriteByte('=')
			ub.WriteString(queryEscape(v))
		}
		u = ub.String()
	}
	if r.s.base != nil {
		u = r.s.base.rewrite(u)
	}
	req.Method, req.URL = step.Method, u
	req.Timeout, req.FollowRedirects, req.MaxBody, req.NeedHeaders = step.timeout, step.follow, step.maxBody, step.needHdrs
	req.DiscardBody = !step.needBody
	req.Header = req.Header[:0]
	for _, h := range step.headers {
		v, err := h.t.render(buf, vars)
		if err != nil {
			return fmt.Errorf("header %s: %w", h.name, err)
		}
		req.Header = append(req.Header, transport.Header{Name: h.name, Value: v})
	}
	var dst []byte
	if body != nil {
		dst = (*body)[:0]
	}
	dst, err = step.body.render(dst, buf, vars)
	if err != nil {
		return fmt.Errorf("body: %w", err)
	}
	if body != nil {
		*body = dst
	}
	req.Body = dst
	return nil
}

func queryEscape(s string) string { return url.QueryEscape(s) }
