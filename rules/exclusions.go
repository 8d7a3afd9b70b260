package rules

import (
	"maps"
	"slices"
	"time"

	r4 "github.com/samply/golang-fhir-models/fhir-models/fhir"

	"github.com/balint-health/balint/fhir"
)

// The exclusions, one function per clinical family, each applying one
// line of "Do not fire" in the clinical basis
// (../shared/docs/clinical-basis.md, section "Default rule"). They run in
// this fixed order, which is the order their reasons are listed in.
func (e *evaluation) exclusions(snoozedUntil time.Time) {
	e.excludeAge()
	e.excludePregnancy()
	e.excludeCancer()
	e.excludeHospice()
	e.excludeResults()
	e.excludeOpenWorkup()
	e.excludeMentalHealthCare()
	e.excludeRecentReview()
	e.excludeDismissed(snoozedUntil)
}

// excludeAge: "age < 18". An unknown or unreadable birth date is not an
// adult.
func (e *evaluation) excludeAge() {
	pt := e.h.Patient
	if pt == nil || pt.BirthDate == nil {
		e.exclude(ExclAgeUnknown)
		return
	}
	bd, ok := fhir.Time(pt.BirthDate)
	if !ok {
		e.exclude(ExclAgeUnknown, fhir.RefTo("Patient", pt.Id))
		return
	}
	e.d.Features.Age = fhir.Age(bd, e.now)
	if e.d.Features.Age < e.p.Thresholds.MinAge {
		e.exclude(ExclAgeUnderMin, fhir.RefTo("Patient", pt.Id))
	}
}

// excludePregnancy: "pregnancy in the last 12 months".
func (e *evaluation) excludePregnancy() {
	var refs []string
	for i := range e.h.Conditions {
		c := &e.h.Conditions[i]
		if c.Code != nil && containsAny(e.p.Codes.Pregnancy, fhir.CodesOf(*c.Code)) &&
			(active(c) || e.within(fhir.ConditionDate(c), months(e.p.Windows.PregnancyMonths))) {
			refs = append(refs, fhir.RefTo("Condition", c.Id))
		}
	}
	e.excludeFound(ExclPregnancy, refs)
}

// excludeCancer: "active cancer".
func (e *evaluation) excludeCancer() {
	var refs []string
	for i := range e.h.Conditions {
		c := &e.h.Conditions[i]
		if c.Code != nil && containsAny(e.p.Codes.Cancer, fhir.CodesOf(*c.Code)) && active(c) {
			refs = append(refs, fhir.RefTo("Condition", c.Id))
		}
	}
	e.excludeFound(ExclCancer, refs)
}

// excludeHospice: "hospice care", seen as an encounter, a referral or a
// procedure.
func (e *evaluation) excludeHospice() {
	hospice := e.p.Codes.Hospice
	e.excludeFound(ExclHospice, e.careRefs(months(e.p.Windows.HospiceMonths), careCodes{
		encounters: hospice, procedures: hospice,
		request: func(cs []string) bool { return containsAny(hospice, cs) },
	}))
}

// careCodes say which encounters, requests and procedures are a kind of
// care.
type careCodes struct {
	encounters []string // type or service type
	request    func(codes []string) bool
	procedures []string
}

// careRefs are the encounters that happened, requests placed and
// procedures done within the window that are this kind of care.
func (e *evaluation) careRefs(window time.Duration, care careCodes) []string {
	var refs []string
	for i := range e.h.Encounters {
		en := &e.h.Encounters[i]
		if encounterHappened(en) && containsAny(care.encounters, encounterCodes(en)) && e.within(fhir.EncounterDate(en), window) {
			refs = append(refs, fhir.RefTo("Encounter", en.Id))
		}
	}
	for i := range e.h.ServiceRequests {
		sr := &e.h.ServiceRequests[i]
		if care.request(requestCodes(sr)) && countsAsDone(sr.Status) && e.within(fhir.RequestDate(sr), window) {
			refs = append(refs, fhir.RefTo("ServiceRequest", sr.Id))
		}
	}
	for i := range e.h.Procedures {
		pr := &e.h.Procedures[i]
		if procedureHappened(pr) && containsAny(care.procedures, fhir.CodesOf(fhir.Concepts(pr.Code)...)) && e.within(fhir.ProcedureDate(pr), window) {
			refs = append(refs, fhir.RefTo("Procedure", pr.Id))
		}
	}
	return refs
}

