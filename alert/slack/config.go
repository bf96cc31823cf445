package slack

import (
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/canaryproj/canary/internal/yamlfile"
)

// Config is the daemon config's `alerting.slack` block as written. Both
// webhook_url and token empty: Slack is off.
type Config struct {
	WebhookURL string `yaml:"webhook_url"`
	Token      string `yaml:"token"`
	Channel    string `yaml:"channel"`
	// APIURL is the Web API's base URL in bot mode (a Slack-compatible
	// gateway); default Slack's own.
	APIURL string `yaml:"api_url"`
}

// Enabled reports whether c turns Slack on.
func (c *Config) Enabled() bool { return c != nil && (c.WebhookURL != "" || c.Token != "") }

// UnmarshalYAMLNode decodes the block and reports each problem at the key it
// is about, so that `canary validate` points at the line to fix. New checks
// again what can only be known with the values in hand (a URL that parses).
func (c *Config) UnmarshalYAMLNode(d *yamlfile.Decoder, n *yaml.Node) error {
	type plain Config // without the method, so that Decode fills the fields
	d.Decode(n, (*plain)(c))
	if c.WebhookURL != "" && c.Token != "" {
		d.Errorf(n, "slack: set webhook_url or token, not both")
	}
	if c.WebhookURL != "" && !strings.HasPrefix(c.WebhookURL, "https://") && !strings.HasPrefix(c.WebhookURL, "http://") {
		d.Errorf(yamlfile.Child(n, "webhook_url"), "slack webhook_url must be an http(s) URL")
	}
	if c.Token != "" && c.Channel == "" {
		d.Errorf(n, "slack: a bot token needs a channel")
	}
	return nil
}
