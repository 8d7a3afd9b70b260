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
	ExclReviewRequested = "review_requested"
	ExclUnreadable      = "unreadable_record"
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
	// Specialty names the service, when the record codes one.
	Specialty string `json:"specialty,omitempty"`
}

// Input is everything the decision depends on.
type Input struct {
	History *fhir.History
	Now     time.Time
	// Zone is the site's time zone (BALINT_TIMEZONE): date-only values are
	// its calendar days. Nil is UTC.
	Zone *time.Location
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
	// Unread are the entries of the record that could not be read (not
	// those of resource types the rule does not use): the card then says
	// the record was not read whole.
	Unread      []fhir.Skipped `json:"unread,omitempty"`
	WindowStart time.Time      `json:"windowStart"`
	Now         time.Time      `json:"now"`
}

// Checked reports whether every result and entry the decision rests on
// could be read: no unread entry and no result of unknown normality. Only
// then may a card say that nothing abnormal or open was found.
func (d *Decision) Checked() bool { return len(d.Unread) == 0 && d.Features.Unknown == 0 }

// Exclusions returns the codes of the exclusions that apply.
func (d *Decision) Exclusions() []string { return d.codes(KindExclusion, true) }

// Met returns the codes of the criteria met.
func (d *Decision) Met() []string { return d.codes(KindCriterion, true) }

// Unmet returns the codes of the criteria not met.
func (d *Decision) Unmet() []string { return d.codes(KindCriterion, false) }