// excludeResults: "any critical result or abnormal result not followed by
// a normal repeat". Pending reports are open work-up, not results.
func (e *evaluation) excludeResults() {
	var critical, unresolved []string
	lastAbn := map[string]Investigation{}
	lastNormal := map[string]time.Time{}
	for _, inv := range e.d.Investigations {
		if inv.Pending {
			continue
		}
		switch inv.Verdict {
		case Critical:
			critical = append(critical, inv.Ref)
		case Abnormal:
			if !inv.Monitoring {
				lastAbn[inv.key()] = inv
			}
		case Normal:
			lastNormal[inv.key()] = inv.Date
		}
	}
	for _, k := range slices.Sorted(maps.Keys(lastAbn)) {
		if inv := lastAbn[k]; !lastNormal[k].After(inv.Date) {
			unresolved = append(unresolved, inv.Ref)
		}
	}
	e.excludeFound(ExclCritical, critical)
	e.excludeFound(ExclUnresolved, unresolved)
}

// excludeOpenWorkup: "a diagnostic request still open (work-up in
// progress)": an open diagnostic order, or a recent report not yet final.
func (e *evaluation) excludeOpenWorkup() {
	p := e.p
	var refs []string
	for i := range e.h.ServiceRequests {
		sr := &e.h.ServiceRequests[i]
		t := fhir.RequestDate(sr)
		if (sr.Status == r4.RequestStatusActive || sr.Status == r4.RequestStatusOnHold) && !e.isReferral(sr) && !e.mentalHealthCodes(requestCodes(sr)) &&
			!forActiveCondition(sr.ReasonReference, sr.ReasonCode, e.ix) &&
			(t.IsZero() || e.within(t, months(p.Windows.OpenRequestMonths))) {
			refs = append(refs, fhir.RefTo("ServiceRequest", sr.Id))
		}
	}
	for _, inv := range e.d.Investigations {
		if inv.Pending && e.within(inv.Date, days(p.Windows.PendingReportDays)) {
			refs = append(refs, inv.Ref)
		}
	}
	e.excludeFound(ExclOpenWorkup, refs)
}

// excludeMentalHealthCare: "mental-health care in the last 12 months", as
// an encounter, a referral or a therapy procedure.
func (e *evaluation) excludeMentalHealthCare() {
	e.excludeFound(ExclMentalHealth, e.careRefs(months(e.p.Windows.MentalHealthMonths), careCodes{
		encounters: e.p.Codes.MentalHealthSpecialties, procedures: e.p.Codes.MentalHealthReferrals,
		request: e.mentalHealthCodes,
	}))
}

// excludeRecentReview: "a review already done in the last 6 months":
// PHQ-15, PHQ-9, GAD-7 or a screening assessment, as a procedure or an
// observation.
func (e *evaluation) excludeRecentReview() {
	p, window := e.p, months(e.p.Windows.ScreeningMonths)
	var refs []string
	for i := range e.h.Procedures {
		pr := &e.h.Procedures[i]
		if procedureHappened(pr) && containsAny(p.Codes.ScreeningProcedures, fhir.CodesOf(fhir.Concepts(pr.Code)...)) && e.within(fhir.ProcedureDate(pr), window) {
			refs = append(refs, fhir.RefTo("Procedure", pr.Id))
		}
	}
	for i := range e.h.Observations {
		o := &e.h.Observations[i]
		if usableObservation(o) && containsAny(p.Codes.ScreeningObservations, fhir.CodesOf(o.Code)) && e.within(fhir.ObservationDate(o), window) {
			refs = append(refs, fhir.RefTo("Observation", o.Id))
		}
	}
	e.excludeFound(ExclRecentScreening, refs)
}

// excludeDismissed: "the card was dismissed for this patient in the last 6
// months" (the snooze comes from feedback, outside the record).
func (e *evaluation) excludeDismissed(snoozedUntil time.Time) {
	if snoozedUntil.After(e.now) {
		e.exclude(ExclDismissed)
	}
}

// mentalHealthCodes: a referral to mental-health care names the service
// or the specialty.
func (e *evaluation) mentalHealthCodes(cs []string) bool {
	return containsAny(e.p.Codes.MentalHealthReferrals, cs) || containsAny(e.p.Codes.MentalHealthSpecialties, cs)
}

// encounterCodes are an encounter's type and service type codes.
func encounterCodes(en *r4.Encounter) []string {
	return append(fhir.CodesOf(en.Type...), fhir.CodesOf(fhir.Concepts(en.ServiceType)...)...)
}

// requestCodes are a request's code and performer type codes.
func requestCodes(sr *r4.ServiceRequest) []string {
	return append(fhir.CodesOf(fhir.Concepts(sr.Code)...), fhir.CodesOf(fhir.Concepts(sr.PerformerType)...)...)
}

func procedureHappened(pr *r4.Procedure) bool {
	return pr.Status == r4.EventStatusCompleted || pr.Status == r4.EventStatusInProgress
}
