package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canaryproj/canary/stats"
)

// redirector answers /from with status and Location to, and records every
// request.
func redirector(status int, to string) (*recorder, http.Handler) {
	rec := &recorder{}
	mux := http.NewServeMux()
	mux.HandleFunc("/dir/from", func(w http.ResponseWriter, r *http.Request) {
		rec.ServeHTTP(httptest.NewRecorder(), r)
		w.Header().Set("Location", to)
		w.WriteHeader(status)
		_, _ = io.WriteString(w, "moved")
	})
	mux.Handle("/", rec)
	return rec, mux
}

func TestRedirectMethods(t *testing.T) {
	pki := newPKI(t)
	tests := []struct {
		status     int
		method     string
		wantMethod string
		wantBody   bool
	}{
		{301, "POST", "GET", false},
		{302, "POST", "GET", false},
		{303, "POST", "GET", false},
		{303, "PUT", "GET", false},
		{302, "HEAD", "HEAD", false},
		{307, "POST", "POST", true},
		{308, "POST", "POST", true},
		{307, "PUT", "PUT", true},
		{308, "DELETE", "DELETE", false},
	}
	for _, scheme := range schemes {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/%d %s", scheme, tt.status, tt.method), func(t *testing.T) {
				rec, h := redirector(tt.status, "../to?x=1")
				srv := httpServer(t, scheme, pki, h)
				c := clientFor(t, pki, Options{})
				req := &Request{Method: tt.method, URL: srv.URL + "/dir/from", FollowRedirects: true,
					Header: []Header{{"Content-Type", "text/plain"}, {"X-Keep", "k"}}}
				if tt.method != "HEAD" && tt.method != "DELETE" {
					req.Body = []byte("payload")
				}
				var resp Response
				require.NoError(t, c.Do(context.Background(), req, &resp))
				assert.Equal(t, 200, resp.Status)
				assert.Equal(t, 1, resp.Redirects)
				assert.Equal(t, srv.URL+"/to?x=1", resp.URL, "relative Location resolved against the request URL")

				got := rec.all()
				require.Len(t, got, 2, "the first request and the redirected one")
				first, second := got[0], got[1]
				assert.Equal(t, tt.method, first.Method)
				assert.Equal(t, string(req.Body), first.Body)
				assert.Equal(t, tt.wantMethod, second.Method, "method after %d", tt.status)
				assert.Equal(t, "/to?x=1", second.Path)
				assert.Equal(t, "k", second.Header.Get("X-Keep"), "headers follow the redirect")
				if tt.wantBody {
					assert.Equal(t, "payload", second.Body, "body after %d", tt.status)
					assert.Equal(t, "text/plain", second.Header.Get("Content-Type"))
				} else {
					assert.Empty(t, second.Body, "body after %d", tt.status)
					if req.Body != nil {
						assert.Empty(t, second.Header.Get("Content-Type"), "Content-Type of a dropped body")
					}
				}
			})
		}
	}
}

func TestRedirectNotFollowed(t *testing.T) {
	pki := newPKI(t)
	for _, scheme := range schemes {
		t.Run(scheme, func(t *testing.T) {
			rec, h := redirector(302, "/to")
			srv := httpServer(t, scheme, pki, h)
			c := clientFor(t, pki, Options{})
			var resp Response
			require.NoError(t, c.Do(context.Background(), &Request{URL: srv.URL + "/dir/from", NeedHeaders: true}, &resp))
			assert.Equal(t, 302, resp.Status)
			assert.Equal(t, "/to", resp.Get("Location"))
			assert.Equal(t, "moved", string(resp.Body))
			assert.Equal(t, 0, resp.Redirects)
			assert.Len(t, rec.all(), 1)
		})
	}
}

func TestRedirectLoop(t *testing.T) {
	pki := newPKI(t)
	for _, scheme := range schemes {
		t.Run(scheme, func(t *testing.T) {
			var hits atomic.Int64
			srv := httpServer(t, scheme, pki, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				http.Redirect(w, r, "/loop", http.StatusFound)
			}))
			c := clientFor(t, pki, Options{})
			var resp Response
			err := c.Do(context.Background(), &Request{URL: srv.URL + "/loop", FollowRedirects: true}, &resp)
			require.Error(t, err)
			assert.Equal(t, stats.ClassOther, Classify(err))
			assert.Contains(t, err.Error(), "stopped after 10 redirects")
			assert.Equal(t, int64(11), hits.Load(), "the first request and 10 redirects")

			c3 := clientFor(t, pki, Options{MaxRedirects: 3})
			err = c3.Do(context.Background(), &Request{URL: srv.URL + "/loop", FollowRedirects: true}, &resp)
			assert.Contains(t, errorText(err), "stopped after 3 redirects")
		})
	}
}

