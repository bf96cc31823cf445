package daemon

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/canaryproj/canary/slo"
)

// Flagger's webhook types, as its Canary resource names them
// (HookType in fluxcd/flagger pkg/apis/flagger/v1beta1/canary.go).
const (
	hookConfirmRollout         = "confirm-rollout"
	hookPreRollout             = "pre-rollout"
	hookRollout                = "rollout"
	hookConfirmTrafficIncrease = "confirm-traffic-increase"
	hookConfirmPromotion       = "confirm-promotion"
	hookPostRollout            = "post-rollout"
	hookRollback               = "rollback"
	hookEvent                  = "event"
)

var flaggerHooks = []string{hookConfirmRollout, hookPreRollout, hookRollout, hookConfirmTrafficIncrease,
	hookConfirmPromotion, hookPostRollout, hookRollback, hookEvent}

// flaggerPayload is the body of every Flagger webhook call, with Flagger's
// field names (CanaryWebhookPayload in fluxcd/flagger
// pkg/apis/flagger/v1beta1/canary.go). Flagger cannot send headers, so the
// token comes in the metadata the Canary resource gives the webhook.
type flaggerPayload struct {
	Name      string            `json:"name"`
	Namespace string            `json:"namespace"`
	Phase     string            `json:"phase"`
	Checksum  string            `json:"checksum"`
	Metadata  map[string]string `json:"metadata"`
}

// flaggerAnswer is the body of the answers. Flagger shows the body of a
// failed call (any status over 202) in its log and events, so it says why
// in a few fields.
type flaggerAnswer struct {
	Check    string   `json:"check"`
	Hook     string   `json:"hook"`
	Result   string   `json:"result"`
	Run      string   `json:"run,omitempty"`
	Location string   `json:"location,omitempty"`
	Verdict  string   `json:"verdict,omitempty"`
	Reasons  []string `json:"reasons,omitempty"`
	Message  string   `json:"message,omitempty"`
}

// maxEventText bounds what is logged of a Flagger event's message.
const maxEventText = 512

// handleFlagger answers POST /api/v1/flagger/{check}/{hook}: Flagger's
// webhooks, unchanged. Flagger counts any status up to 202 as success and
// anything above as failure (callWebhook in pkg/controller/webhook.go), so
// "yes" is 200 or 202 and never 204.
func (d *Daemon) handleFlagger(w http.ResponseWriter, r *http.Request) {
	hook := r.PathValue("hook")
	known := false
	for _, h := range flaggerHooks {
		known = known || h == hook
	}
	if !known {
		d.fail(w, http.StatusNotFound, "no Flagger hook type %q; want one of %s", hook, strings.Join(flaggerHooks, ", "))
		return
	}
	var fp flaggerPayload
	empty, err := decodeLenient(r.Body, &fp)
	if err == nil && empty {
		err = fmt.Errorf("body: want Flagger's webhook payload, got nothing")
	}
	if err != nil {
		d.answerFlagger(w, hook, http.StatusBadRequest, flaggerAnswer{Message: err.Error()})
		return
	}
	// The token is checked, then dropped: nothing below may log, store or
	// echo it.
	tok, ok := fp.Metadata["token"]
	delete(fp.Metadata, "token")
	if !ok {
		tok, ok = bearerToken(r)
	}
	if d.authDisabled(w, scopeRuns) {
		return
	}
	if !ok || !d.tokenAllows(tok, scopeRuns) {
		d.answerFlagger(w, hook, http.StatusUnauthorized, flaggerAnswer{
			Message: "missing or wrong token: give the webhook metadata.token (server.run_token, or server.auth_token)"})
		return
	}
	check := r.PathValue("check")
	ck := d.runner(check)
	if ck == nil {
		d.answerFlagger(w, hook, http.StatusNotFound, flaggerAnswer{Message: fmt.Sprintf("no check %q", check)})
		return
	}
	a := flaggerAnswer{Check: check, Hook: hook}
	switch hook {
	case hookPostRollout, hookEvent:
		d.log.Info("flagger webhook", "hook", hook, "check", check, "canary", fp.Namespace+"/"+fp.Name, "phase", fp.Phase,
			"checksum", fp.Checksum, "event_type", fp.Metadata["eventType"], "event", truncate(fp.Metadata["eventMessage"], maxEventText))
		a.Result = "recorded"
		d.answerFlagger(w, hook, http.StatusOK, a)
		return
	}
	if fp.Checksum == "" && (hook == hookPreRollout || hook == hookRollout) {
		d.answerFlagger(w, hook, http.StatusBadRequest, flaggerAnswer{Check: check, Hook: hook,
			Message: "the payload has no checksum (Flagger sends one since v1.34): it tells a canary's revisions apart"})
		return
	}
	key := flaggerKey(check, fp)
	switch hook {
	case hookPreRollout, hookRollout:
		d.flaggerRun(w, r, a, fp, key)
	case hookRollback:
		d.flaggerRollback(w, r, a, ck, fp, key)
	default: // the confirm-* hooks
		d.flaggerConfirm(w, r, a, ck, fp, key)
	}
}

// flaggerKey names the on-demand run of a canary revision for a check:
// Flagger's checksum changes with the revision, so a new revision gets a
// new run and the rollout hook, called every interval, joins it.
func flaggerKey(check string, fp flaggerPayload) string {
	if fp.Checksum == "" {
		return ""
	}
	return "flagger/" + check + "/" + fp.Namespace + "/" + fp.Name + "/" + fp.Checksum
}

