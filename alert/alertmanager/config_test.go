package alertmanager

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canaryproj/canary/internal/yamlfile"
)

func TestConfigDecode(t *testing.T) {
	for _, tc := range []struct {
		name    string
		yaml    string
		enabled bool
		err     string
	}{
		{name: "off", yaml: "url: ''"},
		{name: "on", yaml: "url: http://127.0.0.1:9093", enabled: true},
		{name: "no scheme", yaml: "url: alertmanager:9093", enabled: true,
			err: "a.yaml:1:6: alertmanager url must be an http(s) URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := yamlfile.Parse("a.yaml", []byte(tc.yaml))
			require.NoError(t, err)
			d := yamlfile.NewDecoder("a.yaml", yamlfile.Options{})
			var c Config
			d.Decode(n, &c)
			assert.Equal(t, tc.enabled, c.Enabled())
			if tc.err == "" {
				assert.NoError(t, d.Err())
			} else {
				assert.EqualError(t, d.Err(), tc.err)
			}
		})
	}
	var none *Config
	assert.False(t, none.Enabled())
}
