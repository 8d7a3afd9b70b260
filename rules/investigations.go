package rules

import (
	"fmt"
	"slices"
	"strings"
	"time"

	r4 "github.com/samply/golang-fhir-models/fhir-models/fhir"

	"github.com/balint-health/balint/fhir"
)

// Verdict is an investigation's normality.
type Verdict string

const (
	Normal   Verdict = "normal"
	Abnormal Verdict = "abnormal"
	Critical Verdict = "critical"
	Unknown  Verdict = "unknown"
)

// Investigation is one test episode: a report with its analytes, a group of
// loose lab results, or a diagnostic procedure.
type Investigation struct {
	// Ref is the resource the episode is named by ("DiagnosticReport/1").
	Ref string `json:"ref"`
	// Refs are every resource it rests on (report, analytes, procedure).
	Refs    []string    `json:"refs"`
	Codes   []fhir.Code `json:"codes"`
	Display string      `json:"display"`
	Date    time.Time   `json:"date"`
	// System is the body system or category it counts under.
	System  string  `json:"system"`
	Kind    string  `json:"kind"` // lab | imaging | procedure
	Verdict Verdict `json:"verdict"`
	// Evidence says, per analyte or conclusion, why the verdict.
	Evidence []string `json:"evidence"`
	// Pending: preliminary, partial or registered; never normal.
	Pending bool `json:"pending,omitempty"`
	// Monitoring: ordered for an active condition; never counted.
	Monitoring bool `json:"monitoring,omitempty"`
}

// key identifies "the same test" for the 30-day rule.
func (i *Investigation) key() string {
	if len(i.Codes) == 0 {
		return i.Ref
	}
	return i.Codes[0].System + "|" + i.Codes[0].Code
}

// SameTest reports whether two investigations share a coding.
func (i *Investigation) SameTest(codes []fhir.Code) bool {
	for _, a := range i.Codes {
		for _, b := range codes {
			if a.Code == b.Code && (a.System == b.System || a.System == "" || b.System == "") {
				return true
			}
		}
	}
	return false
}

// index finds the resources that references name.
type index struct {
	fhir.Index
	conditions []r4.Condition
}

func newIndex(h *fhir.History) *index { return &index{fhir.NewIndex(h), h.Conditions} }

func (ix *index) observation(ref string) *r4.Observation {
	return fhir.Lookup[r4.Observation](ix.Index, ref)
}

func (ix *index) request(ref string) *r4.ServiceRequest {
	return fhir.Lookup[r4.ServiceRequest](ix.Index, ref)
}

func (ix *index) condition(ref string) *r4.Condition {
	return fhir.Lookup[r4.Condition](ix.Index, ref)
}

// Investigations lists the history's investigation episodes, oldest first.
// It is linear in the size of the history.
func Investigations(h *fhir.History, p *Policy) []Investigation {
	return investigations(h, p, newIndex(h))
}

