package transport

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// benchResponse is what the benchmark server answers: a small JSON API
// response.
const benchResponse = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 27\r\n\r\n{\"status\":\"ok\",\"items\":[1]}"

// newBenchServer is a minimal keep-alive server, so that the benchmarks
// measure the client rather than the server: it reads header sections (the
// benchmarks send no bodies) and writes benchResponse for each.
func newBenchServer(b *testing.B, scheme string, pki *testPKI) *rawServer {
	return newRawServer(b, scheme, pki, func(_ *rawServer, c net.Conn) {
		br := bufio.NewReaderSize(c, 4096)
		resp := []byte(benchResponse)
		for {
			// The end of a header section; requests are small enough to
			// arrive in one piece.
			for {
				line, err := br.ReadSlice('\n')
				if err != nil {
					return
				}
				if len(line) == 2 {
					break
				}
			}
			if _, err := c.Write(resp); err != nil {
				return
			}
		}
	})
}

// benchRequest is a static request as a scenario sends it: parsed once.
func benchRequest(url string) *Request {
	r := &Request{URL: url + "/api/items?page=1", Header: []Header{{"Accept", "application/json"}}}
	u, err := ParseURL(r.URL)
	if err != nil {
		panic(err)
	}
	r.Parsed = u
	return r
}

func BenchmarkDo(b *testing.B) {
	srv := newBenchServer(b, "http", nil)
	c := newClient(b, Options{})
	req := benchRequest(srv.URL)
	var resp Response
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Do(ctx, req, &resp); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDoTraced is BenchmarkDo with the Trace a scenario step sets for
// its failure samples, on responses with the expected status: what tracing
// costs a request that does not fail (its allocations must not move).
func BenchmarkDoTraced(b *testing.B) {
	srv := newBenchServer(b, "http", nil)
	c := newClient(b, Options{})
	req := benchRequest(srv.URL)
	expect := &StatusSet{}
	expect.Add(200)
	resp := Response{Trace: &Trace{Expect: expect}}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Do(ctx, req, &resp); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDoCancelable is BenchmarkDo with a context that can be
// cancelled, as the load engine's is: the cost of watching it.
func BenchmarkDoCancelable(b *testing.B) {
	srv := newBenchServer(b, "http", nil)
	c := newClient(b, Options{})
	req := benchRequest(srv.URL)
	var resp Response
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Do(ctx, req, &resp); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBareFasthttp is the yardstick: a fasthttp.HostClient with its
// own pool against the same server.
func BenchmarkBareFasthttp(b *testing.B) {
	srv := newBenchServer(b, "http", nil)
	hc := bareHostClient(srv)
	url := srv.URL + "/api/items?page=1"
	b.ReportAllocs()
	for b.Loop() {
		if err := bareDo(hc, url); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	closeBare(hc)
}

// BenchmarkBareFasthttpParallel is BenchmarkDoParallel's yardstick.
func BenchmarkBareFasthttpParallel(b *testing.B) {
	srv := newBenchServer(b, "http", nil)
	hc := bareHostClient(srv)
	url := srv.URL + "/api/items?page=1"
	b.ReportAllocs()
	b.SetParallelism(parallelism(50))
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := bareDo(hc, url); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	closeBare(hc)
}

func bareHostClient(srv *rawServer) *fasthttp.HostClient {
	return &fasthttp.HostClient{
		Addr: hostPort(srv.URL),
		// Not fasthttp's default dialer: its DNS cache goroutine never ends.
		Dial:                func(addr string) (net.Conn, error) { return net.Dial("tcp", addr) },
		MaxIdleConnDuration: 50 * time.Millisecond,
		MaxConns:            DefaultMaxConns,
	}
}

func bareDo(hc *fasthttp.HostClient, url string) error {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(url)
	req.Header.Set("Accept", "application/json")
	return hc.DoTimeout(req, resp, 5*time.Second)
}

// closeBare closes hc's connections and gives fasthttp's idle sweeper the
// time to notice and exit.
func closeBare(hc *fasthttp.HostClient) {
	hc.CloseIdleConnections()
	time.Sleep(150 * time.Millisecond)
}

func BenchmarkDoHTTPS(b *testing.B) {
	pki := newPKI(b)
	srv := newBenchServer(b, "https", pki)
	c := clientFor(b, pki, Options{})
	req := benchRequest(srv.URL)
	var resp Response
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Do(ctx, req, &resp); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDoParallel is a closed loop of 50 goroutines, each with its own
// Response, like the load engine's workers.
func BenchmarkDoParallel(b *testing.B) {
	for _, scheme := range schemes {
		b.Run(scheme, func(b *testing.B) {
			var pki *testPKI
			if scheme == "https" {
				pki = newPKI(b)
			}
			srv := newBenchServer(b, scheme, pki)
			c := clientFor(b, pki, Options{})
			req := benchRequest(srv.URL)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			b.ReportAllocs()
			b.SetParallelism(parallelism(50))
			b.RunParallel(func(pb *testing.PB) {
				var resp Response
				for pb.Next() {
					if err := c.Do(ctx, req, &resp); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// parallelism returns the SetParallelism factor that runs about n
// goroutines.
func parallelism(n int) int {
	return max(1, n/runtime.GOMAXPROCS(0))
}

func BenchmarkReadBody(b *testing.B) {
	body := bytes.Repeat([]byte("x"), 32<<10)
	var dst []byte
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		r := bodyReader{buf: dst[:0], max: DefaultMaxBody, budget: &bodyBudget{limit: DefaultMaxBodyMemory}}
		if err := r.stream(bytes.NewReader(body), -1); err != nil {
			b.Fatal(err)
		}
		dst = r.buf
	}
}
