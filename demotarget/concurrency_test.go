package demotarget

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
)

// Many clients log in, shop, read stats and turn the fault knobs at once,
// over a real server with a session bound small enough to evict
// constantly. Run with -race; the counts must add up exactly.
func TestConcurrentUse(t *testing.T) {
	const workers, rounds, maxSessions = 8, 40, 4
	s, ts := newHTTPTest(t, Options{Seed: 5, MaxSessions: maxSessions})
	c := ts.Client()

	var wg sync.WaitGroup
	var logins, injected atomic.Int64
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := range rounds {
				if err := shopRound(c, ts.URL, w, i, &logins, &injected); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	var total int64
	for _, n := range s.Counts() {
		total += n
	}
	assert.Equal(t, int64(workers*rounds*6), total, "each round sends 6 requests")
	st := s.Stats()
	assert.Equal(t, maxSessions, st.Sessions.Active)
	assert.Equal(t, logins.Load(), st.Sessions.Evicted+int64(st.Sessions.Active),
		"every successful login is a session still held or an eviction")
	assert.Equal(t, injected.Load(), st.Faults.Injected)
	assert.Positive(t, injected.Load(), "the knobs were on part of the time")
}

// try sends one request; safe to call from any goroutine.
func try(c *http.Client, method, url, body string, header ...string) (answer, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return answer{}, err
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := c.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return answer{status: res.StatusCode, header: res.Header, body: b}, err
}

// shopRound is one client's turn. It accepts exactly the answers a racing
// knob flip or session eviction can cause.
func shopRound(c *http.Client, base string, w, i int, logins, injected *atomic.Int64) error {
	fail := func(what string, a answer, err error) error {
		return fmt.Errorf("worker %d round %d: %s: %d %s %v", w, i, what, a.status, a.body, err)
	}
	ok := func(a answer, want ...int) bool {
		if a.header.Get("X-Canary-Fault") == "error" && a.status == 502 {
			injected.Add(1)
			return true
		}
		for _, s := range want {
			if a.status == s {
				return true
			}
		}
		return false
	}

	a, err := try(c, "POST", base+"/login", fmt.Sprintf(`{"user":"u%d","password":"p"}`, w))
	if err != nil || !ok(a, 200) {
		return fail("login", a, err)
	}
	var tok string
	if a.status == 200 {
		var doc struct{ Token string }
		if err := json.Unmarshal(a.body, &doc); err != nil || doc.Token == "" {
			return fail("login body", a, err)
		}
		tok = doc.Token
		logins.Add(1)
	}
	auth := []string{"Authorization", "Bearer " + tok}
	if a, err = try(c, "POST", base+"/cart/items", `{"sku":"sku-1004","qty":1}`, auth...); err != nil || !ok(a, 201, 401) {
		return fail("add", a, err)
	}
	if a, err = try(c, "GET", base+"/cart", "", auth...); err != nil || !ok(a, 200, 401) {
		return fail("cart", a, err)
	}
	// One worker flips the knobs; the others read them.
	knobs := "GET"
	if w == 0 {
		knobs = map[bool]string{true: "PUT", false: "DELETE"}[i%2 == 0]
	}
	if a, err = try(c, knobs, base+"/admin/faults", `{"error_ratio":0.5,"error_status":502}`); err != nil || a.status != 200 {
		return fail(knobs+" /admin/faults", a, err)
	}
	for _, p := range []string{"/admin/stats", "/health"} {
		if a, err = try(c, "GET", base+p, ""); err != nil || a.status != 200 || a.header.Get("X-Request-Id") == "" {
			return fail("GET "+p, a, err)
		}
	}
	return nil
}
