package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/balint-health/balint/advice"
	"github.com/balint-health/balint/cards"
	"github.com/balint-health/balint/cdshooks"
	"github.com/balint-health/balint/rules"
	"github.com/balint-health/balint/testing/pg"
)

func feedback(card, outcome, reason string, at time.Time) string {
	override := ""
	if reason != "" {
		override = `{"reason":{"system":"` + cards.OverrideSystem + `","code":"` + reason + `"},"userComment":"seen in clinic"}`
	}
	return feedbackWith(card, outcome, override, at)
}

// feedbackWith sends overrideReason as given ("" for none).
func feedbackWith(card, outcome, override string, at time.Time) string {
	fb := `{"card":"` + card + `","outcome":"` + outcome + `","outcomeTimestamp":"` + at.Format(time.RFC3339) + `"`
	if override != "" {
		fb += `,"overrideReason":` + override
	}
	return `{"feedback":[` + fb + `}]}`
}

func ourReason(code string) string {
	return `{"reason":{"system":"` + cards.OverrideSystem + `","code":"` + code + `"},"userComment":"seen in clinic"}`
}

func (in *instance) reviewCards(t *testing.T, patient string) []cdshooks.Card {
	t.Helper()
	r := in.hook(t, advice.ReviewID, patientView(patient, ""))
	if r.Status != 200 {
		t.Fatalf("hook: %d %s", r.Status, r.Body)
	}
	var resp cdshooks.Response
	r.json(t, &resp)
	return resp.Cards
}

func (in *instance) sendFeedback(t *testing.T, body string) response {
	t.Helper()
	return do(t, http.MethodPost, in.URL+"/cds-services/"+advice.ReviewID+"/feedback", body)
}

// The snooze round trip, on each store.
func TestFeedbackSnooze(t *testing.T) {
	stores := map[string]func(t *testing.T) func(*Config){
		"sqlite":   func(*testing.T) func(*Config) { return nil },
		"postgres": func(t *testing.T) func(*Config) { u := pg.URL(t); return func(c *Config) { c.DatabaseURL = u } },
	}
	// Any override snoozes: ours, an EHR's own reason, free text, none;
	// red flags for the shorter period.
	reasons := []struct {
		code, override string
		months         int
	}{
		{cards.OverrideAlreadyAddressed, ourReason(cards.OverrideAlreadyAddressed), 6},
		{cards.OverrideNotAppropriate, ourReason(cards.OverrideNotAppropriate), 6},
		{cards.OverrideRedFlag, ourReason(cards.OverrideRedFlag), 3},
		{"ehr-local-reason", `{"reason":{"system":"urn:oid:1.2.3.4","code":"17","display":"Patient declined"}}`, 6},
		{"free-text-only", `{"userComment":"discussed with the patient"}`, 6},
		{"no-reason", "", 6},
	}
	for name, cfg := range stores {
		for _, reason := range reasons {
			t.Run(name+"/"+reason.code, func(t *testing.T) {
				in := start(t, cfg(t))
				c := in.reviewCards(t, "demo-pattern")
				if len(c) != 1 {
					t.Fatalf("%d cards before feedback", len(c))
				}
				body := feedbackWith(c[0].UUID, "overridden", reason.override, in.Clock.Now())
				for i := 0; i < 2; i++ { // the repeat is idempotent
					if r := in.sendFeedback(t, body); r.Status != 200 {
						t.Fatalf("feedback %d: %d %s", i, r.Status, r.Body)
					}
				}
				if c := in.reviewCards(t, "demo-pattern"); len(c) != 0 {
					t.Fatal("card still shown after override")
				}
				if c := in.reviewCards(t, "demo-diabetes"); len(c) != 1 {
					t.Fatal("override for one patient suppressed another's card")
				}
				in.Clock.Add(rules.Months(reason.months) - 24*time.Hour)
				if c := in.reviewCards(t, "demo-pattern"); len(c) != 0 {
					t.Fatalf("card back a day before the %d-month snooze ends", reason.months)
				}
				in.Clock.Add(48 * time.Hour)
				if c := in.reviewCards(t, "demo-pattern"); len(c) != 1 {
					t.Fatalf("card not back after the %d-month snooze", reason.months)
				}
				if got := counter(t, in, "balint_feedback_total", `outcome="overridden",service="balint-review"`); got != 1 {
					t.Fatalf("feedback counted %v times, want once", got)
				}
			})
		}
	}
}

