package advice

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/balint-health/balint/cards"
	"github.com/balint-health/balint/cdshooks"
	"github.com/balint-health/balint/errs"
	"github.com/balint-health/balint/rules"
	"github.com/balint-health/balint/store"
)

// Feedback stores what clinicians did with cards and creates the snoozes
// an override asks for. The batch is all or nothing; every item is kept (an
// exact repeat, once). A card this service did not issue to this caller
// (Caller) is errs.NotFound.
func (a *Advisor) Feedback(ctx context.Context, serviceID, caller string, fbs []cdshooks.Feedback) error {
	if find(serviceID) == nil {
		return errs.New(errs.NotFound, "no CDS service with this id")
	}
	now := a.Now()
	recs := make([]store.Feedback, 0, len(fbs))
	for _, f := range fbs {
		at, _ := time.Parse(time.RFC3339, f.OutcomeTimestamp)
		rec := store.Feedback{CardUUID: f.Card, Outcome: f.Outcome, OutcomeAt: at, ReceivedAt: now}
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
			// Any override snoozes: the clinician has seen the card and set
			// it aside, whether with one of our reasons, an EHR's own, free
			// text or none. Red flags under investigation snooze for the
			// shorter period, so the card can speak once they are settled.
			if rec.ReasonCode == "" {
				rec.ReasonCode = "none"
			}
			months := a.policy().Snooze.DismissedMonths
			if rec.ReasonCode == cards.OverrideRedFlag {
				months = a.policy().Snooze.RedFlagMonths
			}
			rec.SnoozeUntil = now.Add(rules.Months(months))
		}
		recs = append(recs, rec)
	}
	inserted, err := a.Store.AddFeedback(ctx, serviceID, caller, recs)
	var unknown *store.UnknownCardError
	if errors.As(err, &unknown) {
		return errs.New(errs.NotFound, "feedback[%d].card: no card with this uuid was issued by this service; nothing was stored", unknown.Index)
	}
	if err != nil {
		return err
	}
	for i, rec := range recs {
		if inserted[i] {
			a.Metrics.Feedback.WithLabelValues(serviceID, rec.Outcome).Inc()
			if !rec.SnoozeUntil.IsZero() {
				a.Metrics.Snoozes.WithLabelValues(rec.ReasonCode).Inc()
			}
		}
		a.log().LogAttrs(ctx, slog.LevelInfo, "feedback", slog.String("service", serviceID),
			slog.String("outcome", rec.Outcome), slog.String("reason", rec.ReasonCode),
			slog.Bool("snoozed", !rec.SnoozeUntil.IsZero()), slog.Bool("duplicate", !inserted[i]))
	}
	return nil
}

// overrideCode maps an override reason to Balint's code: by code in our
// system, else by its display (some EHRs send back only the text shown);
// any other reason (an EHR's own list) is "other". The codes are a closed
// set, so they can label metrics.
func overrideCode(c cdshooks.Coding) string {
	for _, r := range cards.OverrideReasons {
		if (c.Code == r.Code && (c.System == "" || c.System == r.System)) || strings.EqualFold(strings.TrimSpace(c.Display), r.Display) {
			return r.Code
		}
	}
	return "other"
}
