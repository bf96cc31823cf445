// Package chromium drives the headless Chromium that scripts/deps.sh
// installs, for tests of canary's pages: it loads a page with or without
// JavaScript and gives its DOM after rendering, what it wrote to the
// console or threw, values computed in it, and screenshots of its
// elements. It speaks the DevTools protocol over the pipe Chromium opens
// with --remote-debugging-pipe, so it needs no port and no WebSocket.
package chromium

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// Browser is a running headless Chromium.
type Browser struct {
	cmd    *exec.Cmd
	in     *os.File // commands, NUL-terminated JSON
	out    *os.File // responses and events
	reader sync.WaitGroup

	mu      sync.Mutex
	nextID  int64
	pending map[int64]chan reply
	pages   map[string]*Page // by session
	dead    error            // set when the pipe closed
}

type reply struct {
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// message is anything Chromium writes: a reply (ID set) or an event.
type message struct {
	ID        int64           `json:"id"`
	Method    string          `json:"method"`
	Params    json.RawMessage `json:"params"`
	SessionID string          `json:"sessionId"`
	reply
}

// Launch starts Chromium for a test and closes it when the test ends. It
// fails the test when Chromium is not installed.
func Launch(t testing.TB) *Browser {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium not found: run scripts/deps.sh (make test does)")
	}
	b, err := Start(bin, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Error(err)
		}
	})
	return b
}

// Start runs bin headless with its profile in dir.
func Start(bin, dir string) (*Browser, error) {
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, err
	}
	cmd := exec.Command(bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
		"--disable-extensions", "--mute-audio", "--hide-scrollbars", "--font-render-hinting=none",
		"--remote-debugging-pipe", "--user-data-dir="+dir, "about:blank")
	cmd.ExtraFiles = []*os.File{inR, outW} // fds 3 and 4
	if err := cmd.Start(); err != nil {
		for _, f := range []*os.File{inR, inW, outR, outW} {
			f.Close()
		}
		return nil, fmt.Errorf("start chromium: %w", err)
	}
	inR.Close()
	outW.Close()
	b := &Browser{cmd: cmd, in: inW, out: outR, pending: map[int64]chan reply{}, pages: map[string]*Page{}}
	b.reader.Add(1)
	go b.read()
	return b, nil
}

// Close closes the browser and waits for it and for the reader to end.
func (b *Browser) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = b.call(ctx, "", "Browser.close", nil, nil)
	done := make(chan error, 1)
	go func() { done <- b.cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		_ = b.cmd.Process.Kill()
		err = <-done
	}
	b.in.Close()
	b.out.Close()
	b.reader.Wait()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return nil // killed or closed: the browser is gone either way
	}
	return err
}

// read dispatches what Chromium writes until the pipe closes.
func (b *Browser) read() {
	defer b.reader.Done()
	rd := bufio.NewReaderSize(b.out, 1<<20)
	var err error
	for {
		var data []byte
		data, err = rd.ReadBytes(0)
		if err != nil {
			break
		}
		var m message
		if json.Unmarshal(data[:len(data)-1], &m) != nil {
			continue
		}
		b.mu.Lock()
		if m.ID != 0 {
			if ch := b.pending[m.ID]; ch != nil {
				delete(b.pending, m.ID)
				ch <- m.reply
			}
		} else if p := b.pages[m.SessionID]; p != nil {
			p.event(m.Method, m.Params)
		}
		b.mu.Unlock()
	}
	b.mu.Lock()
	b.dead = fmt.Errorf("chromium closed its pipe: %w", err)
	for id, ch := range b.pending {
		delete(b.pending, id)
		close(ch)
	}
	b.mu.Unlock()
}

// call sends a command (to a page's session, or the browser with "") and
// decodes its result into out.
func (b *Browser) call(ctx context.Context, session, method string, params, out any) error {
	b.mu.Lock()
	if b.dead != nil {
		b.mu.Unlock()
		return b.dead
	}
	b.nextID++
	id := b.nextID
	ch := make(chan reply, 1)
	b.pending[id] = ch
	b.mu.Unlock()
	msg := map[string]any{"id": id, "method": method}
	if params != nil {
		msg["params"] = params
	}
	if session != "" {
		msg["sessionId"] = session
	}
	data, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	if _, err := b.in.Write(append(data, 0)); err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	select {
	case r, ok := <-ch:
		if !ok {
			return fmt.Errorf("%s: chromium closed its pipe", method)
		}
		if r.Error != nil {
			return fmt.Errorf("%s: %s (%d)", method, r.Error.Message, r.Error.Code)
		}
		if out != nil {
			return json.Unmarshal(r.Result, out)
		}
		return nil
	case <-ctx.Done():
		b.mu.Lock()
		delete(b.pending, id)
		b.mu.Unlock()
		return fmt.Errorf("%s: %w", method, ctx.Err())
	}
}

