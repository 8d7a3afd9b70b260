package services

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	r4 "github.com/samply/golang-fhir-models/fhir-models/fhir"

	"github.com/balint-health/balint/cards"
	"github.com/balint-health/balint/cdshooks"
	"github.com/balint-health/balint/evidence"
	"github.com/balint-health/balint/fhir"
	"github.com/balint-health/balint/fhir/client"
	"github.com/balint-health/balint/metrics"
	"github.com/balint-health/balint/rules"
	"github.com/balint-health/balint/store"
)

// Service ids.
const (
	ReviewID          = "balint-review"
	ReviewEncounterID = "balint-review-encounter"
	OrderSelectID     = "balint-prior-results"
	OrderSignID       = "balint-prior-results-sign"
)

// Store is what the services keep across calls.
type Store interface {
	RecordCard(ctx context.Context, c store.Card) error
	AddFeedback(ctx context.Context, f store.Feedback) (bool, error)
	SnoozedUntil(ctx context.Context, patientID string) (time.Time, error)
	Secret() []byte
}

// Engine answers Balint's hooks.
type Engine struct {
	Policy  *rules.Policy
	Loader  *client.Loader
	Store   Store
	Pages   *evidence.Pages
	Metrics *metrics.Metrics
	Now     func() time.Time
	// BaseURL is the public URL of this service (card source link).
	BaseURL string
	// SMARTLaunchURL, when set, makes the evidence link a SMART app link
	// (type smart) with the page's signed URL as appContext.
	SMARTLaunchURL string
	Logger         *slog.Logger
}

// Prefetch are the templates every service publishes. {{balint.since}} is
// rendered at publication to the first of the month before the longest
// window, so the EHR fetches enough and the document changes monthly.
// Searches name the patient by subject=Patient/id rather than patient=id:
// both are standard R4, and subject is a plain reference match that every
// server indexes (Medplum's router resolves patient= resource by resource).
var Prefetch = map[string]string{
	"patient":      "Patient/{{context.patientId}}",
	"observations": "Observation?subject=Patient/{{context.patientId}}&date=ge{{balint.since}}",
	"reports":      "DiagnosticReport?subject=Patient/{{context.patientId}}&date=ge{{balint.since}}",
	"encounters":   "Encounter?subject=Patient/{{context.patientId}}&date=ge{{balint.since}}",
	"requests":     "ServiceRequest?subject=Patient/{{context.patientId}}&authored=ge{{balint.since}}",
	"conditions":   "Condition?subject=Patient/{{context.patientId}}",
	"procedures":   "Procedure?subject=Patient/{{context.patientId}}&date=ge{{balint.since}}",
}

// Since is the value of {{balint.since}} at now for policy p.
func Since(p *rules.Policy, now time.Time) string {
	w := p.Windows
	longest := max(w.InvestigationsMonths, w.SpecialtiesMonths, w.PrimaryCareMonths, w.PregnancyMonths,
		w.HospiceMonths, w.MentalHealthMonths, w.ScreeningMonths, w.OpenRequestMonths)
	first := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	return first.AddDate(0, -longest-1, 0).Format("2006-01-02")
}

const usage = "Reads the patient's record (prefetch, or the FHIR server with the token given). Advisory only: never blocks, never writes a diagnosis."

// Services lists the four CDS services.
func (e *Engine) Services() []cdshooks.Service {
	desc := func(id, hook, title, description string) cdshooks.ServiceDescriptor {
		return cdshooks.ServiceDescriptor{ID: id, Hook: hook, Title: title, Description: description, Prefetch: Prefetch, UsageRequirements: usage}
	}
	reviewText := "Finds repeated normal investigations across specialties and suggests a whole-person psychosocial review, showing the evidence it fired on."
	orderText := "When a test is ordered again, shows its earlier normal results, and suggests a whole-person review when the record shows the pattern of repeated normal investigations."
	return []cdshooks.Service{
		{Descriptor: desc(ReviewID, "patient-view", "Repeated normal investigations", reviewText), Handle: e.review},
		{Descriptor: desc(ReviewEncounterID, "encounter-start", "Repeated normal investigations (encounter start)", reviewText), Handle: e.review},
		{Descriptor: desc(OrderSelectID, "order-select", "Earlier normal results of this test", orderText), Handle: e.orders},
		{Descriptor: desc(OrderSignID, "order-sign", "Earlier normal results of this test (signing)", orderText), Handle: e.orders},
	}
}

