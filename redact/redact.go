// Package redact keeps secrets out of everything canary prints: logs, metrics,
// summaries, reports, the status page and Slack messages.
//
// A Set holds the secret values known at run time (values that came from
// ${VAR} environment expansion, tokens from configuration) and replaces every
// occurrence of them. Header and URL handle the secrets that have a shape
// rather than a known value: Authorization and Cookie headers, URL user-info.
package redact

import (
	"net/url"
	"sort"
	"strings"
	"sync"
)

// Placeholder replaces every secret.
const Placeholder = "<redacted>"

// MinLen is the shortest value a Set treats as a secret. Shorter values
// ("1", "on", "dev") would mangle every line they happen to occur in while
// protecting nothing: no real credential is that short.
const MinLen = 4

// Set is a concurrency-safe set of secret values. The zero value is empty and
// ready to use; a nil *Set redacts nothing but URL user-info.
type Set struct {
	mu       sync.RWMutex
	values   map[string]struct{}
	replacer *strings.Replacer // rebuilt lazily after Add
}

// Add records v as a secret. Values shorter than MinLen are ignored.
func (s *Set) Add(v string) {
	if s == nil || len(v) < MinLen {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.values[v]; ok {
		return
	}
	if s.values == nil {
		s.values = make(map[string]struct{})
	}
	s.values[v] = struct{}{}
	s.replacer = nil
}

// Merge adds every secret of o to s.
func (s *Set) Merge(o *Set) {
	if s == nil || o == nil || s == o {
		return
	}
	for _, v := range o.Values() {
		s.Add(v)
	}
}

// Values returns the secrets, longest first (the order replacement uses).
func (s *Set) Values() []string {
	if s == nil {
		return nil
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]string, 0, len(s.values))
	for v := range s.values {
		out = append(out, v)
	}
	// Longest first, so that a secret containing another is replaced whole.
	sort.Slice(out, func(i, j int) bool {
		if len(out[i]) != len(out[j]) {
			return len(out[i]) > len(out[j])
		}
		return out[i] < out[j]
	})
	return out
}

// Len reports how many secrets the set holds.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.values)
}

// String returns in with every known secret and every URL user-info replaced.
func (s *Set) String(in string) string {
	out := UserInfo(in)
	if s == nil {
		return out
	}
	s.mu.RLock()
	r := s.replacer
	n := len(s.values)
	s.mu.RUnlock()
	if n == 0 {
		return out
	}
	if r == nil {
		vals := s.Values()
		pairs := make([]string, 0, 2*len(vals))
		for _, v := range vals {
			pairs = append(pairs, v, Placeholder)
		}
		r = strings.NewReplacer(pairs...)
		s.mu.Lock()
		s.replacer = r
		s.mu.Unlock()
	}
	return r.Replace(out)
}

// sensitiveHeaders are redacted whatever their value.
var sensitiveHeaders = map[string]bool{
	"authorization":       true,
	"proxy-authorization": true,
	"cookie":              true,
	"set-cookie":          true,
	"x-api-key":           true,
	"x-auth-token":        true,
}

// IsSensitiveHeader reports whether a header's value is a credential by its
// name alone (Authorization, Cookie, …).
func IsSensitiveHeader(name string) bool {
	return sensitiveHeaders[strings.ToLower(name)]
}

// Header returns the printable form of a header value: the placeholder for
// credential headers, the value with known secrets replaced otherwise.
func (s *Set) Header(name, value string) string {
	if IsSensitiveHeader(name) {
		return Placeholder
	}
	return s.String(value)
}

// UserInfo replaces the user-info of every URL in text ("https://u:p@h/")
// with the placeholder. It looks for "://" followed by a user-info part
// before the host; text without one is returned unchanged.
func UserInfo(text string) string {
	if !strings.Contains(text, "@") || !strings.Contains(text, "://") {
		return text
	}
	var b strings.Builder
	rest := text
	for {
		i := strings.Index(rest, "://")
		if i < 0 {
			b.WriteString(rest)
			return b.String()
		}
		b.WriteString(rest[:i+3])
		rest = rest[i+3:]
		// The authority ends at the first '/', '?', '#' or white space.
		end := strings.IndexAny(rest, "/?# \t\n\"'")
		if end < 0 {
			end = len(rest)
		}
		auth := rest[:end]
		if at := strings.LastIndex(auth, "@"); at >= 0 {
			b.WriteString(Placeholder)
			b.WriteString(auth[at:])
		} else {
			b.WriteString(auth)
		}
		rest = rest[end:]
	}
}

// URL returns u with its user-info and known secrets redacted. A webhook's
// secret lives in its path, so callers that print webhook URLs use
// WebhookURL instead.
func (s *Set) URL(u string) string { return s.String(u) }

// WebhookURL returns only the scheme and host of a webhook URL: for Slack
// incoming webhooks and the like the whole path is the credential.
func WebhookURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return Placeholder
	}
	return u.Scheme + "://" + u.Host + "/" + Placeholder
}
