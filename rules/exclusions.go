package rules

import (
	"slices"
	"time"

	r4 "github.com/samply/golang-fhir-models/fhir-models/fhir"

	"github.com/balint-health/balint/fhir"
)

// The exclusions, one function per clinical family, each applying one
// line of "Do not fire" in the clinical basis
// (docs/clinical-basis.md, sections "The rule" and "Reading
// real records"). They run in this fixed order, which is the order their
// reasons are listed in. Where the record leaves a doubt (no date, a code
// read only from its text, an entry that could not be read) each resolves
// it toward the exclusion: a missed card costs little, a wrong one a lot.
func (e *evaluation) exclusions(snoozedUntil time.Time) {
	e.excludeAge()
	e.excludePregnancy()
	e.excludeCancer()
	e.excludeHospice()
	e.excludeResults()
	e.excludeOpenWorkup()
	e.excludeReviewRequested()
	e.excludeMentalHealthCare()
	e.excludeRecentReview()
	e.excludeUnreadable()
	e.excludeDismissed(snoozedUntil)
}

// excludeAge: "age < 18". An unknown or unreadable birth date is not an
// adult; a partial one gives the youngest age it allows.
func (e *evaluation) excludeAge() {
	pt := e.h.Patient
	if pt == nil || pt.BirthDate == nil {
		e.exclude(ExclAgeUnknown)
		return
	}
	age, ok := e.age()
	if !ok {
		e.exclude(ExclAgeUnknown, fhir.RefTo("Patient", pt.Id))
		return
	}
	e.d.Features.Age = age
	if age < e.p.Thresholds.MinAge {
		e.exclude(ExclAgeUnderMin, fhir.RefTo("Patient", pt.Id))
	}
}

// excludePregnancy: a pregnancy whose onset..abatement overlaps the last
// 12 months. One still active overlaps; one that abated on an unrecorded
// date is taken to have lasted up to 300 days from its onset; one with no
// date at all overlaps.
func (e *evaluation) excludePregnancy() {
	start := e.now.Add(-months(e.p.Windows.PregnancyMonths))
	var refs []string
	for i := range e.h.Conditions {
		c := &e.h.Conditions[i]
		if refuted(c) || !e.p.sets.pregnancy.concept(c.Code) {
			continue
		}
		hit := active(c)
		if !hit {
			onset, end := fhir.ConditionDate(c, e.loc), fhir.ConditionEnd(c, e.loc)
			if end.IsZero() && !onset.IsZero() {
				end = onset.Add(days(300))
			}
			hit = end.IsZero() || !end.Before(start)
		}
		if hit {
			refs = append(refs, fhir.RefTo("Condition", c.Id))
		}
	}
	e.excludeFound(ExclPregnancy, refs)
}

// excludeCancer: a cancer that is active, recurred, relapsed or in
// remission; coded in the value set (SNOMED descendants, ICD-10 C00-C97
// and D00-D09) or named in its text.
func (e *evaluation) excludeCancer() {
	var refs []string
	for i := range e.h.Conditions {
		c := &e.h.Conditions[i]
		if !refuted(c) && e.p.sets.cancer.concept(c.Code) && (active(c) || hasStatus(c, "remission")) {
			refs = append(refs, fhir.RefTo("Condition", c.Id))
		}
	}
	e.excludeFound(ExclCancer, refs)
}

// excludeHospice: hospice care, seen as an encounter, a referral or a
// procedure; at any time unless the policy sets a window.
func (e *evaluation) excludeHospice() {
	hospice := e.p.sets.hospice
	e.excludeFound(ExclHospice, e.careRefs(months(e.p.Windows.HospiceMonths), careCodes{
		encounter: hospice.concept, procedure: hospice.concept, request: hospice.concept,
	}))
}

// careCodes say which encounters, requests and procedures are a kind of
// care, concept by concept.
type careCodes struct {
	encounter, request, procedure func(*r4.CodeableConcept) bool
	// basedOn, when set, makes an encounter this care when it answers a
	// request that is (ongoing therapy referred long ago).
	basedOn bool
}