func (e *Engine) log() *slog.Logger {
	if e.Logger != nil {
		return e.Logger
	}
	return slog.Default()
}

// decide loads the history and evaluates the rule.
func (e *Engine) decide(ctx context.Context, call *cdshooks.Call) (*rules.Decision, error) {
	req := client.Request{Server: call.Request.FHIRServer, Queries: call.Queries, Prefetch: call.Request.Prefetch,
		Issuer: call.Issuer, Patient: call.Context.PatientID}
	if a := call.Request.FHIRAuthorization; a != nil {
		req.Token = a.AccessToken
		if a.ExpiresIn > 0 {
			req.TokenExpires = e.Now().Add(time.Duration(a.ExpiresIn) * time.Second)
		}
	}
	h, err := e.Loader.Load(ctx, req)
	// The prefetch is slices of the request body (megabytes): decoded now,
	// so let the body go before the rule runs.
	call.Request.Prefetch, req.Prefetch = nil, nil
	var ue *fhir.UnavailableError
	if errors.As(err, &ue) {
		e.Metrics.Unavailable.WithLabelValues(ue.Key).Inc()
		if errors.Is(err, client.ErrNotAllowed) {
			e.log().LogAttrs(ctx, slog.LevelWarn, "fhirServer refused by allowlist", slog.String("service", call.ServiceID),
				slog.String("hookInstance", call.Request.HookInstance))
		}
		return nil, &cdshooks.Error{Status: http.StatusPreconditionFailed, Message: ue.Error(), Err: err}
	}
	if err != nil {
		return nil, fmt.Errorf("load history: %w", err)
	}
	if h.Patient == nil || h.Patient.Id == nil || *h.Patient.Id != call.Context.PatientID {
		return nil, &cdshooks.Error{Status: http.StatusPreconditionFailed,
			Message: `data for "patient" could not be obtained: no Patient matching context.patientId`}
	}
	snoozed, err := e.Store.SnoozedUntil(ctx, call.Context.PatientID)
	if err != nil {
		return nil, err
	}
	now := e.Now()
	d := rules.Evaluate(e.Policy, rules.Input{History: h, Now: now, SnoozedUntil: snoozed})
	e.record(ctx, call, h, &d)
	return &d, nil
}

// record logs and counts a decision: codes and counts only.
func (e *Engine) record(ctx context.Context, call *cdshooks.Call, h *fhir.History, d *rules.Decision) {
	sex := "unknown"
	if h.Patient != nil && h.Patient.Gender != nil {
		sex = h.Patient.Gender.Code()
	}
	band := metrics.AgeBand(d.Features.Age)
	e.Metrics.Decisions.WithLabelValues(call.ServiceID, fmt.Sprint(d.Fire)).Inc()
	for _, c := range d.Exclusions() {
		e.Metrics.Reasons.WithLabelValues(call.ServiceID, rules.KindExclusion, c, band, sex).Inc()
	}
	for _, c := range d.Unmet() {
		e.Metrics.Reasons.WithLabelValues(call.ServiceID, rules.KindCriterion, c, band, sex).Inc()
	}
	if d.Fire {
		e.Metrics.Reasons.WithLabelValues(call.ServiceID, "fired", "fired", band, sex).Inc()
	}
	byType := map[string]int{"Observation": len(h.Observations), "DiagnosticReport": len(h.DiagnosticReports),
		"Encounter": len(h.Encounters), "ServiceRequest": len(h.ServiceRequests), "Condition": len(h.Conditions), "Procedure": len(h.Procedures)}
	for _, k := range fhir.Kinds {
		if n := byType[k.ResourceType]; n > 0 {
			e.Metrics.Decoded.WithLabelValues(k.ResourceType, string(h.Sources[k.Key])).Add(float64(n))
		}
	}
	for _, s := range h.Skipped {
		e.Metrics.Skipped.WithLabelValues(s.ResourceType).Inc()
	}
	e.log().LogAttrs(ctx, slog.LevelInfo, "decision",
		slog.String("service", call.ServiceID), slog.String("hook", call.Request.Hook),
		slog.String("hookInstance", call.Request.HookInstance), slog.String("iss", call.Issuer), slog.String("tenant", call.Tenant),
		slog.Bool("fired", d.Fire),
		slog.Any("exclusions", d.Exclusions()), slog.Any("unmet", d.Unmet()),
		slog.Int("resources", h.Len()), slog.Int("skipped", len(h.Skipped)),
		slog.Int("investigations", len(d.Investigations)), slog.Int("counted", len(d.Counted)))
}

