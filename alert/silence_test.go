package alert_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canaryproj/canary/alert"
	"github.com/canaryproj/canary/store"
)

func silence(h *harness, d time.Duration, matchers map[string]string) alert.Silence {
	h.t.Helper()
	s, err := h.m.AddSilence(alert.Silence{Matchers: matchers, EndsAt: h.clk.Now().Add(d), CreatedBy: "ops", Comment: "deploy"})
	require.NoError(h.t, err)
	return s
}

func TestSilenceSuppressesThenPagesWhenItEnds(t *testing.T) {
	rec := &recorder{name: "rec"}
	h := newHarness(t, t.TempDir(), newClock(), []alert.Notifier{rec})
	silence(h, 5*time.Second, map[string]string{"check": "checkout"})
	for i := 0; i < 5; i++ {
		h.eval(observe(breach)) // firing, but silenced
	}
	h.drained()
	assert.Empty(t, rec.kinds(), "silenced")
	firing := h.m.Firing()
	require.Len(t, firing, 1, "the state is tracked while silenced")
	assert.True(t, firing[0].Silenced)
	assert.Equal(t, 1.0, gauge(t, h.reg, "canary_alerts_firing", "checkout", "availability"))

	for i := 0; i < 3; i++ {
		h.eval(observe(breach)) // the silence has ended; it still fires
	}
	h.drained()
	got := rec.notes()
	require.Len(t, got, 1, "the firing goes out once when the silence ends")
	assert.Equal(t, alert.Firing, got[0].Kind)
	assert.Equal(t, firing[0].Since, got[0].Since, "since when it started firing, silenced")
	assert.False(t, h.m.Firing()[0].Silenced)
	assert.Empty(t, h.m.Silences(), "the ended silence is gone")
	n, err := h.st.Len(store.Silences)
	require.NoError(t, err)
	assert.Zero(t, n, "and pruned from the store")

	for i := 0; i < 3; i++ {
		h.eval(observe(clean))
	}
	h.drained()
	assert.Equal(t, []alert.Kind{alert.Firing, alert.Resolved}, rec.kinds())
}

func TestSilenceAfterThePage(t *testing.T) {
	rec := &recorder{name: "rec"}
	h := newHarness(t, t.TempDir(), newClock(), []alert.Notifier{rec})
	h.eval(observe(breach)) // paged
	silence(h, 10*time.Minute, map[string]string{"team": "payments"})
	h.clk.Advance(time.Minute)
	h.eval(observe(breach)) // a reminder is due, but silenced
	for i := 0; i < 3; i++ {
		h.eval(observe(clean)) // resolves while silenced: nothing sent
	}
	h.drained()
	assert.Equal(t, []alert.Kind{alert.Firing}, rec.kinds(), "no reminder and no resolve while silenced")
	assert.Empty(t, h.m.Firing())
}

func TestSilencedAlertThatResolvesNeverPages(t *testing.T) {
	rec := &recorder{name: "rec"}
	h := newHarness(t, t.TempDir(), newClock(), []alert.Notifier{rec})
	silence(h, 10*time.Second, map[string]string{"slo": "availability"})
	h.eval(observe(breach))
	for i := 0; i < 3; i++ {
		h.eval(observe(clean))
	}
	h.clk.Advance(time.Minute) // the silence ends
	h.eval(observe(clean))
	h.drained()
	assert.Empty(t, rec.kinds(), "fired and resolved inside the silence: nobody is paged, before or after")
}

func TestDeletedSilencePagesAtTheNextEvaluation(t *testing.T) {
	rec := &recorder{name: "rec"}
	h := newHarness(t, t.TempDir(), newClock(), []alert.Notifier{rec})
	s := silence(h, time.Hour, map[string]string{"check": "checkout"})
	h.eval(observe(breach))
	require.NoError(t, h.m.DeleteSilence(s.ID))
	assert.ErrorIs(t, h.m.DeleteSilence(s.ID), alert.ErrNoSilence, "deleting it again")
	h.eval(observe(breach))
	h.drained()
	assert.Equal(t, []alert.Kind{alert.Firing}, rec.kinds())
}

func TestSilenceMatchers(t *testing.T) {
	tests := []struct {
		name     string
		matchers map[string]string
		obs      func(*alert.Observation)
		paged    bool
	}{
		{name: "check, exact", matchers: map[string]string{"check": "checkout"}},
		{name: "another check", matchers: map[string]string{"check": "search"}, paged: true},
		{name: "check, regular expression", matchers: map[string]string{"check": "~check.*"}},
		{name: "a regular expression matches the whole value", matchers: map[string]string{"check": "~check"}, paged: true},
		{name: "a regular expression alternative", matchers: map[string]string{"check": "~search|checkout"}},
		{name: "slo", matchers: map[string]string{"slo": "availability"}},
		{name: "severity", matchers: map[string]string{"severity": "page"}},
		{name: "another severity", matchers: map[string]string{"severity": "ticket"}, paged: true},
		{name: "a label", matchers: map[string]string{"team": "payments"}},
		{name: "a label, regular expression", matchers: map[string]string{"team": "~pay.+"}},
		{name: "a label the check does not have", matchers: map[string]string{"region": "~.*"}, paged: true},
		{name: "every matcher must match", matchers: map[string]string{"team": "payments", "check": "search"}, paged: true},
		{name: "all match", matchers: map[string]string{"team": "payments", "check": "checkout", "severity": "~page|ticket"}},
		{name: "a check label named check does not hide the check", matchers: map[string]string{"check": "impostor"},
			obs: func(o *alert.Observation) { o.Labels = map[string]string{"check": "impostor"} }, paged: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{name: "rec"}
			h := newHarness(t, t.TempDir(), newClock(), []alert.Notifier{rec})
			silence(h, time.Hour, tt.matchers)
			o := observe(breach)
			if tt.obs != nil {
				tt.obs(&o[0])
			}
			h.eval(o)
			h.drained()
			assert.Equal(t, tt.paged, len(rec.kinds()) == 1, "silence %v: paged", tt.matchers)
			require.Len(t, h.m.Firing(), 1)
			assert.Equal(t, !tt.paged, h.m.Firing()[0].Silenced, "silence %v: marked silenced", tt.matchers)
		})
	}
}

