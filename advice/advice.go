package advice

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/balint-health/balint/cdshooks"
	"github.com/balint-health/balint/errs"
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

// Store is what the use case keeps across calls.
type Store interface {
	Issue(ctx context.Context, cards []store.Card, ev *store.Evidence, now time.Time) error
	AddFeedback(ctx context.Context, serviceID, caller string, items []store.Feedback) ([]bool, error)
	SnoozedUntil(ctx context.Context, caller, patientID string) (time.Time, error)
}

// Advisor answers Balint's CDS services.
type Advisor struct {
	// Policy is the policy at start; SetPolicy replaces it while serving.
	Policy *rules.Policy
	// Zone is the site's time zone (nil: UTC): record dates without one
	// are its calendar days.
	Zone    *time.Location
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

	current atomic.Pointer[rules.Policy]
}

// SetPolicy installs a recompiled policy (its value sets expanded anew);
// calls already running finish with the one they started with.
func (a *Advisor) SetPolicy(p *rules.Policy) { a.current.Store(p) }

// policy is the policy in force.
func (a *Advisor) policy() *rules.Policy {
	if p := a.current.Load(); p != nil {
		return p
	}
	return a.Policy
}

// Call is a hook call that the protocol has decoded and validated, with
// its verified caller.
type Call struct {
	ServiceID string
	Request   *cdshooks.Request
	Context   *cdshooks.HookContext
	// Issuer and Tenant name the verified EHR caller ("" in dev mode).
	Issuer, Tenant string
	// ServerNotAllowed: the request's fhirServer is not one of the
	// issuer's; it is never called, so only a complete prefetch can be
	// answered.
	ServerNotAllowed bool
	// Ahead is the prefetch read ahead from the call's body
	// (client.ReadAhead), or nil.
	Ahead *client.Ahead
}

// service is one CDS service: its discovery entry and what answers it.
type service struct {
	cdshooks.ServiceDescriptor
	answer func(a *Advisor, ctx context.Context, call *Call, queries map[string]string) (*cdshooks.Response, error)
}

const usage = "Reads the patient's record (prefetch, or the FHIR server with the token given). Advisory only: never blocks, never writes a diagnosis."

var services = func() []service {
	desc := func(id, hook, title, description string) cdshooks.ServiceDescriptor {
		return cdshooks.ServiceDescriptor{ID: id, Hook: hook, Title: title, Description: description, Prefetch: fhir.Templates(), UsageRequirements: usage}
	}
	reviewText := "Finds repeated normal investigations across specialties and suggests a whole-person psychosocial review, showing the evidence it fired on."
	orderText := "When a test is ordered again, shows its earlier normal results, and suggests a whole-person review when the record shows the pattern of repeated normal investigations."
	return []service{
		{desc(ReviewID, "patient-view", "Repeated normal investigations", reviewText), (*Advisor).review},
		{desc(ReviewEncounterID, "encounter-start", "Repeated normal investigations (encounter start)", reviewText), (*Advisor).review},
		{desc(OrderSelectID, "order-select", "Earlier normal results of this test", orderText), (*Advisor).orders},
		{desc(OrderSignID, "order-sign", "Earlier normal results of this test (signing)", orderText), (*Advisor).orders},
	}
}()

func find(id string) *service {
	for i := range services {
		if services[i].ID == id {
			return &services[i]
		}
	}
	return nil
}

// Hook returns the hook a service answers; false for an unknown id.
func (a *Advisor) Hook(serviceID string) (string, bool) {
	if s := find(serviceID); s != nil {
		return s.Hook, true
	}
	return "", false
}

// Since is the value of {{balint.since}} at now for policy p: the first of
// the month before the longest window, so the EHR fetches enough and the
// discovery document changes monthly.
func Since(p *rules.Policy, now time.Time) string {
	w := p.Windows
	longest := max(w.InvestigationsMonths, w.SpecialtiesMonths, w.PrimaryCareMonths, w.PregnancyMonths,
		w.HospiceMonths, w.MentalHealthMonths, w.ScreeningMonths, w.OpenRequestMonths)
	first := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	return first.AddDate(0, -longest-1, 0).Format("2006-01-02")
}

func (a *Advisor) tokens() cdshooks.Tokens {
	return cdshooks.Tokens{"balint.since": Since(a.policy(), a.Now())}
}

// Discovery is the discovery document as published now: the context
// tokens stay for the EHR to fill in, {{balint.since}} is rendered.
func (a *Advisor) Discovery() cdshooks.Discovery {
	d := cdshooks.Discovery{Services: make([]cdshooks.ServiceDescriptor, 0, len(services))}
	tok := a.tokens()
	for _, s := range services {
		sd := s.ServiceDescriptor
		sd.Prefetch = make(map[string]string, len(s.Prefetch))
		for k, v := range s.Prefetch {
			// Templates are ours and tested; a render error here is a
			// programming error caught by the discovery golden test.
			sd.Prefetch[k], _ = cdshooks.Render(v, tok, true)
		}
		d.Services = append(d.Services, sd)
	}
	return d
}

// Answer answers a hook call with cards. Errors are of errs kinds:
// Invalid (a prefetch template cannot be run for this context),
// Unavailable (the patient's data could not be obtained), anything else
// is our fault.
func (a *Advisor) Answer(ctx context.Context, call *Call) (*cdshooks.Response, error) {
	svc := find(call.ServiceID)
	if svc == nil {
		return nil, errs.New(errs.NotFound, "no CDS service with this id")
	}
	tok := a.tokens()
	for k, v := range cdshooks.ContextTokens(call.Context) {
		tok[k] = v
	}
	queries := make(map[string]string, len(svc.Prefetch))
	for k, tpl := range svc.Prefetch {
		q, err := cdshooks.Render(tpl, tok, false)
		if err != nil {
			return nil, errs.New(errs.Invalid, "prefetch %s: %v", k, err)
		}
		queries[k] = q
	}
	resp, err := svc.answer(a, ctx, call, queries)
	if err != nil {
		return nil, err
	}
	if resp.Cards == nil {
		resp.Cards = []cdshooks.Card{}
	}
	for i := range resp.Cards {
		if err := resp.Cards[i].Validate(); err != nil {
			return nil, err
		}
	}
	return resp, nil
}

func (a *Advisor) log() *slog.Logger {
	if a.Logger != nil {
		return a.Logger
	}
	return slog.Default()
}

// Caller names the EHR a call came from, for keying what is stored about
// its patients: issuer and tenant ("" in development mode).
func Caller(issuer, tenant string) string {
	if issuer == "" {
		return ""
	}
	return issuer + "\x00" + tenant
}
