package daemon

// flaggerPayload is the body of every Flagger webhook call, with Flagger's
// field names (CanaryWebhookPayload in fluxcd/flagger
// pkg/apis/flagger/v1beta1/canary.go).
type flaggerPayload struct {
	Name      string            `json:"name"`
	Namespace string            `json:"namespace"`
	Phase     string            `json:"phase"`
	Checksum  string            `json:"checksum"`
	Metadata  map[string]string `json:"metadata"`
}
