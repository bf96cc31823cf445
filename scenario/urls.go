package scenario

import (
	"net"
	"net/url"
	"path"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

// SchemelessURL reports whether s looks like an http URL written without
// its scheme — "127.0.0.1:8080/health", "localhost:8080", "api.example.com/x"
// — and returns it with "http://" in front. A name that ends like one of
// canary's files (smoke.yaml) is not taken for a host.
func SchemelessURL(s string) (withScheme string, ok bool) {
	if s == "" || strings.Contains(s, "://") || strings.ContainsAny(s, " \t\\") {
		return "", false
	}
	u, err := url.Parse("http://" + s)
	if err != nil || u.Host == "" || u.User != nil {
		return "", false
	}
	host := u.Hostname()
	switch {
	case host == "localhost" || net.ParseIP(host) != nil:
	case u.Port() != "":
	case strings.Contains(host, ".") && !fileLike(host) && !fileLike(s):
	default:
		return "", false
	}
	return "http://" + s, true
}

// fileLike reports whether a name ends with the extension of a file canary
// reads.
func fileLike(s string) bool {
	switch strings.ToLower(path.Ext(s)) {
	case ".yaml", ".yml", ".json", ".csv", ".txt", ".env", ".pem":
		return true
	}
	return false
}

// envName finds the first ${VAR} of a value as written.
var envName = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)`)

// leadingVar matches a URL template that starts with a var: "{{ .base }}/x".
var leadingVar = regexp.MustCompile(`^\{\{-?\s*\.([A-Za-z_][A-Za-z0-9_]*)\s*-?\}\}`)

// badURL reports a URL known at load time that checkURL refused: rendered
// from text, the url's template at n. A URL without a scheme is told as
// such, with the scheme to add, at the var it comes from when it starts
// with one ("base: 127.0.0.1:8080" for "{{ .base }}/health").
func (c *compiler) badURL(n *yaml.Node, text, rendered string, err error) {
	redacted := c.s.Secrets.String
	if m := leadingVar.FindStringSubmatch(text); m != nil {
		name := m[1]
		if v, ok := c.static[name]; ok {
			if fixed, ok := SchemelessURL(v); ok {
				if _, flag := c.opts.Vars[name]; flag {
					c.d.Errorf(n, "url %q: --var %s=%s has no scheme: give --var %s=%s", redacted(rendered), name, redacted(v), name, redacted(fixed))
					return
				}
				if vn := c.varNodes[name]; vn != nil {
					from := ""
					if redacted(v) != v { // a secret: say where it comes from
						from = ", from the environment,"
						if m := envName.FindStringSubmatch(vn.Value); m != nil {
							from = ", from $" + m[1] + ","
						}
					}
					c.d.Errorf(vn, "var %s %q%s starts a url but has no scheme: write %q", name, redacted(v), from, redacted(fixed))
					return
				}
			}
		}
	}
	if fixed, ok := SchemelessURL(rendered); ok {
		c.d.Errorf(n, "url %q has no scheme: write %q", redacted(rendered), redacted(fixed))
		return
	}
	c.d.Errorf(n, "url %q: %v", redacted(rendered), err)
}

// noteVar remembers where var name's value is written.
func (c *compiler) noteVar(name string, n *yaml.Node) {
	if c.varNodes == nil {
		c.varNodes = map[string]*yaml.Node{}
	}
	c.varNodes[name] = n
}