func investigations(h *fhir.History, p *Policy, ix *index) []Investigation {
	var out []Investigation
	member := map[string]bool{}
	for i := range h.DiagnosticReports {
		for _, r := range h.DiagnosticReports[i].Result {
			member[fhir.Ref(r)] = true
		}
	}
	for i := range h.Observations {
		for _, r := range h.Observations[i].HasMember {
			member[fhir.Ref(r)] = true
		}
	}
	byReport := map[string]int{}
	for i := range h.DiagnosticReports {
		dr := &h.DiagnosticReports[i]
		if dr.Status == r4.DiagnosticReportStatusCancelled || dr.Status == r4.DiagnosticReportStatusEnteredInError {
			continue
		}
		inv := reportInvestigation(dr, p, ix)
		byReport[inv.Ref] = len(out)
		out = append(out, inv)
	}
	// Loose lab results: panels (hasMember) stand alone; the rest group by
	// order, else by category and day.
	groups := map[string][]*r4.Observation{}
	var order []string
	for i := range h.Observations {
		o := &h.Observations[i]
		ref := fhir.RefTo("Observation", o.Id)
		if member[ref] || !isLab(o, p) || !usableObservation(o) {
			continue
		}
		var g string
		switch {
		case len(o.HasMember) > 0:
			g = ref
		case len(o.BasedOn) > 0:
			g = fhir.Ref(o.BasedOn[0])
		default:
			g = "day:" + fhir.FirstCode(o.Category) + ":" + fhir.ObservationDate(o).Format("2006-01-02")
		}
		if _, ok := groups[g]; !ok {
			order = append(order, g)
		}
		groups[g] = append(groups[g], o)
	}
	for _, g := range order {
		out = append(out, groupInvestigation(g, groups[g], p, ix))
	}
	for i := range h.Procedures {
		pr := &h.Procedures[i]
		if pr.Status != r4.EventStatusCompleted || !isDiagnosticProcedure(pr, p) {
			continue
		}
		ref := fhir.RefTo("Procedure", pr.Id)
		linked := false
		for _, r := range pr.Report {
			if k, ok := byReport[fhir.Ref(r)]; ok {
				out[k].Refs = append(out[k].Refs, ref)
				out[k].Kind = "procedure"
				out[k].Codes = append(out[k].Codes, fhir.Codings(pr.Code)...)
				linked = true
			}
		}
		if linked {
			continue
		}
		out = append(out, Investigation{
			Ref: ref, Refs: []string{ref}, Codes: fhir.Codings(pr.Code), Display: fhir.Display(pr.Code),
			Date: fhir.ProcedureDate(pr), System: systemOf(fhir.Codings(pr.Code), fhir.CodesOf(fhir.Concepts(pr.Category)...), p),
			Kind: "procedure", Verdict: Unknown, Evidence: []string{"no report of this procedure in the record"},
			Monitoring: forActiveCondition(pr.ReasonReference, pr.ReasonCode, ix),
		})
	}
	// Unstable sort with a total order: O(n log n) moves of these large
	// values, and still deterministic.
	slices.SortFunc(out, func(a, b Investigation) int {
		if c := a.Date.Compare(b.Date); c != 0 {
			return c
		}
		return strings.Compare(a.Ref, b.Ref)
	})
	return out
}

func reportInvestigation(dr *r4.DiagnosticReport, p *Policy, ix *index) Investigation {
	ref := fhir.RefTo("DiagnosticReport", dr.Id)
	inv := Investigation{
		Ref: ref, Refs: []string{ref}, Codes: fhir.Codings(&dr.Code), Display: fhir.Display(&dr.Code),
		Date: fhir.ReportDate(dr), System: systemOf(fhir.Codings(&dr.Code), fhir.CodesOf(dr.Category...), p),
		Kind: "lab",
	}
	if len(dr.Result) == 0 {
		inv.Kind = "imaging"
	}
	switch dr.Status {
	case r4.DiagnosticReportStatusRegistered, r4.DiagnosticReportStatusPartial, r4.DiagnosticReportStatusPreliminary:
		inv.Pending = true
		inv.Verdict = Unknown
		inv.Evidence = []string{"report is " + dr.Status.Code() + ", not final"}
		return inv
	}
	inv.Monitoring = monitoring(dr.BasedOn, ix)
	if len(dr.Result) > 0 {
		var analytes []*r4.Observation
		for _, r := range dr.Result {
			o := ix.observation(fhir.Ref(r))
			if o == nil {
				inv.Evidence = append(inv.Evidence, "result "+fhir.Ref(r)+" is not in the record")
				inv.Verdict = Unknown
				continue
			}
			inv.Refs = append(inv.Refs, fhir.Ref(r))
			analytes = append(analytes, membersOf(o, ix)...)
		}
		v, ev := analyteVerdict(analytes, p)
		inv.Evidence = append(inv.Evidence, ev...)
		if inv.Verdict == "" {
			inv.Verdict = v
		} else {
			inv.Verdict = worst(inv.Verdict, v)
		}
		return inv
	}
	inv.Verdict, inv.Evidence = conclusionVerdict(dr, p)
	return inv
}

// membersOf expands a panel Observation into its members.
func membersOf(o *r4.Observation, ix *index) []*r4.Observation {
	if len(o.HasMember) == 0 {
		return []*r4.Observation{o}
	}
	var out []*r4.Observation
	for _, m := range o.HasMember {
		if mo := ix.observation(fhir.Ref(m)); mo != nil {
			out = append(out, mo)
		}
	}
	if len(out) == 0 {
		return []*r4.Observation{o}
	}
	return out
}