// Options say how a page is opened.
type Options struct {
	Width, Height int  // the viewport in CSS pixels (default 1280×900)
	NoScript      bool // JavaScript off, as a reader who disabled it
}

// Page is a tab.
type Page struct {
	b       *Browser
	session string
	target  string

	// Guarded by b.mu.
	loads    int
	messages []string // console messages, exceptions and log entries
	dropped  int      // messages past maxMessages
	changed  chan struct{}
}

// maxMessages bounds what a page keeps of its console.
const maxMessages = 1000

// Open opens url in a new tab and waits for its load event.
func (b *Browser) Open(ctx context.Context, url string, o Options) (*Page, error) {
	if o.Width == 0 {
		o.Width, o.Height = 1280, 900
	}
	var target struct {
		TargetID string `json:"targetId"`
	}
	if err := b.call(ctx, "", "Target.createTarget", map[string]any{"url": "about:blank"}, &target); err != nil {
		return nil, err
	}
	var att struct {
		SessionID string `json:"sessionId"`
	}
	if err := b.call(ctx, "", "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &att); err != nil {
		return nil, err
	}
	p := &Page{b: b, session: att.SessionID, target: target.TargetID, changed: make(chan struct{})}
	b.mu.Lock()
	b.pages[p.session] = p
	b.mu.Unlock()
	for _, c := range []struct {
		method string
		params any
	}{
		{"Page.enable", nil},
		{"Runtime.enable", nil},
		{"Log.enable", nil},
		{"Emulation.setScriptExecutionDisabled", map[string]any{"value": o.NoScript}},
		{"Emulation.setDeviceMetricsOverride", map[string]any{"width": o.Width, "height": o.Height, "deviceScaleFactor": 1, "mobile": false}},
	} {
		if err := p.call(ctx, c.method, c.params, nil); err != nil {
			return nil, err
		}
	}
	var nav struct {
		ErrorText string `json:"errorText"`
	}
	b.mu.Lock()
	loads := p.loads
	b.mu.Unlock()
	if err := p.call(ctx, "Page.navigate", map[string]any{"url": url}, &nav); err != nil {
		return nil, err
	}
	if nav.ErrorText != "" {
		return nil, fmt.Errorf("open %s: %s", url, nav.ErrorText)
	}
	for {
		b.mu.Lock()
		done, changed := p.loads > loads, p.changed
		b.mu.Unlock()
		if done {
			return p, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, fmt.Errorf("open %s: waiting for the load event: %w", url, ctx.Err())
		}
	}
}

func (p *Page) call(ctx context.Context, method string, params, out any) error {
	return p.b.call(ctx, p.session, method, params, out)
}

// event records what the page reports (with b.mu held).
func (p *Page) event(method string, params json.RawMessage) {
	var msg string
	switch method {
	case "Page.loadEventFired":
		p.loads++
	case "Runtime.consoleAPICalled":
		var e struct {
			Type string `json:"type"`
			Args []struct {
				Value       any    `json:"value"`
				Description string `json:"description"`
			} `json:"args"`
		}
		_ = json.Unmarshal(params, &e)
		var parts []string
		for _, a := range e.Args {
			if a.Value != nil {
				parts = append(parts, fmt.Sprint(a.Value))
			} else {
				parts = append(parts, a.Description)
			}
		}
		msg = "console." + e.Type + ": " + strings.Join(parts, " ")
	case "Runtime.exceptionThrown":
		var e struct {
			Details struct {
				Text      string `json:"text"`
				Line      int    `json:"lineNumber"`
				Exception struct {
					Description string `json:"description"`
				} `json:"exception"`
			} `json:"exceptionDetails"`
		}
		_ = json.Unmarshal(params, &e)
		msg = fmt.Sprintf("exception at line %d: %s %s", e.Details.Line+1, e.Details.Text, e.Details.Exception.Description)
	case "Log.entryAdded":
		var e struct {
			Entry struct {
				Level, Source, Text, URL string
			} `json:"entry"`
		}
		_ = json.Unmarshal(params, &e)
		msg = fmt.Sprintf("log %s (%s): %s %s", e.Entry.Level, e.Entry.Source, e.Entry.Text, e.Entry.URL)
	default:
		return
	}
	if msg != "" {
		if len(p.messages) < maxMessages {
			p.messages = append(p.messages, msg)
		} else {
			p.dropped++
		}
	}
	close(p.changed)
	p.changed = make(chan struct{})
}

