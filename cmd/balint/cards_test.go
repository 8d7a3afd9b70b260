package main

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	r4 "github.com/samply/golang-fhir-models/fhir-models/fhir"

	"github.com/balint-health/balint/advice"
	"github.com/balint-health/balint/cards"
	"github.com/balint-health/balint/cdshooks"
	"github.com/balint-health/balint/fhir"
	"github.com/balint-health/balint/fhir/demo"
	"github.com/balint-health/balint/rules"
)

var uuidRE = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

// normalize replaces what varies between instances (ids keyed by the
// instance secret, signed links) so cards compare with golden files.
func normalize(r cdshooks.Response, base string) cdshooks.Response {
	for i := range r.Cards {
		c := &r.Cards[i]
		c.UUID = "<card-uuid>"
		for j := range c.Suggestions {
			c.Suggestions[j].UUID = "<suggestion-uuid>"
		}
		for j := range c.Links {
			c.Links[j].URL = "<evidence-link>"
		}
		c.Source.URL = strings.Replace(c.Source.URL, base, "<base>", 1)
	}
	return r
}

func TestDemoCardsGolden(t *testing.T) {
	in := start(t, nil)
	fired := map[string]bool{}
	for _, id := range demo.PatientIDs() {
		r := in.hook(t, advice.ReviewID, patientView(id, ""))
		if r.Status != http.StatusOK {
			t.Fatalf("%s: %d %s", id, r.Status, r.Body)
		}
		var resp cdshooks.Response
		r.json(t, &resp)
		fired[id] = len(resp.Cards) > 0
		golden(t, "cards/"+id+".json", pretty(t, normalize(resp, in.URL)))
	}
	want := map[string]bool{"demo-pattern": true, "demo-control": false, "demo-critical": false, "demo-mental-health": false, "demo-diabetes": true}
	for id, w := range want {
		if fired[id] != w {
			t.Errorf("%s: card = %v, want %v", id, fired[id], w)
		}
	}
}

