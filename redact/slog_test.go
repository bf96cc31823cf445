package redact

import (
	"bytes"
	"errors"
	"log/slog"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestHandlerRedactsMessagesAndAttributes(t *testing.T) {
	var buf bytes.Buffer
	s := &Set{}
	s.Add("xoxb-secret-token")
	log := slog.New(NewHandler(slog.NewTextHandler(&buf, nil), s)).With("token", "xoxb-secret-token")
	u, _ := url.Parse("https://user:pw@example.com/x")
	log.Info("posting with xoxb-secret-token",
		"err", errors.New("auth xoxb-secret-token rejected"),
		"url", u,
		slog.Group("g", "inner", "xoxb-secret-token"),
		"n", 3)
	out := buf.String()
	assert.NotContains(t, out, "xoxb-secret-token")
	assert.NotContains(t, out, "user:pw")
	assert.Contains(t, out, "posting with <redacted>")
	assert.Contains(t, out, "n=3")
	assert.Contains(t, out, "g.inner=<redacted>")
}
