package demotarget

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canaryproj/canary/internal/listenaddr"
)

// running is a ListenAndServe in a goroutine owned by the test.
type running struct {
	s      *Server
	addr   string
	client *http.Client
	cancel context.CancelFunc
	done   chan error
}

func listen(t *testing.T, addr string, o Options) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{s: New(o), cancel: cancel, done: make(chan error, 1)}
	ready := make(chan string, 1)
	go func() {
		r.done <- ListenAndServe(ctx, addr, r.s, nil, func(a string) { ready <- a })
	}()
	tr := &http.Transport{}
	r.client = &http.Client{Transport: tr, Timeout: 20 * time.Second}
	t.Cleanup(func() {
		r.cancel()
		<-r.done
		tr.CloseIdleConnections()
	})
	select {
	case r.addr = <-ready:
	case err := <-r.done:
		r.done <- err
		t.Fatalf("ListenAndServe(%q): %v", addr, err)
	case <-time.After(10 * time.Second):
		t.Fatalf("ListenAndServe(%q) not ready after 10s", addr)
	}
	return r
}

// stop cancels the context and returns ListenAndServe's result and how long
// it took to return.
func (r *running) stop(t *testing.T) (time.Duration, error) {
	t.Helper()
	start := time.Now()
	r.cancel()
	select {
	case err := <-r.done:
		r.done <- err // for the cleanup
		return time.Since(start), err
	case <-time.After(20 * time.Second):
		t.Fatal("ListenAndServe still running 20s after its context ended")
		return 0, nil
	}
}

func TestListenAndServe(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:0", "localhost:0"} {
		t.Run(addr, func(t *testing.T) {
			r := listen(t, addr, Options{Seed: 1})
			host, port, err := net.SplitHostPort(r.addr)
			require.NoError(t, err)
			assert.True(t, isLoopback(host), "bound to %s", r.addr)
			assert.NotEqual(t, "0", port, "ready gets the real port")

			a := fetch(t, r.client, "GET", "http://"+r.addr+"/health", "")
			require.Equal(t, 200, a.status)
			assert.JSONEq(t, `{"status":"ok"}`, string(a.body))

			took, err := r.stop(t)
			require.NoError(t, err)
			assert.Less(t, took, 5*time.Second, "an idle server stops at once")
			_, err = r.client.Get("http://" + r.addr + "/health")
			assert.Error(t, err, "nothing listens after shutdown")
		})
	}
}

func TestListenAndServeRefusesPublicAddresses(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0", "192.0.2.10:8080", "staging.example.invalid:8080"} {
		t.Run(addr, func(t *testing.T) {
			err := ListenAndServe(t.Context(), addr, New(Options{}), nil, func(string) {
				t.Errorf("ready called for %s", addr)
			})
			require.Error(t, err)
			assert.Contains(t, err.Error(), "is not a loopback address")
			assert.Contains(t, err.Error(), addr)
		})
	}
}

func TestCheckListenAddr(t *testing.T) {
	for _, tc := range []struct {
		addr   string
		public bool
		err    string
	}{
		{"127.0.0.1:8080", false, ""},
		{"127.9.9.9:0", false, ""},
		{"[::1]:0", false, ""},
		{"localhost:8080", false, ""},
		{"LocalHost:8080", false, ""},
		{"0.0.0.0:8080", false, "not a loopback address"},
		{"10.0.0.1:80", false, "not a loopback address"},
		{"[::]:8080", false, "not a loopback address"},
		{":8080", false, "not a loopback address"},
		{"0.0.0.0:8080", true, ""},
		{":8080", true, ""},
		{"8080", false, "missing port"},
		{"8080", true, "missing port"},
	} {
		err := checkListenAddr(tc.addr, tc.public)
		if tc.err == "" {
			assert.NoError(t, err, "checkListenAddr(%q, %v)", tc.addr, tc.public)
			continue
		}
		if assert.Error(t, err, "checkListenAddr(%q, %v)", tc.addr, tc.public) {
			assert.Contains(t, err.Error(), tc.err, "checkListenAddr(%q, %v)", tc.addr, tc.public)
		}
	}
}

func TestListenAndServePortInUse(t *testing.T) {
	var lc net.ListenConfig
	ln, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	err = ListenAndServe(t.Context(), ln.Addr().String(), New(Options{}), nil, nil)
	require.Error(t, err)
	var le *listenaddr.Error
	require.ErrorAs(t, err, &le)
	assert.True(t, le.InUse())
	assert.Contains(t, err.Error(), "demo target: cannot listen on "+ln.Addr().String()+": the address is already in use by ")
	assert.Contains(t, err.Error(), "canary demo-target --listen ADDR", "how to move it")
}

// A request in flight when the context ends finishes within the grace
// period.
func TestListenAndServeDrainsInFlight(t *testing.T) {
	r := listen(t, "127.0.0.1:0", Options{Seed: 1, ShutdownGrace: 10 * time.Second})
	got := make(chan answer, 1)
	go func() {
		res, err := r.client.Get("http://" + r.addr + "/slow?ms=300")
		if err != nil {
			got <- answer{status: -1, body: []byte(err.Error())}
			return
		}
		defer res.Body.Close()
		got <- answer{status: res.StatusCode}
	}()
	require.Eventually(t, func() bool { return r.s.Counts()["GET /slow"] == 1 }, 5*time.Second, time.Millisecond)
	took, err := r.stop(t)
	require.NoError(t, err)
	a := <-got
	assert.Equal(t, 200, a.status, "the in-flight request completes: %s", a.body)
	assert.Less(t, took, 8*time.Second)
}

// Requests still waiting when the grace period ends are cut off, and
// ListenAndServe returns only after their handlers did (goleak checks).
func TestListenAndServeCutsOffAfterGrace(t *testing.T) {
	for _, tc := range []struct {
		name, path, route string
		faults            Faults
	}{
		{"slow answer", "/slow?ms=10000", "GET /slow", Faults{}},
		{"injected latency", "/products", "GET /products", Faults{Latency: MaxFaultDelay}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := listen(t, "127.0.0.1:0", Options{Seed: 1, Faults: tc.faults, ShutdownGrace: 50 * time.Millisecond})
			failed := make(chan error, 1)
			go func() {
				res, err := r.client.Get("http://" + r.addr + tc.path)
				if err == nil {
					res.Body.Close()
				}
				failed <- err
			}()
			require.Eventually(t, func() bool { return r.s.Counts()[tc.route] == 1 }, 5*time.Second, time.Millisecond)
			took, err := r.stop(t)
			require.NoError(t, err)
			assert.Less(t, took, 5*time.Second, "cut off after a 50ms grace, not after the request's 10s+")
			assert.Error(t, <-failed, "the cut-off request gets no answer")
		})
	}
}

func TestHandlerGroup(t *testing.T) {
	var g handlerGroup
	require.True(t, g.enter())
	waited := make(chan struct{})
	go func() {
		defer close(waited)
		g.closeAndWait()
	}()
	select {
	case <-waited:
		t.Fatal("closeAndWait returned with a handler running")
	case <-time.After(20 * time.Millisecond):
	}
	g.leave()
	<-waited
	assert.False(t, g.enter(), "no handler starts after close")
}
