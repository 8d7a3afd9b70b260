package rules

import (
	"encoding/json"
	"fmt"
	"time"

	r4 "github.com/samply/golang-fhir-models/fhir-models/fhir"

	"github.com/balint-health/balint/fhir"
)

// hb builds histories for rule tests, with dates in days before now.
type hb struct {
	h   *fhir.History
	now time.Time
	n   int
}

var testNow = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func newHB() *hb { return &hb{h: fhir.NewHistory(), now: testNow} }

func (b *hb) id() string { b.n++; return fmt.Sprintf("r%d", b.n) }

func (b *hb) at(daysAgo int) *string {
	s := b.now.AddDate(0, 0, -daysAgo).Format(time.RFC3339)
	return &s
}

func sp(s string) *string { return &s }

func cc(system, code string) r4.CodeableConcept {
	return r4.CodeableConcept{Coding: []r4.Coding{{System: sp(system), Code: sp(code), Display: sp("test " + code)}}}
}

func ccp(system, code string) *r4.CodeableConcept { c := cc(system, code); return &c }

const (
	loinc  = "http://loinc.org"
	snomed = "http://snomed.info/sct"
	interp = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
	v20074 = "http://terminology.hl7.org/CodeSystem/v2-0074"
)

// Test codes mapped to distinct body systems by the default policy.
const (
	cbc     = "58410-2" // Blood count
	tsh     = "24348-5" // Thyroid
	usAbdo  = "24558-9" // Abdomen imaging
	mrBrain = "24590-2" // Brain imaging
	ecg     = "11524-6" // Heart
	crp     = "1988-5"  // Inflammation
)

const (
	cardiology = "394579002"
	gastro     = "394584008"
	neurology  = "394591006"
	gp         = "394814009"
)

func (b *hb) patient(age int) *hb {
	g := r4.AdministrativeGenderFemale
	b.h.Patient = &r4.Patient{Id: sp("p1"), BirthDate: sp(b.now.AddDate(-age, 0, -1).Format("2006-01-02")), Gender: &g}
	return b
}

func (b *hb) analyte(code string, daysAgo int, interpretation string) string {
	o := r4.Observation{Id: sp(b.id()), Status: r4.ObservationStatusFinal, Code: cc(loinc, code), EffectiveDateTime: b.at(daysAgo),
		Category: []r4.CodeableConcept{cc("http://terminology.hl7.org/CodeSystem/observation-category", "laboratory")}}
	if interpretation != "" {
		o.Interpretation = []r4.CodeableConcept{cc(interp, interpretation)}
	}
	b.h.Observations = append(b.h.Observations, o)
	return "Observation/" + *o.Id
}

// lab adds a report with one analyte per interpretation code (N if none).
func (b *hb) lab(code string, daysAgo int, interps ...string) string {
	if len(interps) == 0 {
		interps = []string{"N"}
	}
	dr := r4.DiagnosticReport{Id: sp(b.id()), Status: r4.DiagnosticReportStatusFinal, Code: cc(loinc, code),
		Category: []r4.CodeableConcept{cc(v20074, "CH")}, EffectiveDateTime: b.at(daysAgo)}
	for i, in := range interps {
		dr.Result = append(dr.Result, r4.Reference{Reference: sp(b.analyte(fmt.Sprintf("%s-%d", code, i), daysAgo, in))})
	}
	b.h.DiagnosticReports = append(b.h.DiagnosticReports, dr)
	return "DiagnosticReport/" + *dr.Id
}

func (b *hb) report(dr r4.DiagnosticReport) string {
	dr.Id = sp(b.id())
	b.h.DiagnosticReports = append(b.h.DiagnosticReports, dr)
	return "DiagnosticReport/" + *dr.Id
}

func (b *hb) imaging(code string, daysAgo int, conclusion string) string {
	return b.report(r4.DiagnosticReport{Status: r4.DiagnosticReportStatusFinal, Code: cc(loinc, code),
		Category: []r4.CodeableConcept{cc(v20074, "RAD")}, EffectiveDateTime: b.at(daysAgo),
		ConclusionCode: []r4.CodeableConcept{cc(snomed, conclusion)}})
}

