package cards

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	r4 "github.com/samply/golang-fhir-models/fhir-models/fhir"

	"github.com/balint-health/balint/cdshooks"
	"github.com/balint-health/balint/fhir"
	"github.com/balint-health/balint/rules"
)

// OverrideSystem is the code system of Balint's override reasons.
const OverrideSystem = "https://balint-health.github.io/balint/CodeSystem/override-reason"

// Override reason codes.
const (
	OverrideRedFlag          = "red-flag-under-investigation"
	OverrideAlreadyAddressed = "already-addressed"
	OverrideNotAppropriate   = "not-appropriate"
)

// OverrideReasons are offered on every card, in the clinical basis's words.
var OverrideReasons = []cdshooks.Coding{
	{System: OverrideSystem, Code: OverrideRedFlag, Display: "New or red-flag symptoms under investigation"},
	{System: OverrideSystem, Code: OverrideAlreadyAddressed, Display: "Already addressed"},
	{System: OverrideSystem, Code: OverrideNotAppropriate, Display: "Not appropriate for this patient"},
}

// Summary is the review card's summary line.
const Summary = "Several investigations in recent months were normal. A whole-person review of symptoms, daily impact and wellbeing may help."

// NotRealLine is the line every review card carries.
const NotRealLine = "Normal results do not mean the symptoms are not real, and they often do not reassure; keep an open mind to new features."

// AdviceLine closes every review card.
const AdviceLine = "This is advice for the clinician, not a diagnosis."

// Context is what a card needs beyond the decision.
type Context struct {
	ServiceID string
	PatientID string
	// UserRef is the hook's context.userId ("Practitioner/123").
	UserRef string
	Now     time.Time
	// SourceURL documents the rule (the site's policy page).
	SourceURL string
	// Evidence is the link to the evidence page; nil for none.
	Evidence *cdshooks.Link
}

// NewUUID is a new card's id. Random: each card issued is its own, so
// feedback names exactly the card a clinician saw, and the id says nothing
// of the patient.
func NewUUID() string { return uuid.NewString() }

// subUUID is a suggestion's id, derived from its card's so that it is the
// same on the card and in the feedback that accepts it.
func subUUID(card, name string) string {
	return uuid.NewSHA1(uuid.NameSpaceURL, []byte("urn:uuid:"+card+"#"+name)).String()
}

// Review builds the psychosocial-review card for a decision that fired.
func Review(d *rules.Decision, p *rules.Policy, c Context) (cdshooks.Card, error) {
	card := cdshooks.Card{
		UUID:              NewUUID(),
		Summary:           Summary,
		Detail:            ReviewDetail(d, p),
		Indicator:         cdshooks.IndicatorInfo,
		Source:            source(c),
		SelectionBehavior: "any",
		OverrideReasons:   OverrideReasons,
	}
	sug, err := Suggestions(card.UUID, c)
	if err != nil {
		return cdshooks.Card{}, err
	}
	card.Suggestions = sug
	if c.Evidence != nil {
		card.Links = []cdshooks.Link{*c.Evidence}
	}
	return card, nil
}

func source(c Context) cdshooks.Source {
	return cdshooks.Source{
		Label: "Balint: repeated normal investigations",
		URL:   c.SourceURL,
		Topic: &cdshooks.Coding{System: "http://snomed.info/sct", Code: "410229003", Display: "Mental health screening assessment"},
	}
}

// ReviewDetail is the card's markdown: what counted, the specialties, the
// thresholds that fired, and the line on normal results.
func ReviewDetail(d *rules.Decision, p *rules.Policy) string {
	var b strings.Builder
	fmt.Fprintf(&b, "**Normal investigations that counted** (last %d months, the same test within %d days counted once):\n\n",
		p.Windows.InvestigationsMonths, p.Windows.SameTestDays)
	for _, inv := range d.Counted {
		verdict := "normal"
		if inv.SiteTable {
			verdict = "normal against the site's reference table"
		}
		fmt.Fprintf(&b, "- %s: %s, %s, %s\n", inv.Date.Format("2 Jan 2006"), testName(inv.Display, inv.Codes, "test"), RecordText(inv.System, "other"), verdict)
	}
	if len(d.Specialties) > 0 {
		fmt.Fprintf(&b, "\n**Specialties involved** (last %d months):\n\n", p.Windows.SpecialtiesMonths)
		for _, s := range d.Specialties {
			fmt.Fprintf(&b, "- %s (since %s)\n", RecordText(s.Display, "specialty code "+s.Code), s.First.Format("Jan 2006"))
		}
	}
	b.WriteString("\n**Why this card:** ")
	var met []string
	for _, r := range d.Reasons {
		if r.Kind != rules.KindCriterion || !r.Met {
			continue
		}
		switch r.Code {
		case rules.CritNormalInvestigations:
			met = append(met, fmt.Sprintf("%d normal investigations (threshold %d)", r.Value, r.Threshold))
		case rules.CritBodySystems:
			met = append(met, fmt.Sprintf("%d body systems or categories (threshold %d)", r.Value, r.Threshold))
		case rules.CritPersistence:
			met = append(met, fmt.Sprintf("spread over %d days (at least %d months)", r.Value, p.Thresholds.PersistenceMonths))
		case rules.CritSpecialties:
			met = append(met, fmt.Sprintf("%d specialties (threshold %d)", r.Value, r.Threshold))
		case rules.CritPrimaryCare:
			met = append(met, fmt.Sprintf("%d primary-care encounters in %d months (threshold %d)", r.Value, p.Windows.PrimaryCareMonths, r.Threshold))
		case rules.CritExtra:
			met = append(met, "site criterion `"+r.Expr+"`")
		}
	}
	b.WriteString(strings.Join(met, "; "))
	if d.Checked() {
		b.WriteString(". No critical or unresolved abnormal result, open work-up, recent mental-health care or recent questionnaire was found.\n\n")
	} else {
		b.WriteString(".\n\n" + NotCheckedLine(d) + "\n\n")
	}
	b.WriteString(NotRealLine + "\n\n")
	b.WriteString(AdviceLine + "\n")
	return b.String()
}