func TestFeedbackOutcomes(t *testing.T) {
	in := start(t, nil)
	c := in.reviewCards(t, "demo-pattern")
	if r := in.sendFeedback(t, fmt.Sprintf(`{"feedback":[{"card":%q,"outcome":"accepted","acceptedSuggestions":[{"id":%q}],"outcomeTimestamp":"2026-11-25T09:31:00Z"}]}`,
		c[0].UUID, c[0].Suggestions[0].UUID)); r.Status != 200 {
		t.Fatalf("accepted: %d %s", r.Status, r.Body)
	}
	if c := in.reviewCards(t, "demo-pattern"); len(c) != 1 {
		t.Fatal("accepting must not snooze the card")
	}
	r := in.sendFeedback(t, feedback("0f0f0f0f-0f0f-4f0f-8f0f-0f0f0f0f0f0f", "overridden", cards.OverrideNotAppropriate, in.Clock.Now()))
	if r.Status != http.StatusNotFound {
		t.Fatalf("unknown card: %d", r.Status)
	}
	if r := in.sendFeedback(t, `{"feedback":[{"card":"x"}]}`); r.Status != 400 {
		t.Fatalf("malformed feedback: %d", r.Status)
	}
	// EHRs that echo only the display text still snooze.
	other := in.reviewCards(t, "demo-diabetes")
	byDisplay := `{"feedback":[{"card":"` + other[0].UUID + `","outcome":"overridden","overrideReason":{"reason":{"code":"x","display":"Already addressed"}},"outcomeTimestamp":"2026-11-25T09:31:00Z"}]}`
	if r := in.sendFeedback(t, byDisplay); r.Status != 200 {
		t.Fatalf("%d", r.Status)
	}
	if c := in.reviewCards(t, "demo-diabetes"); len(c) != 0 {
		t.Fatal("override by display text did not snooze")
	}
}

// CDS Hooks 2.0, "Feedback": every item is kept (a second accepted
// suggestion, an override after it), a batch is all or nothing, and
// feedback goes to the service whose card it is.
func TestFeedbackItemsAndBatches(t *testing.T) {
	in := start(t, nil)
	c := in.reviewCards(t, "demo-pattern")[0]
	at := in.Clock.Now().Format(time.RFC3339)
	accepted := func(suggestion string) string {
		return `{"card":"` + c.UUID + `","outcome":"accepted","acceptedSuggestions":[{"id":"` + suggestion + `"}],"outcomeTimestamp":"` + at + `"}`
	}
	unknown := `{"card":"0f0f0f0f-0f0f-4f0f-8f0f-0f0f0f0f0f0f","outcome":"accepted","outcomeTimestamp":"` + at + `"}`
	// One good item and one for a card never issued: nothing is kept.
	if r := in.sendFeedback(t, `{"feedback":[`+accepted(c.Suggestions[0].UUID)+`,`+unknown+`]}`); r.Status != http.StatusNotFound || !strings.Contains(string(r.Body), "feedback[1]") {
		t.Fatalf("batch with an unknown card: %d %s", r.Status, r.Body)
	}
	if got := counter(t, in, "balint_feedback_total", `outcome="accepted",service="balint-review"`); got != 0 {
		t.Fatalf("a refused batch stored %v items", got)
	}
	for _, s := range c.Suggestions {
		if r := in.sendFeedback(t, `{"feedback":[`+accepted(s.UUID)+`]}`); r.Status != 200 {
			t.Fatalf("accepted %s: %d %s", s.Label, r.Status, r.Body)
		}
	}
	if got := counter(t, in, "balint_feedback_total", `outcome="accepted",service="balint-review"`); got != 2 {
		t.Fatalf("two accepted suggestions kept as %v items", got)
	}
	// The card belongs to balint-review: its feedback sent to another
	// service is a card that service never issued.
	r := do(t, http.MethodPost, in.URL+"/cds-services/"+advice.OrderSelectID+"/feedback", `{"feedback":[`+accepted(c.Suggestions[0].UUID)+`]}`)
	if r.Status != http.StatusNotFound {
		t.Fatalf("feedback to another service: %d", r.Status)
	}
}

// A newcomer who dismissed the demo card gets it back with `balint snooze
// clear`, without deleting files; the feedback stays on record.
func TestSnoozeSubcommand(t *testing.T) {
	path := filepath.Join(t.TempDir(), "balint.db")
	in := start(t, func(c *Config) { c.SQLitePath = path })
	c := in.reviewCards(t, "demo-pattern")
	if r := in.sendFeedback(t, feedback(c[0].UUID, "overridden", cards.OverrideNotAppropriate, in.Clock.Now())); r.Status != 200 {
		t.Fatalf("%d", r.Status)
	}
	env := func(k string) string {
		if k == "BALINT_SQLITE_PATH" {
			return path
		}
		return ""
	}
	var out strings.Builder
	if err := snooze(context.Background(), []string{"list", "demo-pattern"}, env, in.Clock.Now(), &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "balint-review") || !strings.Contains(out.String(), "not-appropriate") {
		t.Fatalf("list: %s", out.String())
	}
	out.Reset()
	if err := snooze(context.Background(), []string{"clear", "demo-pattern"}, env, in.Clock.Now(), &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "1 snooze(s) cleared") {
		t.Fatalf("clear: %s", out.String())
	}
	if c := in.reviewCards(t, "demo-pattern"); len(c) != 1 {
		t.Fatal("the card did not come back after the snooze was cleared")
	}
	if got := counter(t, in, "balint_feedback_total", `outcome="overridden",service="balint-review"`); got != 1 {
		t.Fatalf("the feedback was not kept: %v", got)
	}
	var ue *usageError
	if err := snooze(context.Background(), []string{"forget", "demo-pattern"}, env, in.Clock.Now(), &out); !errors.As(err, &ue) {
		t.Fatalf("unknown verb: %v", err)
	}
}
