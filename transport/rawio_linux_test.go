package transport

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canaryproj/canary/stats"
)

// rawPair is a loopback TCP connection: the client side wrapped in rawIO
// and the server side as net.Conn.
func rawPair(t *testing.T) (*rawIO, *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	srv, ok := <-accepted
	require.True(t, ok, "accept")
	raw, ok := newRawIO(c).(*rawIO)
	require.True(t, ok, "a TCP connection is wrapped")
	t.Cleanup(func() { raw.Close(); srv.Close() })
	return raw, srv.(*net.TCPConn)
}

func TestRawIOWrapsOnlyWhatHasAFileDescriptor(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	assert.Same(t, a, newRawIO(a), "a pipe has no descriptor: left as it is")
}

func TestRawIOMovesBytesBothWays(t *testing.T) {
	raw, srv := rawPair(t)
	// Far more than the socket buffers hold: the write meets EAGAIN and
	// waits in the netpoller while the server drains it, slowly.
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	got := make(chan []byte, 1)
	go func() {
		var b bytes.Buffer
		buf := make([]byte, 4096)
		for b.Len() < len(big) {
			n, err := srv.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				break
			}
			if b.Len() < 64<<10 {
				time.Sleep(time.Millisecond)
			}
		}
		got <- b.Bytes()
	}()
	n, err := raw.Write(big)
	require.NoError(t, err)
	assert.Equal(t, len(big), n, "a write returns only when all of it is written")
	assert.True(t, bytes.Equal(big, <-got), "the server received exactly what was written")

	_, err = srv.Write([]byte("pong"))
	require.NoError(t, err)
	buf := make([]byte, 16)
	n, err = raw.Read(buf)
	require.NoError(t, err)
	assert.Equal(t, "pong", string(buf[:n]))

	n, err = raw.Read(nil)
	assert.Equal(t, 0, n)
	assert.NoError(t, err, "an empty read reads nothing")
}

func TestRawIOEndsAsNetConnDoes(t *testing.T) {
	t.Run("EOF", func(t *testing.T) {
		raw, srv := rawPair(t)
		require.NoError(t, srv.Close())
		n, err := raw.Read(make([]byte, 8))
		assert.Equal(t, 0, n)
		assert.Equal(t, io.EOF, err, "a peer's close is io.EOF itself")
	})
	t.Run("reset", func(t *testing.T) {
		raw, srv := rawPair(t)
		require.NoError(t, srv.SetLinger(0))
		require.NoError(t, srv.Close())
		_, err := raw.Read(make([]byte, 8))
		require.Error(t, err)
		assert.True(t, errors.Is(err, syscall.ECONNRESET), "%v", err)
		var oe *net.OpError
		require.ErrorAs(t, err, &oe)
		assert.Equal(t, "read", oe.Op)
		assert.Equal(t, stats.ClassConnectionReset, Classify(err))
	})
	t.Run("deadline", func(t *testing.T) {
		raw, _ := rawPair(t)
		require.NoError(t, raw.SetReadDeadline(time.Now().Add(30*time.Millisecond)))
		start := time.Now()
		_, err := raw.Read(make([]byte, 8))
		require.Error(t, err)
		assert.GreaterOrEqual(t, time.Since(start), 25*time.Millisecond)
		assert.Equal(t, stats.ClassTimeout, Classify(err), "%v", err)
		var oe *net.OpError
		require.ErrorAs(t, err, &oe)
		assert.Equal(t, "read", oe.Op, "named as net.Conn names it, not raw-read")
	})
	t.Run("a deadline in the past aborts a blocked read", func(t *testing.T) {
		raw, _ := rawPair(t)
		done := make(chan error, 1)
		go func() {
			_, err := raw.Read(make([]byte, 8))
			done <- err
		}()
		time.Sleep(20 * time.Millisecond)
		require.NoError(t, raw.SetDeadline(aLongTimeAgo))
		select {
		case err := <-done:
			assert.True(t, isTimeout(err), "%v", err)
		case <-time.After(5 * time.Second):
			t.Fatal("the read did not end")
		}
	})
	t.Run("closed", func(t *testing.T) {
		raw, _ := rawPair(t)
		require.NoError(t, raw.Close())
		_, err := raw.Write([]byte("x"))
		assert.ErrorIs(t, err, net.ErrClosed)
	})
}

func TestRawIOKeepsTheIdleCheck(t *testing.T) {
	raw, srv := rawPair(t)
	assert.True(t, alive(raw), "open and quiet")
	require.NoError(t, srv.Close())
	time.Sleep(10 * time.Millisecond)
	assert.False(t, alive(raw), "the server's close is seen through the wrapper")
}

func TestRawIOAllocatesNothing(t *testing.T) {
	raw, srv := rawPair(t)
	out, in := []byte("ping"), make([]byte, 4)
	echo := make([]byte, 4)
	allocs := testing.AllocsPerRun(200, func() {
		if _, err := raw.Write(out); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(srv, echo); err != nil {
			t.Fatal(err)
		}
		if _, err := srv.Write(echo); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(raw, in); err != nil {
			t.Fatal(err)
		}
	})
	assert.Zero(t, allocs)
	assert.Equal(t, "ping", string(in))
}

// TestH1PathUsesRawIO: both schemes' connections do their I/O through
// rawIO, under crypto/tls for https.
func TestH1PathUsesRawIO(t *testing.T) {
	pki := newPKI(t)
	for _, scheme := range schemes {
		t.Run(scheme, func(t *testing.T) {
			srv := httpServer(t, scheme, pki, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.WriteString(w, "ok")
			}))
			c := clientFor(t, pki, Options{})
			var resp Response
			require.NoError(t, c.Do(context.Background(), &Request{URL: srv.URL + "/"}, &resp))
			c.h1.mu.RLock()
			defer c.h1.mu.RUnlock()
			require.Len(t, c.h1.hosts, 1)
			for _, h := range c.h1.hosts {
				h.mu.Lock()
				require.Len(t, h.idle, 1)
				pc := h.idle[0]
				h.mu.Unlock()
				_, ok := pc.raw.(*rawIO)
				assert.True(t, ok, "the pool's connections do their I/O through rawIO")
				if scheme == "https" {
					tc, ok := pc.c.(*tls.Conn)
					require.True(t, ok, "https: requests go through crypto/tls")
					assert.Same(t, pc.raw, tc.NetConn())
					assert.Equal(t, "http/1.1", tc.ConnectionState().NegotiatedProtocol, "ALPN")
				}
			}
		})
	}
}