func (b *hb) encounter(service string, daysAgo int) string {
	e := r4.Encounter{Id: sp(b.id()), Status: r4.EncounterStatusFinished, Class: r4.Coding{Code: sp("AMB")},
		ServiceType: ccp(snomed, service), Period: &r4.Period{Start: b.at(daysAgo)}}
	b.h.Encounters = append(b.h.Encounters, e)
	return "Encounter/" + *e.Id
}

func (b *hb) referral(specialty string, daysAgo int) string {
	sr := r4.ServiceRequest{Id: sp(b.id()), Status: r4.RequestStatusCompleted, Intent: r4.RequestIntentOrder,
		Category: []r4.CodeableConcept{cc(snomed, "3457005")}, Code: ccp(snomed, "306206005"),
		PerformerType: ccp(snomed, specialty), AuthoredOn: b.at(daysAgo)}
	b.h.ServiceRequests = append(b.h.ServiceRequests, sr)
	return "ServiceRequest/" + *sr.Id
}

func (b *hb) request(sr r4.ServiceRequest) string {
	sr.Id = sp(b.id())
	b.h.ServiceRequests = append(b.h.ServiceRequests, sr)
	return "ServiceRequest/" + *sr.Id
}

func (b *hb) condition(code string, daysAgo int, status string) string {
	c := r4.Condition{Id: sp(b.id()), Code: ccp(snomed, code), ClinicalStatus: ccp("http://terminology.hl7.org/CodeSystem/condition-clinical", status),
		OnsetDateTime: b.at(daysAgo)}
	b.h.Conditions = append(b.h.Conditions, c)
	return "Condition/" + *c.Id
}

func (b *hb) procedure(code string, daysAgo int) string {
	p := r4.Procedure{Id: sp(b.id()), Status: r4.EventStatusCompleted, Code: ccp(snomed, code), PerformedDateTime: b.at(daysAgo)}
	b.h.Procedures = append(b.h.Procedures, p)
	return "Procedure/" + *p.Id
}

func (b *hb) observation(code string, daysAgo int) string {
	o := r4.Observation{Id: sp(b.id()), Status: r4.ObservationStatusFinal, Code: cc(loinc, code), EffectiveDateTime: b.at(daysAgo),
		Category: []r4.CodeableConcept{cc("http://terminology.hl7.org/CodeSystem/observation-category", "survey")}}
	b.h.Observations = append(b.h.Observations, o)
	return "Observation/" + *o.Id
}

// positive is a history exactly at every threshold of the default rule:
// 3 normal investigations in 3 systems over 200 days, 2 specialties.
func positive() *hb {
	b := newHB().patient(40)
	b.lab(cbc, 400)
	b.imaging(usAbdo, 300, "17621005")
	b.lab(tsh, 200)
	b.encounter(cardiology, 100)
	b.referral(gastro, 200)
	return b
}

func (b *hb) eval() Decision {
	return Evaluate(DefaultPolicy(), Input{History: b.h, Now: b.now})
}

// clone deep-copies a history through JSON (samply marshals R4).
func (b *hb) clone() *hb {
	c := &hb{h: fhir.NewHistory(), now: b.now, n: b.n}
	must := func(v any, out any) {
		data, err := json.Marshal(v)
		if err != nil {
			panic(err)
		}
		if err := json.Unmarshal(data, out); err != nil {
			panic(err)
		}
	}
	if b.h.Patient != nil {
		var p r4.Patient
		must(b.h.Patient, &p)
		c.h.Patient = &p
	}
	must(b.h.Observations, &c.h.Observations)
	must(b.h.DiagnosticReports, &c.h.DiagnosticReports)
	must(b.h.Encounters, &c.h.Encounters)
	must(b.h.ServiceRequests, &c.h.ServiceRequests)
	must(b.h.Conditions, &c.h.Conditions)
	must(b.h.Procedures, &c.h.Procedures)
	return c
}
