package rules

import (
	"maps"
	"slices"
	"sort"
	"time"

	r4 "github.com/samply/golang-fhir-models/fhir-models/fhir"

	"github.com/balint-health/balint/fhir"
)

// Reason kinds.
const (
	KindCriterion = "criterion"
	KindExclusion = "exclusion"
)

// Reason codes. Stable: logs, metrics and dashboards use them.
const (
	CritNormalInvestigations = "normal_investigations"
	CritBodySystems          = "body_systems"
	CritPersistence          = "persistence"
	CritSpecialties          = "specialties"
	CritPrimaryCare          = "primary_care"
	CritSpread               = "specialties_or_primary_care"
	CritExtra                = "extra_criterion"

	ExclAgeUnderMin     = "age_under_min"
	ExclAgeUnknown      = "age_unknown"
	ExclPregnancy       = "pregnancy"
	ExclCancer          = "active_cancer"
	ExclHospice         = "hospice"
	ExclCritical        = "critical_result"
	ExclUnresolved      = "unresolved_abnormal"
	ExclOpenWorkup      = "open_workup"
	ExclMentalHealth    = "mental_health_care"
	ExclRecentScreening = "recent_screening"
	ExclDismissed       = "dismissed"
)

// Reason is one criterion checked or one exclusion hit, with the resources
// it rests on. Criteria are always listed; exclusions only when hit.
type Reason struct {
	Code      string   `json:"code"`
	Kind      string   `json:"kind"`
	Met       bool     `json:"met"`
	Value     int      `json:"value"`
	Threshold int      `json:"threshold,omitempty"`
	Refs      []string `json:"refs,omitempty"`
	// Expr is the CEL text of an extra criterion.
	Expr string `json:"expr,omitempty"`
}

// Features are the numbers the rule (and CEL criteria) read.
type Features struct {
	Age             int `json:"age"`
	NormalCounted   int `json:"normalCounted"`
	Abnormal        int `json:"abnormal"`
	Critical        int `json:"critical"`
	Unknown         int `json:"unknown"`
	Total           int `json:"total"`
	Systems         int `json:"systems"`
	Specialties     int `json:"specialties"`
	PrimaryCare     int `json:"primaryCare"`
	PersistenceDays int `json:"persistenceDays"`
}

func (f Features) vars() map[string]any {
	return map[string]any{
		"investigations": map[string]int64{"normal": int64(f.NormalCounted), "abnormal": int64(f.Abnormal),
			"critical": int64(f.Critical), "unknown": int64(f.Unknown), "total": int64(f.Total)},
		"systems":      map[string]int64{"count": int64(f.Systems)},
		"specialties":  map[string]int64{"count": int64(f.Specialties)},
		"primary_care": map[string]int64{"count": int64(f.PrimaryCare)},
		"patient":      map[string]int64{"age": int64(f.Age)},
		"persistence":  map[string]int64{"days": int64(f.PersistenceDays)},
	}
}

// Specialty is one specialty the patient was referred to or seen by.
type Specialty struct {
	Code    string    `json:"code"`
	Display string    `json:"display"`
	First   time.Time `json:"first"`
	Refs    []string  `json:"refs"`
}

// Encounter is a dated encounter, for the evidence timeline.
type Encounter struct {
	Ref         string    `json:"ref"`
	Date        time.Time `json:"date"`
	PrimaryCare bool      `json:"primaryCare"`
}

// Input is everything the decision depends on.
type Input struct {
	History *fhir.History
	Now     time.Time
	// SnoozedUntil: the card was overridden for this patient until then.
	SnoozedUntil time.Time
}

// Decision is the outcome with its explanation.
type Decision struct {
	Fire     bool     `json:"fire"`
	Reasons  []Reason `json:"reasons"`
	Features Features `json:"features"`
	// Counted are the normal investigations that counted, oldest first.
	Counted []Investigation `json:"counted"`
	// Investigations are all episodes in the investigation window.
	Investigations []Investigation `json:"investigations"`
	Specialties    []Specialty     `json:"specialties"`
	Encounters     []Encounter     `json:"encounters"`
	WindowStart    time.Time       `json:"windowStart"`
	Now            time.Time       `json:"now"`
}

// Exclusions returns the codes of the exclusions hit.
func (d *Decision) Exclusions() []string {
	var out []string
	for _, r := range d.Reasons {
		if r.Kind == KindExclusion && r.Met {
			out = append(out, r.Code)
		}
	}
	return out
}

