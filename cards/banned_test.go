package cards

import (
	"encoding/json"
	"regexp"
	"testing"

	"github.com/balint-health/balint/cdshooks"
	"github.com/balint-health/balint/fhir"
	"github.com/balint-health/balint/rules"
	"github.com/balint-health/balint/synth"
)

// banned matches the words a card must never use (clinical basis, "How the
// card speaks") as whole words in any case, with their usual variants. The
// product's own list (unsayable.txt, for record text) is checked against
// this copy, written apart, not against itself.
var banned = regexp.MustCompile(`(?i)\b(mus|somati[sz]\w*|frequent attenders?|heart-?sink\w*|medically unexplained)\b`)

func TestBannedPatternItself(t *testing.T) {
	if got := banned.FindAllString("The MUS clinic; a heartsink patient; somatisation; frequent attender; medically unexplained", -1); len(got) != 5 {
		t.Fatalf("finds %v", got)
	}
	if got := banned.FindAllString("must, music, museum", -1); len(got) != 0 {
		t.Fatalf("false positives %v", got)
	}
}

// Every card Balint can produce for the demo patients: the review card and
// an order card for every test they had, with and without the review
// suggestions.
func TestNoBannedWordOnAnyCard(t *testing.T) {
	now := synth.DemoEpoch
	p := rules.DefaultPolicy()
	n := 0
	check := func(c cdshooks.Card) {
		n++
		b, _ := json.Marshal(c)
		if w := banned.FindAllString(string(b), -1); len(w) > 0 {
			t.Errorf("card %q uses %v", c.Summary, w)
		}
	}
	for _, rec := range synth.Demo() {
		h := fhir.NewHistory()
		if _, err := h.AddJSON("all", fhir.FromDemo, rec.Collection()); err != nil {
			t.Fatal(err)
		}
		d := rules.Evaluate(p, rules.Input{History: h, Now: now})
		ctx := Context{ServiceID: "svc", PatientID: rec.PatientID, UserRef: "Practitioner/1", Now: now,
			Evidence: &cdshooks.Link{Label: "Timeline", URL: "https://balint.example/evidence/x", Type: cdshooks.LinkAbsolute}}
		c, err := Review(&d, p, ctx)
		if err != nil {
			t.Fatal(err)
		}
		check(c)
		var drafts []rules.DraftOrder
		for _, inv := range d.Investigations {
			drafts = append(drafts, rules.DraftOrder{Ref: "ServiceRequest/" + inv.Ref, Codes: inv.Codes, Display: inv.Display})
		}
		for _, pr := range rules.PriorResults(&d, drafts) {
			for _, review := range []bool{false, true} {
				c, err := Order(pr, review, p, ctx)
				if err != nil {
					t.Fatal(err)
				}
				check(c)
			}
		}
	}
	if n < 20 {
		t.Fatalf("only %d cards checked", n)
	}
}
