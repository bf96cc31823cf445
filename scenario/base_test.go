package scenario

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBaseRewrite(t *testing.T) {
	for _, tc := range []struct {
		name, base, in, want string
	}{
		{"host and port", "http://10.0.0.7:8081", "http://127.0.0.1:8080/login?x=1", "http://10.0.0.7:8081/login?x=1"},
		{"scheme too", "https://canary.example.com", "http://127.0.0.1:8080/a", "https://canary.example.com/a"},
		{"path prefixed", "http://h:1/v2", "http://127.0.0.1:8080/login", "http://h:1/v2/login"},
		{"trailing slash of the base", "http://h:1/v2/", "http://127.0.0.1:8080/login", "http://h:1/v2/login"},
		{"no path in the request", "http://h:1/v2", "http://127.0.0.1:8080", "http://h:1/v2"},
		{"query without a path", "http://h:1", "http://127.0.0.1:8080?q=1", "http://h:1?q=1"},
		{"fragment kept", "http://h:1", "http://a/b#frag", "http://h:1/b#frag"},
		{"user info kept", "http://h:1", "http://u:p@a:9/b", "http://u:p@h:1/b"},
		{"IPv6 base", "http://[::1]:8081", "http://127.0.0.1:8080/x", "http://[::1]:8081/x"},
		{"not absolute: left to the transport", "http://h:1", "/relative", "/relative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := parseBase(tc.base)
			require.NoError(t, err)
			assert.Equal(t, tc.want, b.rewrite(tc.in), "base %q, request %q", tc.base, tc.in)
		})
	}
}

func TestWithBaseRefuses(t *testing.T) {
	s := parseSrc(t, "name: a\nsteps:\n  - {name: s, request: {url: \"http://127.0.0.1:1/\"}}\n", nil)
	for _, tc := range []struct{ name, base, want string }{
		{"not http", "ftp://h/", `base URL "ftp://h/": want an http:// or https:// URL`},
		{"no host", "http://", `base URL "http://": the URL has no host`},
		{"credentials", "http://u:secret@h/", `base URL "http://<redacted>@h/": credentials in a base URL are not sent; set an Authorization header in the scenario`},
		{"query", "http://h/?a=1", `base URL "http://h/?a=1": a base URL has no query; the scenario's requests keep their own`},
		{"fragment", "http://h/#x", `base URL "http://h/#x": a base URL has no fragment`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.WithBase(tc.base)
			assert.EqualError(t, err, tc.want)
		})
	}
}

// TestWithBaseSendsThere: a scenario written against one host, templated
// and static steps, reaches the base's server with the base's path in
// front, and the original scenario is left as it was.
func TestWithBaseSendsThere(t *testing.T) {
	var mu sync.Mutex
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Method+" "+r.URL.RequestURI())
		mu.Unlock()
		w.WriteHeader(200)
	}))
	defer srv.Close()
	s := parseSrc(t, `name: a
vars: {base: "http://127.0.0.1:1"}
steps:
  - {name: static, request: {url: "http://127.0.0.1:1/health"}}
  - {name: templated, request: {method: POST, url: "{{ .base }}/items/{{ iteration }}", query: {lang: en}}}
`, nil)
	b, err := s.WithBase(srv.URL + "/v2")
	require.NoError(t, err)
	assert.Equal(t, []string{"127.0.0.1"}, b.StaticHosts())

	res := NewRunner(b, client(t, b)).Run(context.Background(), Iteration{Number: 7}, nil)
	require.True(t, res.OK, "%v", res.Err)
	assert.Equal(t, []string{"GET /v2/health", "POST /v2/items/7?lang=en"}, got)

	res = NewRunner(s, client(t, s)).Run(context.Background(), Iteration{}, nil)
	assert.False(t, res.OK, "the original still goes to port 1")
}
