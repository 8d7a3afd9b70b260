package synth

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"time"
)

// Exclusion names one exclusion of the clinical basis the generator can
// put into an otherwise pattern-positive history.
type Exclusion string

const (
	Minor              Exclusion = "minor"
	Pregnancy          Exclusion = "pregnancy"
	Cancer             Exclusion = "cancer"
	Hospice            Exclusion = "hospice"
	Critical           Exclusion = "critical"
	UnresolvedAbnormal Exclusion = "unresolved-abnormal"
	OpenRequest        Exclusion = "open-request"
	MentalHealth       Exclusion = "mental-health"
	Screening          Exclusion = "screening"
)

// AllExclusions lists every exclusion the generator can produce.
var AllExclusions = []Exclusion{Minor, Pregnancy, Cancer, Hospice, Critical, UnresolvedAbnormal, OpenRequest, MentalHealth, Screening}

// Options are the generator's knobs. The zero value plus a Seed and Now
// gives a control patient: a few normal tests, one specialty.
type Options struct {
	Seed int64
	Now  time.Time
	// PatientID defaults to a seeded UUID.
	PatientID string
	// Pattern puts in repeated normal investigations over many months,
	// across categories, with referrals to several specialties.
	Pattern bool
	// NormalInvestigations is how many distinct normal investigations a
	// pattern history has (default 5).
	NormalInvestigations int
	// Specialties is how many distinct specialties a pattern patient was
	// referred to (default 3, at most 4).
	Specialties int
	// PrimaryCare is the number of primary-care encounters in the last 12
	// months (default 4).
	PrimaryCare int
	// Exclusions to add.
	Exclusions []Exclusion
	// Observations pads the history with chronic-disease monitoring labs
	// (HbA1c over up to ten years, linked to an active diabetes Condition)
	// until it holds at least this many Observations.
	Observations int
	// PadDays is the span of days the padding is spread over (default
	// 3650); a short span keeps all of it inside the rule's windows.
	PadDays int
}

// Resource is one generated resource.
type Resource struct {
	Type string
	ID   string
	JSON json.RawMessage
}

// Record is one generated patient history.
type Record struct {
	PatientID string
	Resources []Resource
}

type gen struct {
	o   Options
	rng *rand.Rand
	rec *Record
	pid string
}

