package scenario

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/canaryproj/canary/redact"
)

// base is where a comparison sends a scenario's requests instead of where
// the scenario says: every rendered request URL keeps its user info, path,
// query and fragment, and takes the base's scheme and host (with port), its
// path prefixed by the base's path.
type base struct {
	scheme, host, path string
}

// WithBase returns a copy of s whose requests all go to rawBase instead
// (docs/compare.md, "Which requests go where"): for a base
// http://10.0.0.7:8081/v2, a step's http://127.0.0.1:8080/login?x=1 is sent
// to http://10.0.0.7:8081/v2/login?x=1. This lets one scenario drive two
// deployments of a service that differ only in where they listen. The base
// is an http:// or https:// URL with a host, and may have a path, but no
// user info, query or fragment: credentials belong in the scenario's
// headers, where they are redacted. Redirects are followed where the target
// sends them.
func (s *Scenario) WithBase(rawBase string) (*Scenario, error) {
	b, err := parseBase(rawBase)
	if err != nil {
		return nil, fmt.Errorf("base URL %q: %w", redact.UserInfo(rawBase), err)
	}
	c := *s
	c.base = b
	return &c, nil
}

func parseBase(raw string) (*base, error) {
	if err := checkURL(raw); err != nil {
		return nil, err
	}
	u, _ := url.Parse(raw) // checkURL parsed it
	switch {
	case u.User != nil:
		return nil, fmt.Errorf("credentials in a base URL are not sent; set an Authorization header in the scenario")
	case u.RawQuery != "" || u.ForceQuery:
		return nil, fmt.Errorf("a base URL has no query; the scenario's requests keep their own")
	case u.Fragment != "":
		return nil, fmt.Errorf("a base URL has no fragment")
	}
	return &base{scheme: u.Scheme, host: u.Host, path: strings.TrimSuffix(u.EscapedPath(), "/")}, nil
}

// rewrite sends a rendered request URL to the base. A URL without a scheme
// is left alone: the transport reports it like any malformed URL.
func (b *base) rewrite(u string) string {
	i := strings.Index(u, "://")
	if i < 0 {
		return u
	}
	rest := u[i+3:]
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	authority, tail := rest[:end], rest[end:]
	user := ""
	if at := strings.LastIndexByte(authority, '@'); at >= 0 {
		user = authority[:at+1]
	}
	return b.scheme + "://" + user + b.host + b.path + tail
}
