// Package metrics exports canary's measurements to Prometheus
// (docs/metrics.md).
// The metric and label names live here, in one place, because the exporter,
// the generated recording/alerting rules and the Grafana dashboard must agree
// on them exactly.
package metrics

// Metric names: the public contract of docs/metrics.md.
const (
	RequestsTotal            = "canary_requests_total"                               // counter: check, step, method, code, error
	RequestDuration          = "canary_request_duration_seconds"                     // histogram, corrected latency: check, step
	RequestService           = "canary_request_service_seconds"                      // histogram, service latency: check, step
	GeneratorLag             = "canary_generator_lag_seconds"                        // histogram: check
	IterationsTotal          = "canary_iterations_total"                             // counter: check, result
	IterationDuration        = "canary_iteration_duration_seconds"                   // histogram: check
	AssertionFailuresTotal   = "canary_assertion_failures_total"                     // counter: check, step, assertion
	Latency                  = "canary_latency_seconds"                              // gauge, exact HDR quantiles over the verdict window: check, step, quantile
	TargetRate               = "canary_target_rate"                                  // gauge: check
	AchievedRate             = "canary_achieved_rate"                                // gauge: check
	InflightIterations       = "canary_inflight_iterations"                          // gauge: check
	DroppedIterationsTotal   = "canary_dropped_iterations_total"                     // counter: check
	SLOObjective             = "canary_slo_objective"                                // gauge: check, slo
	SLOObserved              = "canary_slo_observed"                                 // gauge: check, slo
	SLOBurnRate              = "canary_slo_burn_rate"                                // gauge: check, slo, window
	Verdict                  = "canary_verdict"                                      // gauge: 1 pass, 0 fail, -1 inconclusive: check
	AlertsFiring             = "canary_alerts_firing"                                // gauge: check, slo
	ConfigLastReloadOK       = "canary_config_last_reload_successful"                // gauge
	ConfigLastReloadSuccessS = "canary_config_last_reload_success_timestamp_seconds" // gauge
	APIRequestsRejected      = "canary_api_requests_rejected_total"                  // counter: reason
	FlaggerWebhooks          = "canary_flagger_webhooks_total"                       // counter: hook, code
	TLSCertNotAfter          = "canary_tls_cert_not_after_timestamp_seconds"         // gauge: check, step, host
	TLSHostsDropped          = "canary_tls_hosts_dropped_total"                      // counter: check
)

// Label names.
const (
	LabelCheck     = "check"
	LabelStep      = "step"
	LabelMethod    = "method"
	LabelCode      = "code"
	LabelError     = "error"
	LabelResult    = "result" // success, failure, dropped
	LabelAssertion = "assertion"
	LabelQuantile  = "quantile"
	LabelSLO       = "slo"
	LabelWindow    = "window"
	LabelReason    = "reason"
	LabelHook      = "hook"
	LabelHost      = "host" // a host name a check's requests went to: bounded per check
)

// Iteration results (the result label of canary_iterations_total).
const (
	ResultSuccess = "success"
	ResultFailure = "failure"
	ResultDropped = "dropped"
)

// StepIteration is the step label value of the whole-iteration series in
// canary_latency_seconds (real steps use their scenario names, which cannot
// start with an underscore).
const StepIteration = "_iteration"