func groupInvestigation(g string, obs []*r4.Observation, p *Policy, ix *index) Investigation {
	first := obs[0]
	ref := fhir.RefTo("Observation", first.Id)
	inv := Investigation{Ref: ref, Kind: "lab", Date: fhir.ObservationDate(first)}
	var analytes []*r4.Observation
	for _, o := range obs {
		inv.Refs = append(inv.Refs, fhir.RefTo("Observation", o.Id))
		analytes = append(analytes, membersOf(o, ix)...)
		if d := fhir.ObservationDate(o); d.After(inv.Date) {
			inv.Date = d
		}
	}
	sr := ix.request(g)
	switch {
	case sr != nil && sr.Code != nil:
		inv.Codes, inv.Display = fhir.Codings(sr.Code), fhir.Display(sr.Code)
		inv.Refs = append(inv.Refs, g)
		inv.Monitoring = forActiveCondition(sr.ReasonReference, sr.ReasonCode, ix)
	case len(obs) == 1:
		inv.Codes, inv.Display = fhir.Codings(&first.Code), fhir.Display(&first.Code)
	default:
		var parts []string
		for _, o := range obs {
			parts = append(parts, fhir.Display(&o.Code))
		}
		inv.Codes = []fhir.Code{{Code: "group:" + g}}
		inv.Display = strings.Join(parts, ", ")
	}
	inv.System = systemOf(inv.Codes, fhir.CodesOf(first.Category...), p)
	inv.Verdict, inv.Evidence = analyteVerdict(analytes, p)
	for _, o := range obs {
		if o.Status == r4.ObservationStatusPreliminary || o.Status == r4.ObservationStatusRegistered {
			inv.Pending = true
		}
	}
	return inv
}

// analyteVerdict: critical beats abnormal beats unknown beats normal; no
// analytes at all is unknown.
func analyteVerdict(obs []*r4.Observation, p *Policy) (Verdict, []string) {
	if len(obs) == 0 {
		return Unknown, []string{"no results"}
	}
	v := Normal
	var ev []string
	for _, o := range obs {
		av, why := observationVerdict(o, p)
		ev = append(ev, fhir.Display(&o.Code)+": "+why)
		v = worst(v, av)
	}
	return v, ev
}

var rank = map[Verdict]int{Normal: 0, Unknown: 1, Abnormal: 2, Critical: 3}

func worst(a, b Verdict) Verdict {
	if rank[b] > rank[a] {
		return b
	}
	return a
}

func observationVerdict(o *r4.Observation, p *Policy) (Verdict, string) {
	switch o.Status {
	case r4.ObservationStatusFinal, r4.ObservationStatusAmended, r4.ObservationStatusCorrected:
	default:
		return Unknown, "status " + o.Status.Code()
	}
	if codes, ok := interpretations(o.Interpretation, p); ok {
		v := Normal
		for _, c := range codes {
			switch {
			case contains(p.Codes.CriticalInterpretations, c):
				v = worst(v, Critical)
			case contains(p.Codes.NormalInterpretations, c):
			default:
				v = worst(v, Abnormal)
			}
		}
		return v, "interpretation " + strings.Join(codes, ",")
	}
	q := o.ValueQuantity
	if q == nil || q.Value == nil {
		return Unknown, "no interpretation and no numeric value"
	}
	if q.Comparator != nil {
		return Unknown, "value has a comparator (" + q.Comparator.Code() + ")"
	}
	if len(o.ReferenceRange) == 0 || (o.ReferenceRange[0].Low == nil && o.ReferenceRange[0].High == nil) {
		return Unknown, "no interpretation and no reference range"
	}
	rr := o.ReferenceRange[0]
	val, ok := fhir.Decimal(q)
	if !ok {
		return Unknown, "value is not a number"
	}
	shown := fmt.Sprintf("%s %s", q.Value.String(), fhir.Unit(q))
	in := true
	for _, b := range []*r4.Quantity{rr.Low, rr.High} {
		if b == nil {
			continue
		}
		if !fhir.SameUnit(q, b) {
			return Unknown, fmt.Sprintf("%s: unit differs from the reference range (%s)", shown, fhir.Unit(b))
		}
		bv, ok := fhir.Decimal(b)
		if !ok {
			return Unknown, "reference range is not numeric"
		}
		if (b == rr.Low && val.Cmp(bv) < 0) || (b == rr.High && val.Cmp(bv) > 0) {
			in = false
		}
	}
	rng := fmt.Sprintf("%s-%s %s", fhir.DecimalText(rr.Low), fhir.DecimalText(rr.High), fhir.Unit(firstNonNil(rr.Low, rr.High)))
	if in {
		return Normal, shown + " within " + rng
	}
	return Abnormal, shown + " outside " + rng
}