// Unmet returns the codes of the criteria not met.
func (d *Decision) Unmet() []string {
	var out []string
	for _, r := range d.Reasons {
		if r.Kind == KindCriterion && !r.Met {
			out = append(out, r.Code)
		}
	}
	return out
}

// Reason returns the reason with this code, if listed.
func (d *Decision) Reason(code string) (Reason, bool) {
	for _, r := range d.Reasons {
		if r.Code == code {
			return r, true
		}
	}
	return Reason{}, false
}

type evaluation struct {
	p   *Policy
	now time.Time
	h   *fhir.History
	ix  *index
	d   *Decision
}

func (e *evaluation) within(t time.Time, window time.Duration) bool {
	return !t.IsZero() && !t.After(e.now) && !t.Before(e.now.Add(-window))
}

// exclude records an exclusion hit, with the references it rests on.
func (e *evaluation) exclude(code string, refs ...string) {
	e.d.Reasons = append(e.d.Reasons, Reason{Code: code, Kind: KindExclusion, Met: true, Refs: refs})
}

// excludeFound records an exclusion that rests on resources, when some
// were found.
func (e *evaluation) excludeFound(code string, refs []string) {
	if len(refs) > 0 {
		e.exclude(code, refs...)
	}
}

func (e *evaluation) criterion(code string, value, threshold int, refs []string) bool {
	met := value >= threshold
	e.d.Reasons = append(e.d.Reasons, Reason{Code: code, Kind: KindCriterion, Met: met, Value: value, Threshold: threshold, Refs: refs})
	return met
}

// Evaluate applies the policy to one history at now. Deterministic and
// linear in the history's size.
func Evaluate(p *Policy, in Input) Decision {
	h := in.History
	if h == nil {
		h = fhir.NewHistory()
	}
	e := &evaluation{p: p, now: in.Now.UTC(), h: h, ix: newIndex(h), d: &Decision{Now: in.Now.UTC()}}
	e.d.WindowStart = e.now.Add(-months(p.Windows.InvestigationsMonths))

	invs := investigations(h, p, e.ix)
	for _, inv := range invs {
		if e.within(inv.Date, months(p.Windows.InvestigationsMonths)) {
			e.d.Investigations = append(e.d.Investigations, inv)
		}
	}
	e.count()
	e.spread()
	e.exclusions(in.SnoozedUntil)

	fire := true
	for _, r := range e.d.Reasons {
		if (r.Kind == KindCriterion && !r.Met && r.Code != CritSpecialties && r.Code != CritPrimaryCare) ||
			(r.Kind == KindExclusion && r.Met) {
			fire = false
		}
	}
	for i, c := range p.extra {
		ok, err := c.eval(e.d.Features)
		r := Reason{Code: CritExtra, Kind: KindCriterion, Met: ok && err == nil, Value: i, Expr: c.expr}
		e.d.Reasons = append(e.d.Reasons, r)
		if !r.Met {
			fire = false
		}
	}
	e.d.Fire = fire
	return *e.d
}

// count applies the counting rules: in window, not monitoring, not pending,
// normal, the same test within same_test_days once.
func (e *evaluation) count() {
	p, d := e.p, e.d
	last := map[string]time.Time{}
	systems := map[string]bool{}
	var refs []string
	for _, inv := range d.Investigations {
		if inv.Monitoring || inv.Pending {
			continue
		}
		d.Features.Total++
		switch inv.Verdict {
		case Abnormal:
			d.Features.Abnormal++
			continue
		case Critical:
			d.Features.Critical++
			continue
		case Unknown:
			d.Features.Unknown++
			continue
		}
		k := inv.key()
		if t, ok := last[k]; ok && inv.Date.Sub(t) < days(p.Windows.SameTestDays) {
			continue
		}
		last[k] = inv.Date
		d.Counted = append(d.Counted, inv)
		systems[inv.System] = true
		refs = append(refs, inv.Ref)
	}
	d.Features.NormalCounted = len(d.Counted)
	d.Features.Systems = len(systems)
	e.criterion(CritNormalInvestigations, len(d.Counted), p.Thresholds.NormalInvestigations, refs)
	e.criterion(CritBodySystems, len(systems), p.Thresholds.BodySystems, refs)
	span := 0
	if n := len(d.Counted); n > 1 {
		span = int(d.Counted[n-1].Date.Sub(d.Counted[0].Date) / (24 * time.Hour))
	}
	d.Features.PersistenceDays = span
	need := int(months(p.Thresholds.PersistenceMonths) / (24 * time.Hour))
	var prefs []string
	if n := len(d.Counted); n > 1 {
		prefs = []string{d.Counted[0].Ref, d.Counted[n-1].Ref}
	}
	e.criterion(CritPersistence, span, need, prefs)
}

