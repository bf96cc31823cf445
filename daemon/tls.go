package daemon

import (
	"crypto/x509"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/canaryproj/canary/alert"
	"github.com/canaryproj/canary/metrics"
	"github.com/canaryproj/canary/redact"
	"github.com/canaryproj/canary/scenario"
	"github.com/canaryproj/canary/slo"
	"github.com/canaryproj/canary/web"
)

// The certificates a check's steps are served: their expiry as a metric
// (canary_tls_cert_not_after_timestamp_seconds), on the status page with
// the chain's first expiry and issuer, and for tls_expiry objectives.

// Bounds on what a check keeps of its certificates. The host is a label,
// so the pairs are bounded; one a step meets past the bound is counted in
// canary_tls_hosts_dropped_total, not kept.
const (
	maxTLSHosts  = 32  // (step, host) pairs per check
	maxChain     = 5   // certificates kept of a chain, leaf first
	maxNameBytes = 200 // of a subject or issuer
	maxHostBytes = 253 // a DNS name's longest
)

// tlsTracker keeps, per (step, host), the chain a check's step was last
// served. The scenario runner calls it only when a step sees another chain
// than the one before, so its lock is off the per-request path.
type tlsTracker struct {
	steps   []string
	metrics *metrics.Check
	secrets *redact.Set
	now     func() time.Time

	mu    sync.Mutex
	certs map[tlsKey]*servedChain
}

var _ scenario.CertSink = (*tlsTracker)(nil)

type tlsKey struct {
	step int
	host string
}

// servedChain is a chain as the page shows it, and since when it is
// served.
type servedChain struct {
	chain []web.ChainCert // leaf first
	since time.Time
}

func newTLSTracker(steps []string, m *metrics.Check, secrets *redact.Set, now func() time.Time) *tlsTracker {
	return &tlsTracker{steps: steps, metrics: m, secrets: secrets, now: now, certs: map[tlsKey]*servedChain{}}
}

// SawCertificates records the chain a step was served by host.
func (t *tlsTracker) SawCertificates(step int, host string, chain []*x509.Certificate) {
	if step < 0 || step >= len(t.steps) || len(chain) == 0 {
		return
	}
	host = t.hostLabel(host)
	summary := make([]web.ChainCert, 0, min(len(chain), maxChain))
	for _, c := range chain[:min(len(chain), maxChain)] {
		summary = append(summary, web.ChainCert{Subject: certName(c.Subject.CommonName, c.Subject.String()),
			Issuer: certName(c.Issuer.CommonName, c.Issuer.String()), NotAfter: c.NotAfter.UTC()})
	}
	k := tlsKey{step, host}
	t.mu.Lock()
	defer t.mu.Unlock()
	old := t.certs[k]
	switch {
	case old == nil && len(t.certs) >= maxTLSHosts:
		t.metrics.CertDropped()
		return
	case old != nil && sameChain(old.chain, summary):
		return // another connection, the same chain
	}
	t.certs[k] = &servedChain{chain: summary, since: t.now()}
	t.metrics.SetCertExpiry(t.steps[step], host, summary[0].NotAfter)
}

// hostLabel is a host as a label value: lower case, bounded, and never a
// secret (a host name can come from a ${VAR}).
func (t *tlsTracker) hostLabel(host string) string {
	host = strings.ToLower(host)
	if len(host) > maxHostBytes {
		host = host[:maxHostBytes]
	}
	if t.secrets.String(host) != host {
		return "redacted"
	}
	return host
}

// certName is a certificate's common name, or its whole name without one,
// bounded.
func certName(cn, full string) string {
	s := cn
	if s == "" {
		s = full
	}
	if len(s) > maxNameBytes {
		s = s[:maxNameBytes] + "…"
	}
	return s
}

func sameChain(a, b []web.ChainCert) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// list is the certificates as the status page shows them, by step then
// host.
func (t *tlsTracker) list() []web.Cert {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]web.Cert, 0, len(t.certs))
	for k, c := range t.certs {
		leaf := c.chain[0]
		out = append(out, web.Cert{Step: t.steps[k.step], Host: k.host, Subject: leaf.Subject, Issuer: leaf.Issuer,
			NotAfter: leaf.NotAfter, Chain: append([]web.ChainCert(nil), c.chain...), FirstSeen: c.since})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Step != out[j].Step {
			return out[i].Step < out[j].Step
		}
		return out[i].Host < out[j].Host
	})
	return out
}

// objectiveInput is what tls_expiry objectives judge: every leaf the
// check was last served, as of now; nil before any.
func (t *tlsTracker) objectiveInput(now time.Time) *slo.Certificates {
	certs := t.list()
	if len(certs) == 0 {
		return nil
	}
	in := &slo.Certificates{At: now}
	for _, c := range certs {
		in.Certs = append(in.Certs, slo.Certificate{Name: c.Host + " (step " + c.Step + ")", NotAfter: c.NotAfter})
	}
	return in
}

// certificates are what the check's tls_expiry objectives judge now.
func (r *checkRunner) certificates(now time.Time) *slo.Certificates {
	if r.tls == nil {
		return nil
	}
	return r.tls.objectiveInput(now)
}

// levelOf is a tls_expiry objective's state for the alert manager.
func levelOf(res slo.Result) *alert.Level {
	l := &alert.Level{Known: res.Evaluated, Failing: res.Evaluated && !res.Pass, Observed: res.ObservedText()}
	if res.Note != "" {
		l.Observed += " (" + res.Note + ")"
	}
	return l
}

// certDoc is a certificate in GET /api/v1/checks.
type certDoc struct {
	Step      string         `json:"step"`
	Host      string         `json:"host"`
	Subject   string         `json:"subject"`
	Issuer    string         `json:"issuer"`
	NotAfter  time.Time      `json:"not_after"`
	Chain     []chainCertDoc `json:"chain"`
	FirstSeen time.Time      `json:"first_seen"`
}

type chainCertDoc struct {
	Subject  string    `json:"subject"`
	Issuer   string    `json:"issuer"`
	NotAfter time.Time `json:"not_after"`
}

func certDocs(cs []web.Cert) []certDoc {
	out := make([]certDoc, 0, len(cs))
	for _, c := range cs {
		d := certDoc{Step: c.Step, Host: c.Host, Subject: c.Subject, Issuer: c.Issuer, NotAfter: c.NotAfter, FirstSeen: c.FirstSeen.UTC()}
		for _, cc := range c.Chain {
			d.Chain = append(d.Chain, chainCertDoc(cc))
		}
		out = append(out, d)
	}
	return out
}