// flaggerRun starts or joins the revision's run: 202 while it runs, 200 once
// it passed, 412 once it failed (so Flagger counts failed checks and rolls
// back at its threshold), 503 when it was inconclusive.
func (d *Daemon) flaggerRun(w http.ResponseWriter, r *http.Request, a flaggerAnswer, fp flaggerPayload, key string) {
	req := runRequest{Check: a.Check, Duration: fp.Metadata["duration"], Key: key}
	if p := strings.TrimSpace(fp.Metadata["profile"]); p != "" {
		if strings.HasPrefix(p, "{") {
			req.Profile = json.RawMessage(p)
		} else {
			req.Profile, _ = json.Marshal(p)
		}
	}
	doc, refused := d.startOrJoin(req, "")
	if refused != nil {
		if refused.retryAfter != "" {
			w.Header().Set("Retry-After", refused.retryAfter)
		}
		a.Result, a.Message = "refused", refused.msg
		d.answerFlagger(w, a.Hook, refused.status, a)
		return
	}
	a.Run, a.Location = doc.ID, d.absURL(r, doc.Location)
	w.Header().Set("Location", a.Location)
	d.answerRun(w, a, doc)
}

// answerRun answers with a run's status.
func (d *Daemon) answerRun(w http.ResponseWriter, a flaggerAnswer, doc runDoc) {
	a.Result, a.Verdict, a.Reasons = doc.Status, doc.Verdict, doc.Reasons
	switch doc.Status {
	case RunRunning:
		d.answerFlagger(w, a.Hook, http.StatusAccepted, a)
	case RunPassed:
		d.answerFlagger(w, a.Hook, http.StatusOK, a)
	case RunFailed:
		d.answerFlagger(w, a.Hook, http.StatusPreconditionFailed, a)
	default:
		if doc.Error != "" {
			a.Reasons = append(a.Reasons, doc.Error)
		}
		d.answerFlagger(w, a.Hook, http.StatusServiceUnavailable, a)
	}
}

// flaggerRollback answers 200 — roll back now — when the revision's run
// failed or the check's verdict is fail, and 409 otherwise.
func (d *Daemon) flaggerRollback(w http.ResponseWriter, r *http.Request, a flaggerAnswer, ck *checkRunner, fp flaggerPayload, key string) {
	if doc, ok := d.runByKey(key); ok {
		a.Run, a.Location = doc.ID, d.absURL(r, doc.Location)
		if doc.Status == RunFailed {
			a.Result, a.Verdict, a.Reasons = "rollback", doc.Verdict, doc.Reasons
			d.answerFlagger(w, a.Hook, http.StatusOK, a)
			return
		}
	}
	v, ok := d.flaggerVerdict(w, a, ck, r, fp)
	if !ok {
		return
	}
	a.Verdict, a.Reasons = string(v.Verdict), v.Reasons
	if v.Verdict == slo.Fail {
		a.Result = "rollback"
		d.answerFlagger(w, a.Hook, http.StatusOK, a)
		return
	}
	a.Result = "no rollback"
	a.Message = "neither the revision's run nor the check's verdict failed"
	d.answerFlagger(w, a.Hook, http.StatusConflict, a)
}

// flaggerConfirm answers 200 only on pass: the revision's run when there is
// one, else the check's verdict. Flagger holds (it does not roll back)
// while a confirm hook answers anything else.
func (d *Daemon) flaggerConfirm(w http.ResponseWriter, r *http.Request, a flaggerAnswer, ck *checkRunner, fp flaggerPayload, key string) {
	if doc, ok := d.runByKey(key); ok {
		a.Run, a.Location = doc.ID, d.absURL(r, doc.Location)
		if doc.Status == RunRunning {
			// Not 202: that would be a yes to Flagger.
			a.Result = RunRunning
			w.Header().Set("Retry-After", "10")
			d.answerFlagger(w, a.Hook, http.StatusServiceUnavailable, a)
			return
		}
		d.answerRun(w, a, doc)
		return
	}
	v, ok := d.flaggerVerdict(w, a, ck, r, fp)
	if !ok {
		return
	}
	a.Result, a.Verdict, a.Reasons = string(v.Verdict), string(v.Verdict), v.Reasons
	switch v.Verdict {
	case slo.Pass:
		d.answerFlagger(w, a.Hook, http.StatusOK, a)
	case slo.Fail:
		d.answerFlagger(w, a.Hook, http.StatusPreconditionFailed, a)
	default:
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(d.config().Policy.EvaluateEvery.Seconds()))))
		d.answerFlagger(w, a.Hook, http.StatusServiceUnavailable, a)
	}
}

// flaggerVerdict judges the check with the parameters of the webhook's
// metadata (window, since, min_samples).
func (d *Daemon) flaggerVerdict(w http.ResponseWriter, a flaggerAnswer, ck *checkRunner, r *http.Request, fp flaggerPayload) (verdictDoc, bool) {
	p, err := d.parseParams(r, ck, fp.Metadata)
	if err != nil {
		a.Message = err.Error()
		d.answerFlagger(w, a.Hook, http.StatusBadRequest, a)
		return verdictDoc{}, false
	}
	return d.judge(ck, d.clk.Now(), p.window, p.since, p.minSamples), true
}

func (d *Daemon) answerFlagger(w http.ResponseWriter, hook string, status int, a flaggerAnswer) {
	d.api.flagger.WithLabelValues(hook, strconv.Itoa(status)).Inc()
	a.Message = d.secrets.String(a.Message)
	writeJSON(w, status, a)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}