// spread: specialties seen or referred to, and primary-care encounters.
func (e *evaluation) spread() {
	p, d := e.p, e.d
	specs := map[string]*Specialty{}
	addSpec := func(cc []r4.CodeableConcept, date time.Time, ref string) {
		for _, c := range cc {
			for _, code := range fhir.Codings(&c) {
				if contains(p.Codes.PrimaryCareSpecialties, code.Code) || contains(p.Codes.MentalHealthSpecialties, code.Code) {
					continue
				}
				s := specs[code.Code]
				if s == nil {
					s = &Specialty{Code: code.Code, Display: code.Display, First: date}
					specs[code.Code] = s
				}
				if date.Before(s.First) {
					s.First = date
				}
				s.Refs = append(s.Refs, ref)
			}
		}
	}
	for i := range e.h.ServiceRequests {
		sr := &e.h.ServiceRequests[i]
		if !e.isReferral(sr) || !countsAsDone(sr.Status) {
			continue
		}
		if t := fhir.RequestDate(sr); e.within(t, months(p.Windows.SpecialtiesMonths)) && sr.PerformerType != nil {
			addSpec([]r4.CodeableConcept{*sr.PerformerType}, t, fhir.RefTo("ServiceRequest", sr.Id))
		}
	}
	var pcRefs []string
	for i := range e.h.Encounters {
		en := &e.h.Encounters[i]
		if !encounterHappened(en) {
			continue
		}
		t := fhir.EncounterDate(en)
		ref := fhir.RefTo("Encounter", en.Id)
		pc := en.ServiceType != nil && containsAny(p.Codes.PrimaryCareSpecialties, fhir.CodesOf(*en.ServiceType))
		if e.within(t, months(p.Windows.InvestigationsMonths)) {
			d.Encounters = append(d.Encounters, Encounter{Ref: ref, Date: t, PrimaryCare: pc})
		}
		if pc {
			if e.within(t, months(p.Windows.PrimaryCareMonths)) {
				pcRefs = append(pcRefs, ref)
			}
			continue
		}
		if en.ServiceType != nil && e.within(t, months(p.Windows.SpecialtiesMonths)) {
			addSpec([]r4.CodeableConcept{*en.ServiceType}, t, ref)
		}
	}
	var sRefs []string
	for _, code := range slices.Sorted(maps.Keys(specs)) {
		d.Specialties = append(d.Specialties, *specs[code])
		sRefs = append(sRefs, specs[code].Refs...)
	}
	sort.SliceStable(d.Specialties, func(a, b int) bool { return d.Specialties[a].First.Before(d.Specialties[b].First) })
	sort.SliceStable(d.Encounters, func(a, b int) bool { return d.Encounters[a].Date.Before(d.Encounters[b].Date) })
	d.Features.Specialties = len(specs)
	d.Features.PrimaryCare = len(pcRefs)
	a := e.criterion(CritSpecialties, len(specs), p.Thresholds.Specialties, sRefs)
	b := e.criterion(CritPrimaryCare, len(pcRefs), p.Thresholds.PrimaryCareEncounters, pcRefs)
	met := 0
	if a || b {
		met = 1
	}
	e.criterion(CritSpread, met, 1, nil)
}

func (e *evaluation) isReferral(sr *r4.ServiceRequest) bool {
	return containsAny(e.p.Codes.ReferralCategories, fhir.CodesOf(sr.Category...))
}

func countsAsDone(s r4.RequestStatus) bool {
	return s == r4.RequestStatusActive || s == r4.RequestStatusCompleted || s == r4.RequestStatusOnHold
}

func encounterHappened(en *r4.Encounter) bool {
	switch en.Status {
	case r4.EncounterStatusPlanned, r4.EncounterStatusCancelled, r4.EncounterStatusEnteredInError, r4.EncounterStatusUnknown:
		return false
	}
	return true
}