// Generate builds a history from options. Same options, same bytes.
func Generate(o Options) *Record {
	if o.Now.IsZero() {
		o.Now = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	if o.NormalInvestigations == 0 {
		o.NormalInvestigations = 5
	}
	if o.Specialties == 0 {
		o.Specialties = 3
	}
	if o.PrimaryCare == 0 {
		o.PrimaryCare = 4
	}
	g := &gen{o: o, rng: rand.New(rand.NewPCG(uint64(o.Seed), 0x9e3779b97f4a7c15)), rec: &Record{}}
	g.pid = o.PatientID
	if g.pid == "" {
		g.pid = g.uuid()
	}
	g.rec.PatientID = g.pid
	g.build()
	return g.rec
}

func (g *gen) has(e Exclusion) bool {
	for _, x := range g.o.Exclusions {
		if x == e {
			return true
		}
	}
	return false
}

func (g *gen) uuid() string {
	b := make([]byte, 16)
	for i := range b {
		b[i] = byte(g.rng.IntN(256))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func (g *gen) add(typ string, r map[string]any) string {
	id := g.pid
	if typ != "Patient" {
		id = g.uuid()
	}
	r["id"] = id
	if typ != "Patient" {
		r["subject"] = ref("Patient", g.pid)
	}
	// Only maps of strings, finite numbers and slices are marshalled here,
	// which cannot fail. resourceType goes first, as FHIR servers write it
	// (the rest in key order).
	b, _ := json.Marshal(r)
	b = append([]byte(`{"resourceType":"`+typ+`",`), b[1:]...)
	g.rec.Resources = append(g.rec.Resources, Resource{Type: typ, ID: id, JSON: b})
	return id
}

// daysAgo returns a timestamp d days before now, at a working hour.
func (g *gen) daysAgo(d int) string {
	t := g.o.Now.AddDate(0, 0, -d)
	t = time.Date(t.Year(), t.Month(), t.Day(), 9+g.rng.IntN(8), 5*g.rng.IntN(12), 0, 0, time.UTC)
	return t.Format(time.RFC3339)
}

func (g *gen) build() {
	age := 25 + g.rng.IntN(40)
	if g.has(Minor) {
		age = 15
	}
	birth := g.o.Now.AddDate(-age, -g.rng.IntN(12), -g.rng.IntN(28))
	gender := []string{"female", "male"}[g.rng.IntN(2)]
	if g.has(Pregnancy) {
		gender = "female"
	}
	g.add("Patient", map[string]any{
		"active":    true,
		"name":      []any{map[string]any{"family": "Synthetic", "given": []any{fmt.Sprintf("Patient%04d", g.rng.IntN(10000))}}},
		"gender":    gender,
		"birthDate": birth.Format("2006-01-02"),
	})

	if g.o.Pattern {
		g.patternHistory()
	} else {
		g.controlHistory()
	}
	for i := 0; i < g.o.PrimaryCare; i++ {
		g.encounter("394814009", 10+i*(330/max(g.o.PrimaryCare, 1)), "")
	}
	g.exclusions()
	g.pad()
}

func (g *gen) controlHistory() {
	g.labReport(labPanels[0], 200, "normal", true)
	g.encounter("394579002", 400, "")
}

func (g *gen) patternHistory() {
	n := g.o.NormalInvestigations
	// Spread over ~20 months, oldest first, different tests so none is
	// collapsed by the 30-day rule.
	span := 600
	for i := 0; i < n; i++ {
		d := span - i*(span-30)/max(n-1, 1)
		if i%2 == 0 {
			g.labReport(labPanels[(i/2)%len(labPanels)], d, "normal", i%4 == 0)
		} else {
			g.study(studies[(i/2)%len(studies)], d, true)
		}
	}
	k := min(g.o.Specialties, len(referralSpecialties))
	for i := 0; i < k; i++ {
		sp := referralSpecialties[i]
		d := 620 - i*150
		g.referral(sp, d+14, "completed")
		g.encounter(sp, d, "")
	}
}

func (g *gen) exclusions() {
	for _, e := range g.o.Exclusions {
		switch e {
		case Pregnancy:
			g.condition("77386006", "Pregnancy", 150, "active", "encounter-diagnosis")
		case Cancer:
			g.condition("254837009", "Malignant neoplasm of breast", 300, "active", "problem-list-item")
		case Hospice:
			g.encounter("385763009", 40, "Hospice care")
		case Critical:
			g.labReport(labPanels[1], 45, "critical", false)
		case UnresolvedAbnormal:
			// Newer than any normal test of the pattern, so never followed by a
			// normal repeat.
			g.labReport(labPanels[3], 20, "abnormal", false)
		case OpenRequest:
			g.add("ServiceRequest", map[string]any{
				"status": "active", "intent": "order",
				"category":   []any{cc(snomed, "363679005", "Imaging")},
				"code":       cc(loinc, "24590-2", "MR Brain"),
				"authoredOn": g.daysAgo(10),
			})
		case MentalHealth:
			g.add("ServiceRequest", map[string]any{
				"status": "completed", "intent": "order",
				"category":   []any{cc(snomed, "3457005", "Patient referral")},
				"code":       cc(snomed, "308459004", "Referral to psychologist"),
				"authoredOn": g.daysAgo(120),
			})
		case Screening:
			g.add("Observation", map[string]any{
				"status":            "final",
				"category":          []any{cc(obsCat, "survey", "Survey")},
				"code":              cc(loinc, "44261-6", "Patient Health Questionnaire 9 item (PHQ-9) total score [Reported]"),
				"effectiveDateTime": g.daysAgo(60),
				"valueQuantity":     map[string]any{"value": 6, "system": ucum, "code": "{score}", "unit": "{score}"},
			})
		}
	}
}

// pad adds HbA1c monitoring (linked to active diabetes) until the history
// has the requested number of Observations.
func (g *gen) pad() {
	have := 0
	for _, r := range g.rec.Resources {
		if r.Type == "Observation" {
			have++
		}
	}
	if have >= g.o.Observations {
		return
	}
	dm := g.condition("44054006", "Diabetes mellitus type 2", 3650, "active", "problem-list-item")
	need := g.o.Observations - have
	span := cmp.Or(g.o.PadDays, 3650)
	for i := 0; i < need; i++ {
		d := 1 + (i*span)/need
		sr := g.add("ServiceRequest", map[string]any{
			"status": "completed", "intent": "order",
			"category":        []any{cc(snomed, "108252007", "Laboratory procedure")},
			"code":            cc(loinc, hba1c.code, hba1c.display),
			"reasonReference": []any{ref("Condition", dm)},
			"authoredOn":      g.daysAgo(d),
		})
		a := hba1c.analytes[0]
		g.add("Observation", g.observation(a, "laboratory", d, "normal", sr, i%2 == 0))
	}
}

func (g *gen) condition(code, display string, daysAgo int, clinical, category string) string {
	return g.add("Condition", map[string]any{
		"clinicalStatus":     cc(condCS, clinical, ""),
		"verificationStatus": cc("http://terminology.hl7.org/CodeSystem/condition-ver-status", "confirmed", ""),
		"category":           []any{cc(condCat, category, "")},
		"code":               cc(snomed, code, display),
		"onsetDateTime":      g.daysAgo(daysAgo),
		"recordedDate":       g.daysAgo(daysAgo),
	})
}

func (g *gen) encounter(specialty string, daysAgo int, typeDisplay string) {
	start := g.daysAgo(daysAgo)
	r := map[string]any{
		"status":      "finished",
		"class":       map[string]any{"system": actCode, "code": "AMB", "display": "ambulatory"},
		"serviceType": cc(snomed, specialty, specialtyNames[specialty]),
		"period":      map[string]any{"start": start, "end": start},
	}
	if typeDisplay != "" {
		r["type"] = []any{cc(snomed, specialty, typeDisplay)}
		delete(r, "serviceType")
	}
	g.add("Encounter", r)
}

func (g *gen) referral(specialty string, daysAgo int, status string) {
	g.add("ServiceRequest", map[string]any{
		"status": status, "intent": "order",
		"category":      []any{cc(snomed, "3457005", "Patient referral")},
		"code":          cc(snomed, "306206005", "Referral to service"),
		"performerType": cc(snomed, specialty, specialtyNames[specialty]),
		"authoredOn":    g.daysAgo(daysAgo),
	})
}

// labReport adds an order, a DiagnosticReport and its Observations. With
// coded, analytes carry interpretation codes; otherwise only values and
// reference ranges.
func (g *gen) labReport(p panel, daysAgo int, verdict string, coded bool) {
	sr := g.add("ServiceRequest", map[string]any{
		"status": "completed", "intent": "order",
		"category":   []any{cc(snomed, "108252007", "Laboratory procedure")},
		"code":       cc(loinc, p.code, p.display),
		"authoredOn": g.daysAgo(daysAgo + 2),
	})
	var results []any
	for i, a := range p.analytes {
		v := "normal"
		if i == 0 {
			v = verdict
		}
		obs := g.observation(a, "laboratory", daysAgo, v, sr, coded || v != "normal")
		results = append(results, ref("Observation", g.add("Observation", obs)))
	}
	g.add("DiagnosticReport", map[string]any{
		"status":            "final",
		"basedOn":           []any{ref("ServiceRequest", sr)},
		"category":          []any{cc(v20074, p.category, "")},
		"code":              cc(loinc, p.code, p.display),
		"effectiveDateTime": g.daysAgo(daysAgo),
		"issued":            g.daysAgo(daysAgo),
		"result":            results,
	})
}

func (g *gen) observation(a analyte, category string, daysAgo int, verdict, basedOn string, coded bool) map[string]any {
	mid := (a.low + a.high) / 2
	val := mid + (g.rng.Float64()-0.5)*(a.high-a.low)*0.6
	interp := "N"
	switch verdict {
	case "abnormal":
		val, interp = a.high*1.3, "H"
	case "critical":
		val, interp = a.high*3, "HH"
	}
	o := map[string]any{
		"status":            "final",
		"category":          []any{cc(obsCat, category, "")},
		"code":              cc(loinc, a.code, a.display),
		"effectiveDateTime": g.daysAgo(daysAgo),
		"valueQuantity":     quantity(val, a.unit),
		"referenceRange":    []any{map[string]any{"low": quantity(a.low, a.unit), "high": quantity(a.high, a.unit)}},
	}
	if basedOn != "" {
		o["basedOn"] = []any{ref("ServiceRequest", basedOn)}
	}
	if coded {
		o["interpretation"] = []any{cc(interpCS, interp, "")}
	}
	return o
}

// study adds an imaging/endoscopy/physiology order and report, and for
// endoscopy the Procedure that produced the report.
func (g *gen) study(s study, daysAgo int, normal bool) {
	sr := g.add("ServiceRequest", map[string]any{
		"status": "completed", "intent": "order",
		"category":   []any{cc(snomed, "363679005", "Imaging")},
		"code":       cc(loinc, s.code, s.display),
		"authoredOn": g.daysAgo(daysAgo + 7),
	})
	concl := cc(snomed, "17621005", "Normal")
	text := "No abnormality detected."
	if !normal {
		concl, text = cc(snomed, "263654008", "Abnormal"), "Abnormal finding."
	}
	dr := g.add("DiagnosticReport", map[string]any{
		"status":            "final",
		"basedOn":           []any{ref("ServiceRequest", sr)},
		"category":          []any{studyCategory(s.category)},
		"code":              cc(loinc, s.code, s.display),
		"effectiveDateTime": g.daysAgo(daysAgo),
		"issued":            g.daysAgo(daysAgo),
		"conclusion":        text,
		"conclusionCode":    []any{concl},
	})
	if s.procedure != "" {
		g.add("Procedure", map[string]any{
			"status":            "completed",
			"category":          cc(snomed, "103693007", "Diagnostic procedure"),
			"code":              cc(snomed, s.procedure, s.procDisplay),
			"performedDateTime": g.daysAgo(daysAgo),
			"basedOn":           []any{ref("ServiceRequest", sr)},
			"report":            []any{ref("DiagnosticReport", dr)},
		})
	}
}

func cc(system, code, display string) map[string]any {
	c := map[string]any{"system": system, "code": code}
	if display != "" {
		c["display"] = display
	}
	return map[string]any{"coding": []any{c}}
}

func ref(typ, id string) map[string]any {
	return map[string]any{"reference": typ + "/" + id}
}

func quantity(v float64, unit string) map[string]any {
	n, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'f', 2, 64), 64)
	return map[string]any{"value": n, "unit": unit, "system": ucum, "code": unit}
}

// OfType returns the record's resources of one type, in generation order.
func (r *Record) OfType(typ string) []json.RawMessage {
	var out []json.RawMessage
	for _, res := range r.Resources {
		if res.Type == typ {
			out = append(out, res.JSON)
		}
	}
	return out
}

// Collection returns the whole record as one collection Bundle.
func (r *Record) Collection() []byte {
	entries := make([]any, 0, len(r.Resources))
	for _, res := range r.Resources {
		entries = append(entries, map[string]any{"fullUrl": "urn:uuid:" + res.ID, "resource": res.JSON})
	}
	b, _ := json.MarshalIndent(map[string]any{"resourceType": "Bundle", "type": "collection", "entry": entries}, "", " ")
	return b
}

// Transactions returns transaction Bundles of at most size entries each
// (servers cap updates per transaction; Medplum at 50) that PUT every
// resource under its own id, so the server keeps ids and references
// resolve. The Patient comes first.
func (r *Record) Transactions(size int) [][]byte {
	var out [][]byte
	for start := 0; start < len(r.Resources); start += size {
		end := min(start+size, len(r.Resources))
		entries := make([]any, 0, end-start)
		for _, res := range r.Resources[start:end] {
			entries = append(entries, map[string]any{
				"fullUrl":  "urn:uuid:" + res.ID,
				"resource": res.JSON,
				"request":  map[string]any{"method": "PUT", "url": res.Type + "/" + res.ID},
			})
		}
		b, _ := json.Marshal(map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": entries})
		out = append(out, b)
	}
	return out
}

// Types returns the resource types present, sorted.
func (r *Record) Types() []string {
	seen := map[string]bool{}
	for _, res := range r.Resources {
		seen[res.Type] = true
	}
	var out []string
	for t := range seen {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

func studyCategory(code string) map[string]any {
	if code == "423827005" {
		return cc(snomed, code, "Endoscopy")
	}
	return cc(v20074, code, "")
}
