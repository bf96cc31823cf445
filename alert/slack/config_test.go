package slack

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canaryproj/canary/internal/yamlfile"
)

func TestConfigDecode(t *testing.T) {
	for _, tc := range []struct {
		name    string
		yaml    string
		want    Config
		enabled bool
		errs    []string
	}{
		{name: "off", yaml: "channel: '#a'", want: Config{Channel: "#a"}},
		{name: "webhook", yaml: "webhook_url: https://hooks.slack.com/services/T/B/x",
			want: Config{WebhookURL: "https://hooks.slack.com/services/T/B/x"}, enabled: true},
		{name: "bot", yaml: "{token: xoxb-1, channel: '#a', api_url: 'http://127.0.0.1:1/'}",
			want: Config{Token: "xoxb-1", Channel: "#a", APIURL: "http://127.0.0.1:1/"}, enabled: true},
		{name: "both", yaml: "{webhook_url: 'https://h/x', token: t, channel: c}", enabled: true,
			errs: []string{"s.yaml:1:1: slack: set webhook_url or token, not both"}},
		{name: "webhook not a URL", yaml: "webhook_url: hooks.slack.com/x", enabled: true,
			errs: []string{"s.yaml:1:14: slack webhook_url must be an http(s) URL"}},
		{name: "bot without channel", yaml: "token: xoxb-1", enabled: true,
			errs: []string{"s.yaml:1:1: slack: a bot token needs a channel"}},
		{name: "unknown key", yaml: "webhook: x",
			errs: []string{`s.yaml:1:1: unknown key "webhook"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := yamlfile.Parse("s.yaml", []byte(tc.yaml))
			require.NoError(t, err)
			d := yamlfile.NewDecoder("s.yaml", yamlfile.Options{})
			var c Config
			d.Decode(n, &c)
			assert.Equal(t, tc.enabled, c.Enabled())
			if tc.errs == nil {
				require.NoError(t, d.Err())
				assert.Equal(t, tc.want, c)
				return
			}
			require.Error(t, d.Err())
			for i, line := range strings.Split(d.Err().Error(), "\n") {
				require.Less(t, i, len(tc.errs), "extra error %q", line)
				assert.True(t, strings.HasPrefix(line, tc.errs[i]), "error %d: %q, want %q…", i, line, tc.errs[i])
			}
		})
	}
	var none *Config
	assert.False(t, none.Enabled(), "an absent block is off")
}