func TestAllow(t *testing.T) {
	pki := newPKI(t)
	refuse := errors.New("not in allowed_hosts")
	for _, scheme := range schemes {
		t.Run(scheme, func(t *testing.T) {
			// 127.0.0.1 is allowed, localhost (the same server) is not.
			var srvURL string
			rec := &recorder{}
			srv := httpServer(t, scheme, pki, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/away" {
					http.Redirect(w, r, strings.Replace(srvURL, "127.0.0.1", "localhost", 1)+"/there", http.StatusFound)
					return
				}
				rec.ServeHTTP(w, r)
			}))
			srvURL = srv.URL
			var asked []string
			c := clientFor(t, pki, Options{Allow: func(host string) error {
				asked = append(asked, host)
				if host == "127.0.0.1" {
					return nil
				}
				return refuse
			}})
			var resp Response

			err := c.Do(context.Background(), &Request{URL: srv.URL + "/away", FollowRedirects: true}, &resp)
			require.Error(t, err)
			assert.Equal(t, stats.ClassHostNotAllowed, Classify(err), "class of %q", err)
			assert.ErrorIs(t, err, refuse)
			assert.Contains(t, err.Error(), ": host_not_allowed: host localhost refused: not in allowed_hosts")
			assert.Equal(t, []string{"127.0.0.1", "localhost"}, asked, "asked before the request and before the redirect")
			assert.Empty(t, rec.all(), "the refused hop was not sent")

			err = c.Do(context.Background(), &Request{URL: strings.Replace(srv.URL, "127.0.0.1", "LocalHost", 1) + "/direct"}, &resp)
			assert.ErrorIs(t, err, refuse, "the first request is checked too, by lower-case name")
			assert.Equal(t, stats.ClassHostNotAllowed, Classify(err), "class of %q", err)
			assert.Contains(t, errorText(err), "host localhost refused")
			assert.Empty(t, rec.all())
		})
	}
}

// TestRedirectCredentials checks that credentials and a Host override do
// not follow a redirect to another host, and do follow one on the same.
func TestRedirectCredentials(t *testing.T) {
	pki := newPKI(t)
	for _, scheme := range schemes {
		t.Run(scheme, func(t *testing.T) {
			rec := &recorder{}
			var srvURL string
			srv := httpServer(t, scheme, pki, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch r.URL.Path {
				case "/same":
					http.Redirect(w, r, "/landed", http.StatusFound)
				case "/other":
					http.Redirect(w, r, strings.Replace(srvURL, "127.0.0.1", "localhost", 1)+"/landed", http.StatusFound)
				default:
					rec.ServeHTTP(w, r)
				}
			}))
			srvURL = srv.URL
			c := clientFor(t, pki, Options{})
			hdr := []Header{{"Authorization", "Bearer t"}, {"Cookie", "a=b"}, {"Host", "vhost.test"}, {"X-Other", "o"}}
			var resp Response

			require.NoError(t, c.Do(context.Background(), &Request{URL: srv.URL + "/same", Header: hdr, FollowRedirects: true}, &resp))
			require.NoError(t, c.Do(context.Background(), &Request{URL: srv.URL + "/other", Header: hdr, FollowRedirects: true}, &resp))
			got := rec.all()
			require.Len(t, got, 2)

			same, other := got[0], got[1]
			assert.Equal(t, "Bearer t", same.Header.Get("Authorization"))
			assert.Equal(t, "a=b", same.Header.Get("Cookie"))
			assert.Equal(t, "vhost.test", same.Host, "Host override kept for a relative Location")

			assert.Empty(t, other.Header.Get("Authorization"), "Authorization sent to another host")
			assert.Empty(t, other.Header.Get("Cookie"), "Cookie sent to another host")
			assert.Equal(t, "o", other.Header.Get("X-Other"))
			assert.Equal(t, strings.Replace(hostPort(srv.URL), "127.0.0.1", "localhost", 1), other.Host)
		})
	}
}

// TestRedirectAcrossSchemes follows a redirect from http:// to https://,
// from one path to the other.
func TestRedirectAcrossSchemes(t *testing.T) {
	pki := newPKI(t)
	secure := httpServer(t, "https", pki, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "secure")
	}))
	plain := httpServer(t, "http", nil, http.RedirectHandler(secure.URL+"/s", http.StatusMovedPermanently))
	c := clientFor(t, pki, Options{})
	var resp Response
	require.NoError(t, c.Do(context.Background(), &Request{URL: plain.URL, FollowRedirects: true}, &resp))
	assert.Equal(t, "secure", string(resp.Body))
	assert.Equal(t, secure.URL+"/s", resp.URL)
	assert.Equal(t, 1, resp.Redirects)
}

func TestRedirectBadLocation(t *testing.T) {
	for _, loc := range []string{"ftp://127.0.0.1/x", "http://[::1", "http:///nohost"} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Location", loc)
			w.WriteHeader(http.StatusFound)
		}))
		c := newClient(t, Options{})
		var resp Response
		err := c.Do(context.Background(), &Request{URL: srv.URL, FollowRedirects: true}, &resp)
		assert.Equal(t, stats.ClassOther, Classify(err), "redirect to %q: %v", loc, err)
		assert.Contains(t, errorText(err), "redirect to", "redirect to %q", loc)
		srv.Close()
	}
}