// The demo histories sent as the hook's prefetch give the cards they give
// when fetched, byte for byte. The body they are read from is emptied when
// the call is done, before the response is written (http/body.go), so a
// card that kept a view of it would differ here (hazard H54).
func TestPrefetchedDemoCardsGolden(t *testing.T) {
	in := start(t, nil)
	src := demo.New(func() time.Time { return testNow })
	for _, id := range demo.PatientIDs() {
		pre := map[string]json.RawMessage{}
		for key, q := range fhir.Templates() {
			q = strings.ReplaceAll(q, "{{context.patientId}}", id)
			err := src.Search(context.Background(), q, func(page []byte) error {
				pre[key] = page
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		body, err := json.Marshal(pre)
		if err != nil {
			t.Fatal(err)
		}
		r := in.hook(t, advice.ReviewID, patientView(id, `,"prefetch":`+string(body)))
		if r.Status != http.StatusOK {
			t.Fatalf("%s: %d %s", id, r.Status, r.Body)
		}
		var resp cdshooks.Response
		r.json(t, &resp)
		golden(t, "cards/"+id+".json", pretty(t, normalize(resp, in.URL)))
	}
}

func TestEncounterStartServesTheSameCard(t *testing.T) {
	in := start(t, nil)
	body := strings.Replace(patientView("demo-pattern", ""), "patient-view", "encounter-start", 1)
	body = strings.Replace(body, `"patientId":"demo-pattern"`, `"patientId":"demo-pattern","encounterId":"enc-1"`, 1)
	var resp cdshooks.Response
	in.hook(t, advice.ReviewEncounterID, body).json(t, &resp)
	if len(resp.Cards) != 1 || resp.Cards[0].Summary != cards.Summary {
		t.Fatalf("%+v", resp)
	}
}

func orderBody(hook, patient string, codes ...string) string {
	var entries, sel []string
	for i, c := range codes {
		id := "draft-" + string(rune('a'+i))
		entries = append(entries, `{"resource":{"resourceType":"ServiceRequest","id":"`+id+`","status":"draft","intent":"order","subject":{"reference":"Patient/`+patient+`"},"code":{"coding":[{"system":"http://loinc.org","code":"`+c+`","display":"test `+c+`"}]}}}`)
		sel = append(sel, `"ServiceRequest/`+id+`"`)
	}
	return `{"hook":"` + hook + `","hookInstance":"` + hookInstance + `","context":{"userId":"Practitioner/dr-1","patientId":"` + patient +
		`","selections":[` + strings.Join(sel, ",") + `],"draftOrders":{"resourceType":"Bundle","type":"collection","entry":[` + strings.Join(entries, ",") + `]}}}`
}

func TestOrderCards(t *testing.T) {
	in := start(t, nil)
	tests := []struct {
		name, service, hook, patient string
		codes                        []string
		cards                        int
		review                       bool
	}{
		{"repeat of a normal test, pattern patient", advice.OrderSelectID, "order-select", "demo-pattern", []string{"58410-2"}, 1, true},
		{"repeat of a normal test, control patient", advice.OrderSignID, "order-sign", "demo-control", []string{"58410-2"}, 1, false},
		{"a test never done", advice.OrderSelectID, "order-select", "demo-pattern", []string{"2093-3"}, 0, false},
		{"critical patient: earlier CMP was critical", advice.OrderSelectID, "order-select", "demo-critical", []string{"24323-8"}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := in.hook(t, tt.service, orderBody(tt.hook, tt.patient, tt.codes...))
			if r.Status != 200 {
				t.Fatalf("%d %s", r.Status, r.Body)
			}
			var resp cdshooks.Response
			r.json(t, &resp)
			if len(resp.Cards) != tt.cards {
				t.Fatalf("%d cards: %s", len(resp.Cards), r.Body)
			}
			if tt.cards == 0 {
				return
			}
			c := resp.Cards[0]
			if !regexp.MustCompile(`^\d+ previous results? of this test since \d+ \w+ \d{4} (was|were) normal`).MatchString(c.Summary) {
				t.Errorf("summary %q", c.Summary)
			}
			if (len(c.Suggestions) > 0) != tt.review {
				t.Errorf("review suggestions = %d, want %v", len(c.Suggestions), tt.review)
			}
			if c.Indicator != "info" {
				t.Errorf("indicator %s: the card never blocks", c.Indicator)
			}
		})
	}
}

func allCards(t *testing.T, in *instance) []cdshooks.Card {
	var out []cdshooks.Card
	for _, id := range demo.PatientIDs() {
		var resp cdshooks.Response
		in.hook(t, advice.ReviewID, patientView(id, "")).json(t, &resp)
		out = append(out, resp.Cards...)
		in.hook(t, advice.OrderSelectID, orderBody("order-select", id, "58410-2", "24558-9")).json(t, &resp)
		out = append(out, resp.Cards...)
	}
	if len(out) < 3 {
		t.Fatalf("only %d cards to check", len(out))
	}
	return out
}

func TestReviewCardContent(t *testing.T) {
	in := start(t, nil)
	var resp cdshooks.Response
	in.hook(t, advice.ReviewID, patientView("demo-pattern", "")).json(t, &resp)
	c := resp.Cards[0]
	for _, want := range []string{cards.NotRealLine, "Cardiology", "threshold 3", "normal investigations that counted", "not a diagnosis"} {
		if !strings.Contains(strings.ToLower(c.Detail), strings.ToLower(want)) {
			t.Errorf("detail lacks %q", want)
		}
	}
	if len(c.OverrideReasons) != 3 || c.Indicator != "info" || c.SelectionBehavior != "any" || len(c.Links) != 1 || c.Links[0].Type != "absolute" {
		t.Errorf("card %+v", c)
	}
	if !strings.HasPrefix(c.Links[0].URL, in.URL+"/evidence/") || strings.Contains(c.Links[0].URL, "demo-pattern") {
		t.Errorf("evidence link %s", c.Links[0].URL)
	}
	// Each card issued has its own uuid (CDS Hooks 2.0, "Card Attributes"),
	// so feedback names the card the clinician saw.
	var again cdshooks.Response
	in.hook(t, advice.ReviewID, patientView("demo-pattern", "")).json(t, &again)
	if again.Cards[0].UUID == c.UUID || !uuidRE.MatchString(c.UUID) || !uuidRE.MatchString(again.Cards[0].UUID) {
		t.Errorf("uuid %s then %s", c.UUID, again.Cards[0].UUID)
	}
}

// Every suggestion's resource is valid R4 for samply, draft, for the
// patient, requested by the hook's user, and never a diagnosis.
func TestSuggestionResources(t *testing.T) {
	in := start(t, nil)
	n := 0
	for _, c := range allCards(t, in) {
		for _, s := range c.Suggestions {
			for _, a := range s.Actions {
				n++
				var peek struct {
					ResourceType string `json:"resourceType"`
				}
				json.Unmarshal(a.Resource, &peek)
				switch peek.ResourceType {
				case "ServiceRequest":
					sr, err := r4.UnmarshalServiceRequest(a.Resource)
					if err != nil {
						t.Fatalf("ServiceRequest: %v", err)
					}
					if sr.Status != r4.RequestStatusDraft || sr.Subject.Reference == nil || *sr.Subject.Reference != "Patient/demo-pattern" && *sr.Subject.Reference != "Patient/demo-diabetes" ||
						sr.Requester == nil || *sr.Requester.Reference != "Practitioner/dr-1" || sr.Code == nil {
						t.Errorf("ServiceRequest %s", a.Resource)
					}
				case "Task":
					task, err := r4.UnmarshalTask(a.Resource)
					if err != nil {
						t.Fatalf("Task: %v", err)
					}
					if task.Status != r4.TaskStatusDraft || task.Intent == "" || task.For == nil || task.Requester == nil || *task.Requester.Reference != "Practitioner/dr-1" || task.Code == nil {
						t.Errorf("Task %s", a.Resource)
					}
				default:
					t.Errorf("suggestion creates a %q", peek.ResourceType)
				}
				if a.Type != "create" || strings.Contains(string(a.Resource), `"Condition"`) {
					t.Errorf("action %+v", a)
				}
			}
		}
	}
	if n < 4 {
		t.Fatalf("only %d actions checked", n)
	}
}

// /rule shows the site's policy as tables a clinician reads, with the
// policy file one link away, not in front of them.
func TestRulePage(t *testing.T) {
	in := start(t, nil)
	r := do(t, http.MethodGet, in.URL+"/rule", "")
	page := string(r.Body)
	for _, want := range []string{"<table", "Normal investigations needed", "<td>3</td>", "24 months", "any time",
		"<code>isa/363346000</code>", "<code>C00-C97</code>", `href="/rule/policy.yaml"`, cards.NotRealLine,
		"<td><code>2951-2</code></td><td>136-145 mmol/L</td><td>everyone, 18 years and over</td><td>Merck Manual", "<td>up to 5.6 %</td>"} {
		if !strings.Contains(page, want) {
			t.Errorf("/rule lacks %q", want)
		}
	}
	if strings.Contains(page, "investigations_months:") {
		t.Error("/rule shows the raw policy file")
	}
	y := do(t, http.MethodGet, in.URL+"/rule/policy.yaml", "")
	if y.Status != 200 || string(y.Body) != string(rules.DefaultPolicyYAML()) || !strings.HasPrefix(y.Header.Get("Content-Type"), "application/yaml") {
		t.Fatalf("policy file: %d %s", y.Status, y.Header.Get("Content-Type"))
	}
}