func interpretations(ccs []r4.CodeableConcept, p *Policy) ([]string, bool) {
	var out []string
	for _, cc := range ccs {
		for _, c := range cc.Coding {
			if c.Code == nil {
				continue
			}
			if c.System != nil && *c.System != p.Codes.InterpretationSystem {
				continue
			}
			out = append(out, *c.Code)
		}
	}
	return out, len(out) > 0
}

func conclusionVerdict(dr *r4.DiagnosticReport, p *Policy) (Verdict, []string) {
	if len(dr.ConclusionCode) == 0 {
		return Unknown, []string{"no coded conclusion"}
	}
	v := Normal
	var ev []string
	for _, cc := range dr.ConclusionCode {
		for _, c := range cc.Coding {
			code := fhir.String(c.Code)
			if contains(p.Codes.NormalConclusions, code) {
				ev = append(ev, "conclusion "+orCode(fhir.String(c.Display), code))
			} else {
				v = worst(v, Abnormal)
				ev = append(ev, "conclusion "+orCode(fhir.String(c.Display), code)+" (not normal)")
			}
		}
	}
	return v, ev
}

func orCode(display, code string) string {
	if display != "" {
		return display + " (" + code + ")"
	}
	return code
}

func firstNonNil(a, b *r4.Quantity) *r4.Quantity {
	if a != nil {
		return a
	}
	return b
}

func isLab(o *r4.Observation, p *Policy) bool {
	if len(o.Category) == 0 {
		return true
	}
	for _, c := range fhir.CodesOf(o.Category...) {
		if contains(p.Codes.LabObservationCategories, c) {
			return true
		}
	}
	return false
}

func usableObservation(o *r4.Observation) bool {
	return o.Status != r4.ObservationStatusCancelled && o.Status != r4.ObservationStatusEnteredInError
}

func isDiagnosticProcedure(pr *r4.Procedure, p *Policy) bool {
	for _, c := range fhir.CodesOf(fhir.Concepts(pr.Category)...) {
		if contains(p.Codes.DiagnosticProcedureCategories, c) {
			return true
		}
	}
	return false
}

// monitoring: an order this result answers was placed for an active
// condition.
func monitoring(basedOn []r4.Reference, ix *index) bool {
	for _, b := range basedOn {
		if sr := ix.request(fhir.Ref(b)); sr != nil && forActiveCondition(sr.ReasonReference, sr.ReasonCode, ix) {
			return true
		}
	}
	return false
}

func forActiveCondition(refs []r4.Reference, reasonCodes []r4.CodeableConcept, ix *index) bool {
	for _, r := range refs {
		if c := ix.condition(fhir.Ref(r)); c != nil && active(c) {
			return true
		}
	}
	if len(reasonCodes) == 0 {
		return false
	}
	want := fhir.CodesOf(reasonCodes...)
	for i := range ix.conditions {
		if c := &ix.conditions[i]; active(c) && c.Code != nil && containsAny(want, fhir.CodesOf(*c.Code)) {
			return true
		}
	}
	return false
}

func active(c *r4.Condition) bool {
	if c.ClinicalStatus == nil {
		return c.AbatementDateTime == nil && c.AbatementString == nil && c.AbatementPeriod == nil
	}
	for _, s := range fhir.CodesOf(*c.ClinicalStatus) {
		switch s {
		case "active", "recurrence", "relapse":
			return true
		}
	}
	return false
}

func systemOf(testCodes []fhir.Code, categories []string, p *Policy) string {
	for _, c := range testCodes {
		if s, ok := p.BodySystems[c.Code]; ok {
			return s
		}
	}
	for _, c := range categories {
		if s, ok := p.Categories[c]; ok {
			return s
		}
	}
	if len(categories) > 0 {
		return categories[0]
	}
	return "Other"
}

func contains(set []string, s string) bool {
	for _, x := range set {
		if x == s {
			return true
		}
	}
	return false
}

func containsAny(set, xs []string) bool {
	for _, x := range xs {
		if contains(set, x) {
			return true
		}
	}
	return false
}
