package redact

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestSetString(t *testing.T) {
	s := &Set{}
	s.Add("hunter2-password")
	s.Add("abc") // too short to be a secret
	s.Add("hunter2")
	for _, tc := range []struct{ in, want string }{
		{"login with hunter2-password", "login with <redacted>"},
		{"hunter2 then hunter2-password", "<redacted> then <redacted>"},
		{"abc stays", "abc stays"},
		{"GET https://bob:pw@api.example.com/x failed", "GET https://<redacted>@api.example.com/x failed"},
		{"no url here @ all", "no url here @ all"},
		{"two http://a@h1/ and http://h2/?q=a@b", "two http://<redacted>@h1/ and http://h2/?q=a@b"},
	} {
		assert.Equal(t, tc.want, s.String(tc.in), "String(%q)", tc.in)
	}
}

func TestNilSet(t *testing.T) {
	var s *Set
	s.Add("whatever-secret")
	assert.Equal(t, 0, s.Len())
	assert.Equal(t, "https://<redacted>@h/", s.String("https://u:p@h/"))
}

func TestHeader(t *testing.T) {
	s := &Set{}
	s.Add("tok-12345")
	assert.Equal(t, Placeholder, s.Header("Authorization", "Bearer anything"))
	assert.Equal(t, Placeholder, s.Header("cookie", "a=b"))
	assert.Equal(t, "id <redacted>", s.Header("X-Id", "id tok-12345"))
	assert.Equal(t, "json", s.Header("Accept", "json"))
}

func TestWebhookURL(t *testing.T) {
	assert.Equal(t, "https://hooks.slack.com/<redacted>", WebhookURL("https://hooks.slack.com/services/T0/B0/XXXX"))
	assert.Equal(t, Placeholder, WebhookURL("::not a url"))
}

func TestConcurrentUse(t *testing.T) {
	s := &Set{}
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			s.Add("secret-value-" + string(rune('a'+i)))
			_ = s.String("secret-value-a")
		}(i)
	}
	wg.Wait()
	assert.Equal(t, "<redacted>", s.String("secret-value-a"))
	assert.Equal(t, 8, s.Len())
}
