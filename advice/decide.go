package advice

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/balint-health/balint/errs"
	"github.com/balint-health/balint/evidence"
	"github.com/balint-health/balint/fhir"
	"github.com/balint-health/balint/fhir/client"
	"github.com/balint-health/balint/metrics"
	"github.com/balint-health/balint/rules"
)

// decide loads the history and evaluates the rule. It also returns who the
// patient is, for the evidence page's header.
func (a *Advisor) decide(ctx context.Context, call *Call, queries map[string]string) (*rules.Decision, evidence.Patient, error) {
	req := client.Request{Server: call.Request.FHIRServer, ServerNotAllowed: call.ServerNotAllowed, Queries: queries,
		Prefetch: call.Request.Prefetch, Ahead: call.Ahead, Issuer: call.Issuer, Patient: call.Context.PatientID}
	if auth := call.Request.FHIRAuthorization; auth != nil {
		req.Token = auth.AccessToken
		if auth.ExpiresIn > 0 {
			req.TokenExpires = a.Now().Add(time.Duration(auth.ExpiresIn) * time.Second)
		}
	}
	h, err := a.Loader.Load(ctx, req)
	// The prefetch is slices of the request body (megabytes): decoded now,
	// so let the body go before the rule runs.
	call.Request.Prefetch, req.Prefetch = nil, nil
	var ue *fhir.UnavailableError
	if errors.As(err, &ue) {
		a.Metrics.Unavailable.WithLabelValues(ue.Key).Inc()
		if errors.Is(err, client.ErrNotAllowed) {
			a.log().LogAttrs(ctx, slog.LevelWarn, "fhirServer refused by allowlist", slog.String("service", call.ServiceID),
				slog.String("hookInstance", call.Request.HookInstance))
		}
		return nil, evidence.Patient{}, ue
	}
	if err != nil {
		return nil, evidence.Patient{}, fmt.Errorf("load history: %w", err)
	}
	if h.Patient == nil || h.Patient.Id == nil || *h.Patient.Id != call.Context.PatientID {
		why := "no Patient matching context.patientId"
		for _, s := range h.Skipped {
			if s.ResourceType == "Patient" {
				why = "the Patient could not be read (" + s.Reason + ")"
			}
		}
		return nil, evidence.Patient{}, errs.New(errs.Unavailable, `data for "patient" could not be obtained: %s`, why)
	}
	snoozed, err := a.Store.SnoozedUntil(ctx, Caller(call.Issuer, call.Tenant), call.Context.PatientID)
	if err != nil {
		return nil, evidence.Patient{}, err
	}
	d := rules.Evaluate(a.policy(), rules.Input{History: h, Now: a.Now(), Zone: a.Zone, SnoozedUntil: snoozed})
	a.record(ctx, call, h, &d)
	return &d, evidence.PatientOf(h.Patient), nil
}

// record logs and counts a decision: codes and counts only.
func (a *Advisor) record(ctx context.Context, call *Call, h *fhir.History, d *rules.Decision) {
	sex := "unknown"
	if h.Patient != nil && h.Patient.Gender != nil {
		sex = h.Patient.Gender.Code()
	}
	band := metrics.AgeBand(d.Features.Age)
	m := a.Metrics
	m.Decisions.WithLabelValues(call.ServiceID, fmt.Sprint(d.Fire)).Inc()
	for _, c := range d.Exclusions() {
		m.Reasons.WithLabelValues(call.ServiceID, rules.KindExclusion, c, band, sex).Inc()
	}
	for _, c := range d.Unmet() {
		m.Reasons.WithLabelValues(call.ServiceID, rules.KindCriterion, c, band, sex).Inc()
	}
	if d.Fire {
		m.Reasons.WithLabelValues(call.ServiceID, "fired", "fired", band, sex).Inc()
	}
	for _, k := range fhir.Kinds {
		if n := k.Count(h); n > 0 && k.ResourceType != "Patient" {
			origin := string(h.Sources[k.Key])
			if k.Query == "" {
				origin = "included" // arrived with another kind's search
			}
			m.Decoded.WithLabelValues(k.ResourceType, origin).Add(float64(n))
		}
	}
	// Label values come from closed sets: the kinds Balint reads, and the
	// element names of samply's types (the decoder names no other).
	var skips, repairs []string
	for _, s := range h.Skipped {
		m.Skipped.WithLabelValues(fhir.KnownType(s.ResourceType)).Inc()
		if s.Reason != fhir.ReasonUnusedType && len(skips) < 20 {
			skips = append(skips, fhir.KnownType(s.ResourceType)+": "+s.Reason)
		}
	}
	for _, r := range h.Repaired {
		top, _, _ := strings.Cut(r.Element, "/")
		m.Repaired.WithLabelValues(r.ResourceType, fhir.KnownElement(r.ResourceType, top)).Inc()
		if len(repairs) < 20 {
			repairs = append(repairs, r.ResourceType+"/"+r.Element)
		}
	}
	a.log().LogAttrs(ctx, slog.LevelInfo, "decision",
		slog.String("service", call.ServiceID), slog.String("hook", call.Request.Hook),
		slog.String("hookInstance", call.Request.HookInstance), slog.String("iss", call.Issuer), slog.String("tenant", call.Tenant),
		slog.Bool("fired", d.Fire),
		slog.Any("exclusions", d.Exclusions()), slog.Any("unmet", d.Unmet()),
		slog.Int("resources", h.Len()), slog.Int("skipped", len(h.Skipped)), slog.Int("repaired", len(h.Repaired)),
		slog.Any("unread", skips), slog.Any("repairs", repairs),
		slog.Int("investigations", len(d.Investigations)), slog.Int("counted", len(d.Counted)))
}