func (d *Decision) codes(kind string, met bool) []string {
	var out []string
	for _, r := range d.Reasons {
		if r.Kind == kind && r.Met == met {
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
	*reader
	h *fhir.History
	d *Decision
	// all are the investigations the decision reads, in date order: every
	// report and procedure, and the lab groups within the window or
	// pending at any date (a pending report or result may be undated).
	all []Investigation
}

// within: t is known, not in the future, and no older than window.
func (r *reader) within(t time.Time, window time.Duration) bool {
	return !t.IsZero() && !t.After(r.now) && !t.Before(r.now.Add(-window))
}

// inInvestigationsWindow: t is within the window investigations are
// counted in. Which lab groups are read (current) and which are shown
// (windowed) must agree, so both ask this.
func (r *reader) inInvestigationsWindow(t time.Time) bool {
	return r.within(t, months(r.p.Windows.InvestigationsMonths))
}

// windowed are the investigations within the investigations window. all
// is in date order, so they are one run of it, shared rather than copied
// (a long record has thousands); capped, so that appending to them never
// writes over the rest of all.
func (e *evaluation) windowed() []Investigation {
	lo := 0
	for lo < len(e.all) && !e.inInvestigationsWindow(e.all[lo].Date) {
		lo++
	}
	hi := lo
	for hi < len(e.all) && e.inInvestigationsWindow(e.all[hi].Date) {
		hi++
	}
	if lo == hi {
		return nil // as none were ever appended
	}
	return e.all[lo:hi:hi]
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
	loc := in.Zone
	if loc == nil {
		loc = time.UTC
	}
	now := in.Now.In(loc)
	r := &reader{p: p, ix: newIndex(h), loc: loc, now: now, pt: h.Patient}
	e := &evaluation{reader: r, h: h, d: &Decision{Now: now}}
	e.d.WindowStart = now.Add(-months(p.Windows.InvestigationsMonths))
	for _, s := range h.Skipped {
		if s.Reason != fhir.ReasonUnusedType {
			e.d.Unread = append(e.d.Unread, s)
		}
	}

	e.all = r.investigations(h)
	e.d.Investigations = e.windowed()
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
	// last is when each code was last counted: the same test is any
	// shared code, not only the first.
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
		keys := inv.keys()
		if slices.ContainsFunc(keys, func(k string) bool {
			t, ok := last[k]
			return ok && inv.Date.Sub(t) < days(p.Windows.SameTestDays)
		}) {
			continue
		}
		for _, k := range keys {
			last[k] = inv.Date
		}
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
	addSpec := func(cc *r4.CodeableConcept, date time.Time, ref string) {
		code, name, ok := e.specialtyOf(cc)
		if !ok {
			return
		}
		sp := specs[code]
		if sp == nil {
			sp = &Specialty{Code: code, Display: name, First: date}
			specs[code] = sp
		}
		if date.Before(sp.First) {
			sp.First = date
		}
		if !slices.Contains(sp.Refs, ref) {
			sp.Refs = append(sp.Refs, ref)
		}
	}
	window := months(p.Windows.SpecialtiesMonths)
	for i := range e.h.ServiceRequests {
		sr := &e.h.ServiceRequests[i]
		if !e.isReferral(sr) || !countsAsDone(sr.Status) {
			continue
		}
		if t := fhir.RequestDate(sr, e.loc); e.within(t, window) {
			ref := fhir.RefTo("ServiceRequest", sr.Id)
			addSpec(sr.PerformerType, t, ref)
			for _, role := range e.roles(sr.Performer) {
				for j := range role.Specialty {
					addSpec(&role.Specialty[j], t, ref)
				}
			}
		}
	}
	var pcRefs []string
	for i := range e.h.Encounters {
		en := &e.h.Encounters[i]
		if !encounterHappened(en) {
			continue
		}
		t := fhir.EncounterDate(en, e.loc)
		ref := fhir.RefTo("Encounter", en.Id)
		pc := en.ServiceType != nil && p.sets.primaryCare.coded(*en.ServiceType)
		if e.inInvestigationsWindow(t) {
			enc := Encounter{Ref: ref, Date: t, PrimaryCare: pc}
			if en.ServiceType != nil {
				enc.Specialty = fhir.Display(en.ServiceType)
			}
			d.Encounters = append(d.Encounters, enc)
		}
		if pc {
			if e.within(t, months(p.Windows.PrimaryCareMonths)) {
				pcRefs = append(pcRefs, ref)
			}
			continue
		}
		if !e.within(t, window) {
			continue
		}
		addSpec(en.ServiceType, t, ref)
		var who []r4.Reference
		for _, pa := range en.Participant {
			if pa.Individual != nil {
				who = append(who, *pa.Individual)
			}
		}
		for _, role := range e.roles(who) {
			for j := range role.Specialty {
				addSpec(&role.Specialty[j], t, ref)
			}
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

// specialtyOf names the one specialty a concept stands for, however many
// codings name it: the policy's name for the first coding it maps, else
// the first code. Primary care, mental health, radiology, pathology and
// hospice are not specialties for this count.
func (e *evaluation) specialtyOf(cc *r4.CodeableConcept) (code, name string, ok bool) {
	codings := fhir.Codings(cc)
	if len(codings) == 0 {
		return "", "", false
	}
	s := e.p.sets
	for _, c := range codings {
		if s.primaryCare.has(c.Code) || s.mentalHealthSpecialties.has(c.Code) || s.mentalHealthReferrals.has(c.Code) ||
			s.notSpecialties.has(c.Code) || s.hospice.has(c.Code) {
			return "", "", false
		}
	}
	for _, c := range codings {
		if n, ok := e.p.specialty[c.Code]; ok {
			return n, n, true
		}
	}
	return codings[0].Code, codings[0].Display, true
}

// roles are the PractitionerRoles the references name that the record
// holds.
func (e *evaluation) roles(refs []r4.Reference) []*r4.PractitionerRole {
	var out []*r4.PractitionerRole
	for _, ref := range refs {
		if r := fhir.Lookup[r4.PractitionerRole](e.ix.Index, fhir.Ref(ref)); r != nil {
			out = append(out, r)
		}
	}
	return out
}

func (e *evaluation) isReferral(sr *r4.ServiceRequest) bool {
	return e.p.sets.referralCategories.coded(sr.Category...)
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