// NotCheckedLine says, in one line, what of the record could not be
// checked: entries that could not be read, results whose normality the
// record does not say. The card then claims nothing about the rest.
func NotCheckedLine(d *rules.Decision) string {
	var parts []string
	if n := len(d.Unread); n > 0 {
		types := map[string]bool{}
		var names []string
		for _, u := range d.Unread {
			t := u.ResourceType
			if t == "" {
				t = "unknown type"
			}
			if !types[t] {
				types[t] = true
				names = append(names, t)
			}
		}
		parts = append(parts, fmt.Sprintf("%d %s of the record could not be read (%s)", n, plural(n, "entry", "entries"), strings.Join(names, ", ")))
	}
	if n := d.Features.Unknown; n > 0 {
		parts = append(parts, fmt.Sprintf("%d %s could not be judged normal or abnormal from the record", n, plural(n, "result", "results")))
	}
	return "**Not everything was checked:** " + strings.Join(parts, "; ") +
		". Exclusions were looked for only in what could be read; check the record before acting on this card."
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// testName is how a card names a test: its display from the record, made
// safe, else its first code, else none.
func testName(display string, codes []fhir.Code, none string) string {
	if len(codes) > 0 {
		none = "test code " + codes[0].Code
	}
	return RecordText(display, none)
}

// SuggestionSystem is the code system of the requests Balint's
// suggestions draft; the rule reads it back to know the review was asked
// for.
const SuggestionSystem = "https://balint-health.github.io/balint/CodeSystem/suggestion"

// ReviewCode is the code of the whole-person review request.
const ReviewCode = "whole-person-review"

// Suggestions are the review's actions: a longer appointment with one
// coordinating clinician, and the questionnaires. Draft resources only.
func Suggestions(cardUUID string, c Context) ([]cdshooks.Suggestion, error) {
	subject := r4.Reference{Reference: ptr("Patient/" + c.PatientID)}
	requester := &r4.Reference{Reference: ptr(c.UserRef)}
	authored := ptr(c.Now.UTC().Format(time.RFC3339))
	review := r4.ServiceRequest{
		Status:   r4.RequestStatusDraft,
		Intent:   r4.RequestIntentProposal,
		Category: []r4.CodeableConcept{{Coding: []r4.Coding{{System: ptr("http://snomed.info/sct"), Code: ptr("409063005"), Display: ptr("Counseling")}}}},
		Code: &r4.CodeableConcept{
			Coding: []r4.Coding{{System: ptr(SuggestionSystem), Code: ptr(ReviewCode), Display: ptr("Whole-person review")}},
			Text:   ptr("Longer review appointment: whole-person review of symptoms, daily impact and wellbeing"),
		},
		Subject:            subject,
		Requester:          requester,
		AuthoredOn:         authored,
		PatientInstruction: ptr("A longer appointment to talk through your symptoms and how they affect you."),
		Note:               []r4.Annotation{{Text: "Book with one named coordinating clinician who will follow the patient across specialties."}},
	}
	reviewJSON, err := json.Marshal(review)
	if err != nil {
		return nil, fmt.Errorf("cards: review request: %w", err)
	}
	var tasks []cdshooks.Action
	for _, q := range Questionnaires {
		t := r4.Task{
			Status:      r4.TaskStatusDraft,
			Intent:      "proposal",
			Code:        &r4.CodeableConcept{Coding: []r4.Coding{{System: ptr("http://loinc.org"), Code: ptr(q.Code), Display: ptr(q.Display)}}, Text: ptr("Send the " + q.Name + " questionnaire")},
			Description: ptr("Send the " + q.Name + " questionnaire to the patient before the review appointment."),
			For:         &subject,
			Requester:   requester,
			AuthoredOn:  authored,
		}
		b, err := json.Marshal(t)
		if err != nil {
			return nil, fmt.Errorf("cards: task: %w", err)
		}
		tasks = append(tasks, cdshooks.Action{Type: cdshooks.ActionCreate, Description: "Send the " + q.Name + " questionnaire", Resource: b})
	}
	return []cdshooks.Suggestion{
		{
			Label: "Book a longer review appointment with one coordinating clinician", UUID: subUUID(cardUUID, "review"), IsRecommended: true,
			Actions: []cdshooks.Action{{Type: cdshooks.ActionCreate, Description: "Draft a request for a longer review appointment", Resource: reviewJSON}},
		},
		{Label: "Send PHQ-15, PHQ-9 and GAD-7 questionnaires", UUID: subUUID(cardUUID, "questionnaires"), Actions: tasks},
	}, nil
}

// Questionnaire is one questionnaire a suggestion sends.
type Questionnaire struct{ Name, Code, Display string }

// Questionnaires sent by the review suggestion (LOINC panel codes).
var Questionnaires = []Questionnaire{
	{"PHQ-15", "69728-4", "Patient Health Questionnaire-15 [PHQ-15]"},
	{"PHQ-9", "44249-1", "PHQ-9 quick depression assessment panel [Reported.PHQ]"},
	{"GAD-7", "69737-5", "Generalized anxiety disorder 7 item (GAD-7)"},
}

func ptr[T any](v T) *T { return &v }