// Console returns what the page wrote to its console, threw, or logged
// (failed loads among them) so far.
func (p *Page) Console() []string {
	p.b.mu.Lock()
	defer p.b.mu.Unlock()
	out := append([]string(nil), p.messages...)
	if p.dropped > 0 {
		out = append(out, fmt.Sprintf("… and %d more", p.dropped))
	}
	return out
}

// DOM returns the document as it is now, serialised. It works with
// JavaScript off too.
func (p *Page) DOM(ctx context.Context) (string, error) {
	root, err := p.root(ctx)
	if err != nil {
		return "", err
	}
	var out struct {
		OuterHTML string `json:"outerHTML"`
	}
	err = p.call(ctx, "DOM.getOuterHTML", map[string]any{"nodeId": root}, &out)
	return out.OuterHTML, err
}

func (p *Page) root(ctx context.Context) (int64, error) {
	var doc struct {
		Root struct {
			NodeID int64 `json:"nodeId"`
		} `json:"root"`
	}
	err := p.call(ctx, "DOM.getDocument", map[string]any{"depth": 0}, &doc)
	return doc.Root.NodeID, err
}

// Eval evaluates a JavaScript expression in the page (awaiting a promise)
// and decodes its value, which must be JSON-serialisable, into out.
// DevTools evaluates it even when the page's own scripts are off.
func (p *Page) Eval(ctx context.Context, expr string, out any) error {
	var res struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		Exception *struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	if err := p.call(ctx, "Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true, "awaitPromise": true}, &res); err != nil {
		return err
	}
	if res.Exception != nil {
		return fmt.Errorf("eval: %s %s", res.Exception.Text, res.Exception.Exception.Description)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(res.Result.Value, out)
}

// Screenshot returns a PNG of the element selector matches (the whole
// page for ""), at its full size even where it is beyond the viewport.
func (p *Page) Screenshot(ctx context.Context, selector string) ([]byte, error) {
	var clip map[string]any
	if selector == "" {
		var m struct {
			Content struct{ Width, Height float64 } `json:"cssContentSize"`
		}
		if err := p.call(ctx, "Page.getLayoutMetrics", nil, &m); err != nil {
			return nil, err
		}
		clip = map[string]any{"x": 0, "y": 0, "width": m.Content.Width, "height": m.Content.Height, "scale": 1}
	} else {
		root, err := p.root(ctx)
		if err != nil {
			return nil, err
		}
		var node struct {
			NodeID int64 `json:"nodeId"`
		}
		if err := p.call(ctx, "DOM.querySelector", map[string]any{"nodeId": root, "selector": selector}, &node); err != nil {
			return nil, err
		}
		if node.NodeID == 0 {
			return nil, fmt.Errorf("screenshot: nothing matches %q", selector)
		}
		var box struct {
			Model struct {
				Border []float64 `json:"border"` // four corners, clockwise from the top left
			} `json:"model"`
		}
		if err := p.call(ctx, "DOM.getBoxModel", map[string]any{"nodeId": node.NodeID}, &box); err != nil {
			return nil, err
		}
		q := box.Model.Border
		if len(q) != 8 {
			return nil, fmt.Errorf("screenshot %q: no box", selector)
		}
		var scroll struct {
			Visual struct {
				PageX float64 `json:"pageX"`
				PageY float64 `json:"pageY"`
			} `json:"cssVisualViewport"`
		}
		if err := p.call(ctx, "Page.getLayoutMetrics", nil, &scroll); err != nil {
			return nil, err
		}
		clip = map[string]any{"x": q[0] + scroll.Visual.PageX, "y": q[1] + scroll.Visual.PageY, "width": q[2] - q[0], "height": q[5] - q[1], "scale": 1}
	}
	var shot struct {
		Data string `json:"data"`
	}
	if err := p.call(ctx, "Page.captureScreenshot", map[string]any{"format": "png", "clip": clip, "captureBeyondViewport": true}, &shot); err != nil {
		return nil, err
	}
	return base64.StdEncoding.DecodeString(shot.Data)
}

// Close closes the tab.
func (p *Page) Close(ctx context.Context) error {
	err := p.b.call(ctx, "", "Target.closeTarget", map[string]any{"targetId": p.target}, nil)
	p.b.mu.Lock()
	delete(p.b.pages, p.session)
	p.b.mu.Unlock()
	return err
}