// careRefs are the encounters that happened, requests placed and
// procedures done within the window (0: at any time) that are this kind
// of care. An undated one is taken to be within it.
func (e *evaluation) careRefs(window time.Duration, care careCodes) []string {
	var refs []string
	requests := map[string]bool{}
	for i := range e.h.ServiceRequests {
		sr := &e.h.ServiceRequests[i]
		if !anyConcept(care.request, requestConcepts(sr)) {
			continue
		}
		ref := fhir.RefTo("ServiceRequest", sr.Id)
		requests[ref] = true
		if countsAsDone(sr.Status) && e.since(fhir.RequestDate(sr, e.loc), window) {
			refs = append(refs, ref)
		}
	}
	for i := range e.h.Encounters {
		en := &e.h.Encounters[i]
		if !encounterHappened(en) || !e.since(fhir.EncounterDate(en, e.loc), window) {
			continue
		}
		is := anyConcept(care.encounter, encounterConcepts(en))
		if care.basedOn {
			is = is || slices.ContainsFunc(en.BasedOn, func(r r4.Reference) bool { return requests[e.ix.key(r)] })
		}
		if is {
			refs = append(refs, fhir.RefTo("Encounter", en.Id))
		}
	}
	for i := range e.h.Procedures {
		pr := &e.h.Procedures[i]
		if procedureHappened(pr) && care.procedure(pr.Code) && e.since(fhir.ProcedureDate(pr, e.loc), window) {
			refs = append(refs, fhir.RefTo("Procedure", pr.Id))
		}
	}
	return refs
}

// excludeResults: any critical result, or an abnormal result not followed
// by a normal result of the same test (any shared code), whatever the
// reason it was ordered for. Only monitoring of a chronic condition on the
// policy's list is neither counted nor held against the card.
func (e *evaluation) excludeResults() {
	var critical, unresolved []string
	lastNormal := map[string]time.Time{}
	for _, inv := range e.d.Investigations {
		if !inv.Pending && inv.Verdict == Normal {
			for _, k := range inv.keys() {
				if inv.Date.After(lastNormal[k]) {
					lastNormal[k] = inv.Date
				}
			}
		}
	}
	for _, inv := range e.d.Investigations {
		if inv.Pending {
			continue
		}
		switch inv.Verdict {
		case Critical:
			critical = append(critical, inv.Ref)
		case Abnormal:
			if inv.Monitoring {
				continue
			}
			if !slices.ContainsFunc(inv.keys(), func(k string) bool { return lastNormal[k].After(inv.Date) }) {
				unresolved = append(unresolved, inv.Ref)
			}
		}
	}
	e.excludeFound(ExclCritical, critical)
	e.excludeFound(ExclUnresolved, unresolved)
}

// excludeOpenWorkup: any diagnostic order, procedure or report not yet
// final, whatever its reason: an active or on-hold request (a referral
// until the patient has been seen by that specialty), a procedure in
// preparation, in progress or on hold, and a report registered, partial
// or preliminary. Mental-health referrals and the review Balint suggested
// have exclusions of their own.
func (e *evaluation) excludeOpenWorkup() {
	p := e.p
	var refs []string
	for i := range e.h.ServiceRequests {
		sr := &e.h.ServiceRequests[i]
		if sr.Status != r4.RequestStatusActive && sr.Status != r4.RequestStatusOnHold {
			continue
		}
		if e.isReview(sr) || anyConcept(e.mentalHealth, requestConcepts(sr)) {
			continue
		}
		if e.isReferral(sr) && e.attended(sr) {
			continue
		}
		if e.open(requestDates(sr, e.loc)) {
			refs = append(refs, fhir.RefTo("ServiceRequest", sr.Id))
		}
	}
	for i := range e.h.Procedures {
		pr := &e.h.Procedures[i]
		switch pr.Status {
		case r4.EventStatusPreparation, r4.EventStatusInProgress, r4.EventStatusOnHold:
			if e.open([]time.Time{fhir.ProcedureDate(pr, e.loc)}) {
				refs = append(refs, fhir.RefTo("Procedure", pr.Id))
			}
		}
	}
	for _, inv := range e.all {
		if inv.Pending && (inv.Date.IsZero() || e.within(inv.Date, days(p.Windows.PendingReportDays)) || inv.Date.After(e.now)) {
			refs = append(refs, inv.Ref)
		}
	}
	e.excludeFound(ExclOpenWorkup, refs)
}

