package alertmanager

import (
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/canaryproj/canary/internal/yamlfile"
)

// Config is the daemon config's `alerting.alertmanager` block as written.
// An empty url: Alertmanager is off.
type Config struct {
	URL string `yaml:"url"`
}

// Enabled reports whether c turns Alertmanager on.
func (c *Config) Enabled() bool { return c != nil && c.URL != "" }

// UnmarshalYAMLNode decodes the block and reports a bad url at its key.
func (c *Config) UnmarshalYAMLNode(d *yamlfile.Decoder, n *yaml.Node) error {
	type plain Config // without the method, so that Decode fills the fields
	d.Decode(n, (*plain)(c))
	if c.URL != "" && !strings.HasPrefix(c.URL, "http") {
		d.Errorf(yamlfile.Child(n, "url"), "alertmanager url must be an http(s) URL")
	}
	return nil
}