func (e *Engine) cardContext(ctx context.Context, call *cdshooks.Call, d *rules.Decision) (cards.Context, error) {
	c := cards.Context{
		ServiceID: call.ServiceID, PatientID: call.Context.PatientID, UserRef: call.Context.UserID,
		Now: e.Now(), Secret: e.Store.Secret(), SourceURL: e.BaseURL + "/rule",
	}
	if e.Pages != nil {
		u, err := e.Pages.Link(ctx, evidence.FromDecision(d, e.Policy))
		if err != nil {
			return c, err
		}
		c.Evidence = &cdshooks.Link{Label: "Timeline of investigations this card rests on", URL: u, Type: cdshooks.LinkAbsolute}
		if e.SMARTLaunchURL != "" {
			// The site's SMART app is launched in the EHR's context and
			// receives the signed page link as appContext.
			c.Evidence = &cdshooks.Link{Label: c.Evidence.Label, URL: e.SMARTLaunchURL, Type: cdshooks.LinkSMART, AppContext: u}
		}
	}
	return c, nil
}

func (e *Engine) issue(ctx context.Context, call *cdshooks.Call, card cdshooks.Card) error {
	return e.Store.RecordCard(ctx, store.Card{UUID: card.UUID, ServiceID: call.ServiceID, PatientID: call.Context.PatientID, IssuedAt: e.Now()})
}

func (e *Engine) review(ctx context.Context, call *cdshooks.Call) (*cdshooks.Response, error) {
	d, err := e.decide(ctx, call)
	if err != nil {
		return nil, err
	}
	if !d.Fire {
		return &cdshooks.Response{Cards: []cdshooks.Card{}}, nil
	}
	cc, err := e.cardContext(ctx, call, d)
	if err != nil {
		return nil, err
	}
	card, err := cards.Review(d, e.Policy, cc)
	if err != nil {
		return nil, err
	}
	if err := e.issue(ctx, call, card); err != nil {
		return nil, err
	}
	return &cdshooks.Response{Cards: []cdshooks.Card{card}}, nil
}

func (e *Engine) orders(ctx context.Context, call *cdshooks.Call) (*cdshooks.Response, error) {
	drafts := DraftOrders(call.Context)
	if len(drafts) == 0 {
		return &cdshooks.Response{Cards: []cdshooks.Card{}}, nil
	}
	d, err := e.decide(ctx, call)
	if err != nil {
		return nil, err
	}
	out := []cdshooks.Card{}
	var cc *cards.Context
	for _, pr := range rules.PriorResults(d, drafts) {
		if !pr.AllNormal() {
			continue
		}
		if cc == nil {
			c, err := e.cardContext(ctx, call, d)
			if err != nil {
				return nil, err
			}
			cc = &c
		}
		card, err := cards.Order(pr, d.Fire, e.Policy, *cc)
		if err != nil {
			return nil, err
		}
		if err := e.issue(ctx, call, card); err != nil {
			return nil, err
		}
		out = append(out, card)
	}
	return &cdshooks.Response{Cards: out}, nil
}