// open: an order is still open work-up when it is undated, due in the
// future, or dated within the policy's open-request window.
func (e *evaluation) open(dates []time.Time) bool {
	known := false
	for _, t := range dates {
		if t.IsZero() {
			continue
		}
		known = true
		if t.After(e.now) || e.within(t, months(e.p.Windows.OpenRequestMonths)) {
			return true
		}
	}
	return !known
}

// attended: the patient has been seen for this referral: an encounter
// answers it (basedOn), or one with the referred specialty happened on or
// after the day it was made.
func (e *evaluation) attended(sr *r4.ServiceRequest) bool {
	ref := fhir.RefTo("ServiceRequest", sr.Id)
	want, _, known := e.specialtyOf(sr.PerformerType)
	made := fhir.RequestDate(sr, e.loc)
	for i := range e.h.Encounters {
		en := &e.h.Encounters[i]
		if !encounterHappened(en) {
			continue
		}
		if slices.ContainsFunc(en.BasedOn, func(r r4.Reference) bool { return e.ix.key(r) == ref }) {
			return true
		}
		if got, _, ok := e.specialtyOf(en.ServiceType); known && ok && got == want && !made.IsZero() &&
			!fhir.EncounterDate(en, e.loc).Before(startOfDay(made)) {
			return true
		}
	}
	return false
}

// excludeReviewRequested: the whole-person review Balint suggests was
// requested (a draft, active or completed request in the screening
// window): the card has done its work, and the request is not work-up.
func (e *evaluation) excludeReviewRequested() {
	var refs []string
	for i := range e.h.ServiceRequests {
		sr := &e.h.ServiceRequests[i]
		switch sr.Status {
		case r4.RequestStatusDraft, r4.RequestStatusActive, r4.RequestStatusOnHold, r4.RequestStatusCompleted:
		default:
			continue
		}
		if e.isReview(sr) && e.since(fhir.RequestDate(sr, e.loc), months(e.p.Windows.ScreeningMonths)) {
			refs = append(refs, fhir.RefTo("ServiceRequest", sr.Id))
		}
	}
	e.excludeFound(ExclReviewRequested, refs)
}

func (e *evaluation) isReview(sr *r4.ServiceRequest) bool {
	review := e.p.sets.review
	return review.concept(sr.Code) || review.coded(sr.Category...)
}

// excludeMentalHealthCare: mental-health care in the last 12 months, as an
// encounter (its type or service type, CBT as an encounter type), a
// referral or a therapy procedure; and ongoing therapy: a referral still
// active whenever it was made, or encounters in the window that answer a
// referral made before it.
func (e *evaluation) excludeMentalHealthCare() {
	refs := e.careRefs(months(e.p.Windows.MentalHealthMonths), careCodes{
		encounter: e.mentalHealth, request: e.mentalHealth, basedOn: true,
		procedure: e.p.sets.mentalHealthReferrals.concept,
	})
	for i := range e.h.ServiceRequests {
		sr := &e.h.ServiceRequests[i]
		if (sr.Status == r4.RequestStatusActive || sr.Status == r4.RequestStatusOnHold) && anyConcept(e.mentalHealth, requestConcepts(sr)) {
			refs = append(refs, fhir.RefTo("ServiceRequest", sr.Id))
		}
	}
	slices.Sort(refs)
	e.excludeFound(ExclMentalHealth, slices.Compact(refs))
}

// mentalHealth: a concept naming a mental-health service or specialty.
func (e *evaluation) mentalHealth(cc *r4.CodeableConcept) bool {
	return e.p.sets.mentalHealthReferrals.concept(cc) || e.p.sets.mentalHealthSpecialties.concept(cc)
}