func TestAddSilenceValidation(t *testing.T) {
	clk := newClock()
	now := clk.Now()
	many := map[string]string{}
	for i := 0; i < 21; i++ {
		many[fmt.Sprint("l", i)] = "x"
	}
	tests := []struct {
		name string
		s    alert.Silence
		want string // in the error
	}{
		{name: "no matchers", s: alert.Silence{EndsAt: now.Add(time.Hour)}, want: "at least one matcher"},
		{name: "bad regular expression", s: alert.Silence{Matchers: map[string]string{"check": "~("}, EndsAt: now.Add(time.Hour)},
			want: `silence matcher check: bad regular expression "("`},
		{name: "bad matcher name", s: alert.Silence{Matchers: map[string]string{"check name": "x"}, EndsAt: now.Add(time.Hour)},
			want: `silence matcher "check name": want check, slo, severity or a label name`},
		{name: "too many matchers", s: alert.Silence{Matchers: many, EndsAt: now.Add(time.Hour)}, want: "21 matchers; at most 20"},
		{name: "value too long", s: alert.Silence{Matchers: map[string]string{"check": strings.Repeat("x", 1025)}, EndsAt: now.Add(time.Hour)},
			want: "value of 1025 bytes"},
		{name: "no end", s: alert.Silence{Matchers: map[string]string{"check": "x"}}, want: "ends_at must be in the future"},
		{name: "ended", s: alert.Silence{Matchers: map[string]string{"check": "x"}, EndsAt: now.Add(-time.Second)},
			want: "ends_at must be in the future"},
		{name: "ends before it starts", s: alert.Silence{Matchers: map[string]string{"check": "x"}, StartsAt: now.Add(2 * time.Hour), EndsAt: now.Add(time.Hour)},
			want: "ends_at must be after starts_at"},
		{name: "longer than a year", s: alert.Silence{Matchers: map[string]string{"check": "x"}, EndsAt: now.Add(366 * 24 * time.Hour)},
			want: "a year at most"},
		{name: "comment too long", s: alert.Silence{Matchers: map[string]string{"check": "x"}, EndsAt: now.Add(time.Hour), Comment: strings.Repeat("c", 1025)},
			want: "comment of 1025 bytes"},
	}
	h := newHarness(t, t.TempDir(), clk, nil)
	for _, tt := range tests {
		_, err := h.m.AddSilence(tt.s)
		require.Error(t, err, "AddSilence(%s)", tt.name)
		assert.Contains(t, err.Error(), tt.want, "AddSilence(%s)", tt.name)
	}
	assert.Empty(t, h.m.Silences(), "nothing invalid was kept")
	n, err := h.st.Len(store.Silences)
	require.NoError(t, err)
	assert.Zero(t, n)
}

func TestSilencesBoundedPersistentAndListed(t *testing.T) {
	dir, clk := t.TempDir(), newClock()
	h := newHarness(t, dir, clk, nil, withMaxSilences(2))
	later := silence(h, 2*time.Hour, map[string]string{"check": "a"})
	sooner := silence(h, time.Hour, map[string]string{"check": "~b.*"})
	_, err := h.m.AddSilence(alert.Silence{Matchers: map[string]string{"check": "c"}, EndsAt: clk.Now().Add(time.Hour)})
	assert.ErrorContains(t, err, "2 silences already", "the bound")
	assert.NotEqual(t, later.ID, sooner.ID)
	assert.Equal(t, clk.Now(), sooner.StartsAt, "a zero start is now")
	h.close()

	h = newHarness(t, dir, clk, nil, withMaxSilences(2))
	got := h.m.Silences()
	require.Len(t, got, 2, "silences survive a restart")
	assert.Equal(t, []string{sooner.ID, later.ID}, []string{got[0].ID, got[1].ID}, "soonest to end first")
	assert.Equal(t, "ops", got[0].CreatedBy)
	got[0].Matchers["check"] = "changed"
	assert.Equal(t, "~b.*", h.m.Silences()[0].Matchers["check"], "Silences returns copies")

	clk.Advance(time.Hour) // sooner ends
	assert.Len(t, h.m.Silences(), 1, "an ended silence is not listed")
	_, err = h.m.AddSilence(alert.Silence{Matchers: map[string]string{"check": "c"}, EndsAt: clk.Now().Add(time.Hour)})
	assert.NoError(t, err, "an ended silence no longer counts against the bound")
	h.eval(nil)
	n, err := h.st.Len(store.Silences)
	require.NoError(t, err)
	assert.Equal(t, 2, n, "the ended silence is pruned from the store at the next evaluation")
}

func TestPendingSilence(t *testing.T) {
	rec := &recorder{name: "rec"}
	h := newHarness(t, t.TempDir(), newClock(), []alert.Notifier{rec})
	_, err := h.m.AddSilence(alert.Silence{Matchers: map[string]string{"check": "checkout"},
		StartsAt: h.clk.Now().Add(time.Hour), EndsAt: h.clk.Now().Add(2 * time.Hour)})
	require.NoError(t, err)
	h.eval(observe(breach))
	h.drained()
	assert.Equal(t, []alert.Kind{alert.Firing}, rec.kinds(), "a silence that has not started silences nothing")
	assert.Len(t, h.m.Silences(), 1, "it is listed")
}