// DraftOrders reads the draft ServiceRequests of an order hook's context,
// entry by entry; for order-select only the selected ones. Other resource
// types (medications) are not tests and are left out.
func DraftOrders(hc *cdshooks.HookContext) []rules.DraftOrder {
	var b struct {
		Entry []struct {
			Resource json.RawMessage `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(hc.DraftOrders, &b); err != nil {
		return nil
	}
	selected := map[string]bool{}
	for _, s := range hc.Selections {
		selected[s] = true
	}
	var out []rules.DraftOrder
	for _, e := range b.Entry {
		sr, err := r4.UnmarshalServiceRequest(e.Resource)
		if err != nil || sr.Code == nil {
			continue
		}
		ref := "ServiceRequest/" + deref(sr.Id)
		if len(selected) > 0 && !selected[ref] {
			continue
		}
		codes := rules.CodesOf(sr.Code)
		display := ""
		if sr.Code.Text != nil {
			display = *sr.Code.Text
		} else if len(codes) > 0 {
			display = codes[0].Display
		}
		out = append(out, rules.DraftOrder{Ref: ref, Codes: codes, Display: display})
	}
	return out
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// Feedback stores feedback and creates the snoozes it asks for.
func (e *Engine) Feedback(ctx context.Context, serviceID string, fbs []cdshooks.Feedback) error {
	now := e.Now()
	for i, f := range fbs {
		at, _ := time.Parse(time.RFC3339, f.OutcomeTimestamp)
		rec := store.Feedback{CardUUID: f.Card, ServiceID: serviceID, Outcome: f.Outcome, OutcomeAt: at, ReceivedAt: now}
		for _, s := range f.AcceptedSuggestions {
			rec.Suggestions = append(rec.Suggestions, s.ID)
		}
		if r := f.OverrideReason; r != nil {
			rec.UserComment = r.UserComment
			if r.Reason != nil {
				rec.ReasonCode = overrideCode(*r.Reason)
			}
		}
		if f.Outcome == cdshooks.OutcomeOverridden {
			switch rec.ReasonCode {
			case cards.OverrideAlreadyAddressed, cards.OverrideNotAppropriate:
				rec.SnoozeUntil = now.Add(rules.Months(e.Policy.Snooze.DismissedMonths))
			case cards.OverrideRedFlag:
				rec.SnoozeUntil = now.Add(rules.Months(e.Policy.Snooze.RedFlagMonths))
			}
		}
		inserted, err := e.Store.AddFeedback(ctx, rec)
		if errors.Is(err, store.ErrNotFound) {
			return &cdshooks.Error{Status: http.StatusNotFound, Message: fmt.Sprintf("feedback[%d].card: no card with this uuid was issued by this service", i)}
		}
		if err != nil {
			return err
		}
		if inserted {
			e.Metrics.Feedback.WithLabelValues(serviceID, f.Outcome).Inc()
			if !rec.SnoozeUntil.IsZero() {
				e.Metrics.Snoozes.WithLabelValues(rec.ReasonCode).Inc()
			}
		}
		e.log().LogAttrs(ctx, slog.LevelInfo, "feedback", slog.String("service", serviceID),
			slog.String("outcome", f.Outcome), slog.String("reason", rec.ReasonCode),
			slog.Bool("snoozed", !rec.SnoozeUntil.IsZero()), slog.Bool("duplicate", !inserted))
	}
	return nil
}

// overrideCode maps an override reason to Balint's code: by code in our
// system, else by its display (some EHRs send back only the text shown).
func overrideCode(c cdshooks.Coding) string {
	for _, r := range cards.OverrideReasons {
		if (c.Code == r.Code && (c.System == "" || c.System == r.System)) || strings.EqualFold(strings.TrimSpace(c.Display), r.Display) {
			return r.Code
		}
	}
	return "other"
}