// excludeRecentReview: a review already done in the last 6 months: PHQ-15,
// PHQ-9, GAD-7 or a screening assessment, recorded as a procedure or as an
// observation.
func (e *evaluation) excludeRecentReview() {
	window, screening := months(e.p.Windows.ScreeningMonths), e.p.sets.screening
	var refs []string
	for i := range e.h.Procedures {
		pr := &e.h.Procedures[i]
		if procedureHappened(pr) && screening.concept(pr.Code) && e.within(fhir.ProcedureDate(pr, e.loc), window) {
			refs = append(refs, fhir.RefTo("Procedure", pr.Id))
		}
	}
	for i := range e.h.Observations {
		o := &e.h.Observations[i]
		if usableObservation(o) && screening.concept(&o.Code) && e.within(fhir.ObservationDate(o, e.loc), window) {
			refs = append(refs, fhir.RefTo("Observation", o.Id))
		}
	}
	e.excludeFound(ExclRecentScreening, refs)
}

// excludeUnreadable: an entry that could not be read, of a type that can
// carry an exclusion (a cancer, an open order, an abnormal result...),
// when the policy says so.
func (e *evaluation) excludeUnreadable() {
	u := e.p.Unreadable
	if u.Action != UnreadableExclude {
		return
	}
	var refs []string
	for _, s := range e.d.Unread {
		if slices.Contains(u.ResourceTypes, s.ResourceType) {
			refs = append(refs, s.ResourceType+"/"+s.ID)
		}
	}
	slices.Sort(refs)
	e.excludeFound(ExclUnreadable, slices.Compact(refs))
}

// excludeDismissed: the card was dismissed for this patient recently (the
// snooze comes from feedback, outside the record).
func (e *evaluation) excludeDismissed(snoozedUntil time.Time) {
	if snoozedUntil.After(e.now) {
		e.exclude(ExclDismissed)
	}
}

// since: t is within the window before now, or the window is 0 (any time
// up to now), or t is unknown (a doubt, resolved toward the exclusion).
func (e *evaluation) since(t time.Time, window time.Duration) bool {
	if t.IsZero() {
		return true
	}
	if window == 0 {
		return !t.After(e.now)
	}
	return e.within(t, window)
}

func encounterConcepts(en *r4.Encounter) []*r4.CodeableConcept {
	out := []*r4.CodeableConcept{en.ServiceType}
	for i := range en.Type {
		out = append(out, &en.Type[i])
	}
	return out
}

func requestConcepts(sr *r4.ServiceRequest) []*r4.CodeableConcept {
	return []*r4.CodeableConcept{sr.Code, sr.PerformerType}
}

func anyConcept(match func(*r4.CodeableConcept) bool, ccs []*r4.CodeableConcept) bool {
	return slices.ContainsFunc(ccs, match)
}

// requestDates are every date an order carries: when it was written and
// when it is to happen.
func requestDates(sr *r4.ServiceRequest, loc *time.Location) []time.Time {
	vals := []*string{sr.AuthoredOn, sr.OccurrenceDateTime}
	if p := sr.OccurrencePeriod; p != nil {
		vals = append(vals, p.Start, p.End)
	}
	if t := sr.OccurrenceTiming; t != nil {
		for i := range t.Event {
			vals = append(vals, &t.Event[i])
		}
	}
	var out []time.Time
	for _, v := range vals {
		if t, ok := fhir.Time(v, loc); ok {
			out = append(out, t)
		}
	}
	return out
}

// startOfDay is midnight of t's calendar day, in t's zone (the site's).
func startOfDay(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, t.Location())
}

func procedureHappened(pr *r4.Procedure) bool {
	return pr.Status == r4.EventStatusCompleted || pr.Status == r4.EventStatusInProgress
}

func refuted(c *r4.Condition) bool {
	return c.VerificationStatus != nil && hasCode(c.VerificationStatus, "refuted")
}

func hasStatus(c *r4.Condition, status string) bool {
	return c.ClinicalStatus != nil && hasCode(c.ClinicalStatus, status)
}
