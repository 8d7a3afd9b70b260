package advice

import (
	"context"
	"encoding/json"

	r4 "github.com/samply/golang-fhir-models/fhir-models/fhir"

	"github.com/balint-health/balint/cards"
	"github.com/balint-health/balint/cdshooks"
	"github.com/balint-health/balint/evidence"
	"github.com/balint-health/balint/fhir"
	"github.com/balint-health/balint/rules"
	"github.com/balint-health/balint/store"
)

// review answers patient-view and encounter-start: one card when the rule
// fires, none otherwise.
func (a *Advisor) review(ctx context.Context, call *Call, queries map[string]string) (*cdshooks.Response, error) {
	d, who, err := a.decide(ctx, call, queries)
	if err != nil {
		return nil, err
	}
	if !d.Fire {
		return &cdshooks.Response{}, nil
	}
	cc, ev, err := a.cardContext(call, d, who)
	if err != nil {
		return nil, err
	}
	card, err := cards.Review(d, a.policy(), cc)
	if err != nil {
		return nil, err
	}
	out := []cdshooks.Card{card}
	if err := a.issue(ctx, call, out, ev); err != nil {
		return nil, err
	}
	return &cdshooks.Response{Cards: out}, nil
}

// orders answers order-select and order-sign: a card for each draft order
// whose test was done before with only normal results.
func (a *Advisor) orders(ctx context.Context, call *Call, queries map[string]string) (*cdshooks.Response, error) {
	drafts := draftOrders(call.Context)
	if len(drafts) == 0 {
		return &cdshooks.Response{}, nil
	}
	d, who, err := a.decide(ctx, call, queries)
	if err != nil {
		return nil, err
	}
	var out []cdshooks.Card
	var cc *cards.Context
	var ev *store.Evidence
	for _, pr := range rules.PriorResults(d, drafts) {
		if !pr.AllNormal() {
			continue
		}
		if cc == nil {
			c, e, err := a.cardContext(call, d, who)
			if err != nil {
				return nil, err
			}
			cc, ev = &c, e
		}
		card, err := cards.Order(pr, d.Fire, a.policy(), *cc)
		if err != nil {
			return nil, err
		}
		out = append(out, card)
	}
	if len(out) > 0 {
		if err := a.issue(ctx, call, out, ev); err != nil {
			return nil, err
		}
	}
	return &cdshooks.Response{Cards: out}, nil
}

// cardContext is what cards say beyond the decision, with the evidence
// snapshot their link names (nil without evidence pages), to be stored
// with them.
func (a *Advisor) cardContext(call *Call, d *rules.Decision, who evidence.Patient) (cards.Context, *store.Evidence, error) {
	c := cards.Context{
		ServiceID: call.ServiceID, PatientID: call.Context.PatientID, UserRef: call.Context.UserID,
		Now: a.Now(), SourceURL: a.BaseURL + "/rule",
	}
	var ev *store.Evidence
	if a.Pages != nil {
		snap, u, err := a.Pages.Link(evidence.FromDecision(d, a.policy(), who))
		if err != nil {
			return c, nil, err
		}
		ev = &store.Evidence{ID: snap.ID, Body: snap.Body, Expires: snap.Expires}
		c.Evidence = &cdshooks.Link{Label: "Timeline of investigations this card rests on", URL: u, Type: cdshooks.LinkAbsolute}
		if a.SMARTLaunchURL != "" {
			// The site's SMART app is launched in the EHR's context and
			// receives the signed page link as appContext.
			c.Evidence = &cdshooks.Link{Label: c.Evidence.Label, URL: a.SMARTLaunchURL, Type: cdshooks.LinkSMART, AppContext: u}
		}
	}
	return c, ev, nil
}

// issue records a hook's cards, so that feedback on them can be tied
// back, with the evidence snapshot they link to: one write.
func (a *Advisor) issue(ctx context.Context, call *Call, out []cdshooks.Card, ev *store.Evidence) error {
	now := a.Now()
	recs := make([]store.Card, len(out))
	for i, card := range out {
		recs[i] = store.Card{UUID: card.UUID, ServiceID: call.ServiceID, Caller: Caller(call.Issuer, call.Tenant),
			PatientID: call.Context.PatientID, IssuedAt: now}
	}
	return a.Store.Issue(ctx, recs, ev, now)
}

// draftOrders reads the draft ServiceRequests of an order hook's context,
// entry by entry; for order-select only the selected ones. Other resource
// types (medications) are not tests and are left out.
func draftOrders(hc *cdshooks.HookContext) []rules.DraftOrder {
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
		ref := fhir.RefTo("ServiceRequest", sr.Id)
		if len(selected) > 0 && !selected[ref] {
			continue
		}
		codes := fhir.Codings(sr.Code)
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
