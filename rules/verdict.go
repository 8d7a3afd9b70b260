package rules

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"

	r4 "github.com/samply/golang-fhir-models/fhir-models/fhir"

	"github.com/balint-health/balint/fhir"
)

// This file judges one result: normal, abnormal, critical, or unknown when
// the record does not say enough. Whatever cannot be read is unknown, and
// unknown never counts as normal.

// measurement is what is judged of an Observation or of one component.
type measurement struct {
	name   string
	code   *r4.CodeableConcept
	interp []r4.CodeableConcept
	q      *r4.Quantity
	ranges []r4.ObservationReferenceRange
}

// observationVerdict judges an Observation and each of its components
// (the two readings of a blood pressure): the worst of them, with why
// appended to ev.
func (r *reader) observationVerdict(o *r4.Observation, ev []string) (Verdict, []string) {
	name := fhir.Display(&o.Code)
	switch o.Status {
	case r4.ObservationStatusFinal, r4.ObservationStatusAmended, r4.ObservationStatusCorrected:
	default:
		return Unknown, append(ev, name+": status "+o.Status.Code())
	}
	var buf [2]measurement // a result, or the two readings of a blood pressure
	ms := buf[:0]
	if len(o.Component) == 0 || o.ValueQuantity != nil || len(o.Interpretation) > 0 {
		ms = append(ms, measurement{name, &o.Code, o.Interpretation, o.ValueQuantity, o.ReferenceRange})
	}
	for _, c := range o.Component {
		ms = append(ms, measurement{name + ", " + fhir.Display(&c.Code), &c.Code, c.Interpretation, c.ValueQuantity, c.ReferenceRange})
	}
	v := Normal
	for _, m := range ms {
		mv, why := r.measure(m)
		ev = append(ev, m.name+": "+why)
		v = worst(v, mv)
	}
	return v, ev
}

// measure judges one measurement: by its interpretation when it has one,
// else by its value against the reference range that applies.
func (r *reader) measure(m measurement) (Verdict, string) {
	if len(m.interp) > 0 {
		return r.interpretation(m.interp)
	}
	q := m.q
	if q == nil || q.Value == nil {
		return Unknown, "no interpretation and no numeric value"
	}
	val, ok := fhir.Decimal(q)
	if !ok {
		return Unknown, "value is not a number"
	}
	var held [2]r4.ObservationReferenceRange // a result has one or two
	ranges := r.applicable(held[:0], m.ranges, q)
	if len(ranges) == 0 {
		// The site's table, only when the result has no range of its own.
		if v, why, ok := r.siteInterval(m, val); ok {
			return v, why
		}
		if len(m.ranges) > 0 {
			return Unknown, "no reference range applies to this patient"
		}
		return Unknown, "no interpretation and no reference range"
	}
	var verdict Verdict
	var why string
	for i, rr := range ranges {
		v, w := r.judge(q, val, rr)
		if i > 0 && v != verdict {
			return Unknown, "the reference ranges that apply disagree"
		}
		verdict, why = v, w
	}
	return verdict, why
}

// interpretation reads the interpretation codes: critical codes in any
// system, the others in the systems the policy names. A flag only in a
// system Balint does not read, or only as text, leaves the result unknown.
func (r *reader) interpretation(ccs []r4.CodeableConcept) (Verdict, string) {
	s := r.p.sets
	var readBuf, otherBuf [4]string // a result carries a flag or two
	read, other := readBuf[:0], otherBuf[:0]
	v := Normal
	for _, cc := range ccs {
		for _, c := range cc.Coding {
			code := fhir.String(c.Code)
			switch {
			case code == "":
			case s.criticalInterp.has(code):
				v = worst(v, Critical)
				read = append(read, code)
			case c.System != nil && !s.interpSystems.has(*c.System):
				other = append(other, code)
			case s.normalInterp.has(code):
				read = append(read, code)
			default:
				v = worst(v, Abnormal)
				read = append(read, code)
			}
		}
	}
	if len(read) == 0 {
		if len(other) > 0 {
			return Unknown, "interpretation " + strings.Join(other, ",") + " is in a code system Balint does not read"
		}
		return Unknown, "interpretation is not coded"
	}
	return v, "interpretation " + strings.Join(read, ",")
}

// applicable appends to out the reference ranges that apply: of type
// normal (or no type), and, where a range is for an age or a sex, this
// patient's.
func (r *reader) applicable(out, ranges []r4.ObservationReferenceRange, q *r4.Quantity) []r4.ObservationReferenceRange {
	for _, rr := range ranges {
		if rr.Low == nil && rr.High == nil {
			// A range given only as text ("3.5-5.0") is read when it
			// parses, in the result's unit.
			low, high, ok := parseRangeText(fhir.String(rr.Text), fhir.UnitOf(q))
			if !ok {
				continue
			}
			rr.Low, rr.High = quantityIn(low, q), quantityIn(high, q)
		}
		if rr.Type != nil && !hasCode(rr.Type, "normal") {
			continue
		}
		if !r.appliesTo(rr) {
			continue
		}
		out = append(out, rr)
	}
	return out
}

var sexCodes = map[string]r4.AdministrativeGender{
	"male": r4.AdministrativeGenderMale, "M": r4.AdministrativeGenderMale, "248153007": r4.AdministrativeGenderMale,
	"female": r4.AdministrativeGenderFemale, "F": r4.AdministrativeGenderFemale, "248152002": r4.AdministrativeGenderFemale,
}

// appliesTo: a range for a sex or an age applies only when the patient's
// is known and matches; a condition Balint cannot read does not apply.
func (r *reader) appliesTo(rr r4.ObservationReferenceRange) bool {
	for _, cc := range rr.AppliesTo {
		for _, code := range fhir.CodesOf(cc) {
			sex, ok := sexCodes[code]
			if !ok {
				return false
			}
			if r.pt == nil || r.pt.Gender == nil || *r.pt.Gender != sex {
				return false
			}
		}
	}
	if rr.Age != nil {
		age, ok := r.age()
		if !ok {
			return false
		}
		for _, b := range []*r4.Quantity{rr.Age.Low, rr.Age.High} {
			if b == nil {
				continue
			}
			if u := fhir.String(b.Code); u != "" && u != "a" {
				return false
			}
			bv, ok := fhir.Decimal(b)
			if !ok {
				return false
			}
			a := fhir.DecOf(int64(age))
			if (b == rr.Age.Low && a.Cmp(bv) < 0) || (b == rr.Age.High && a.Cmp(bv) > 0) {
				return false
			}
		}
	}
	return true
}

// age is the patient's age in years at the evaluation, the youngest the
// birth date allows.
func (r *reader) age() (int, bool) {
	if r.pt == nil {
		return 0, false
	}
	bd, ok := fhir.BirthDate(r.pt.BirthDate, r.loc)
	if !ok || r.now.IsZero() {
		return 0, false
	}
	return fhir.Age(bd, r.now), true
}

// judge compares a value with one range. A value with a comparator
// (">1000") is judged only when the comparison decides it: above a high
// limit it is abnormal whatever its true value; "<5" against 0-10 is not
// decided.
func (r *reader) judge(q *r4.Quantity, val fhir.Dec, rr r4.ObservationReferenceRange) (Verdict, string) {
	shown := strings.TrimSpace(comparator(q) + q.Value.String() + " " + fhir.Unit(q))
	var low, high fhir.Dec
	for _, b := range []*r4.Quantity{rr.Low, rr.High} {
		if b == nil {
			continue
		}
		bv, ok := fhir.Decimal(b)
		if !ok {
			return Unknown, "reference range is not numeric"
		}
		if !fhir.SameUnit(q, b) {
			// Units a decimal prefix apart convert (g/L and mg/dL);
			// others never do.
			k, ok := fhir.UnitPower(fhir.UnitOf(b), fhir.UnitOf(q))
			if !ok {
				return Unknown, fmt.Sprintf("%s: unit differs from the reference range (%s)", shown, fhir.Unit(b))
			}
			bv = bv.Shift(k)
		}
		if b == rr.Low {
			low = bv
		} else {
			high = bv
		}
	}
	rng := rangeShown(rr)
	hasLow, hasHigh := rr.Low != nil, rr.High != nil
	below := hasLow && val.Cmp(low) < 0
	above := hasHigh && val.Cmp(high) > 0
	switch comparator(q) {
	case "":
		if below || above {
			return Abnormal, shown + " outside " + rng
		}
		return Normal, shown + " within " + rng
	case "<", "<=":
		// The true value is at most val.
		if below || (hasLow && comparator(q) == "<" && val.Cmp(low) == 0) {
			return Abnormal, shown + " below " + rng
		}
		if !hasLow && !above {
			return Normal, shown + " within " + rng
		}
	case ">", ">=":
		if above || (hasHigh && comparator(q) == ">" && val.Cmp(high) == 0) {
			return Abnormal, shown + " above " + rng
		}
		if !hasHigh && !below {
			return Normal, shown + " within " + rng
		}
	}
	return Unknown, shown + ": the comparator leaves it undecided against " + rng
}

// rangeShown shows a range as the clinician reads it: "3.5-5.0 mmol/L",
// or, with one bound, "<= 5.6 %" and ">= 60 mL/min".
func rangeShown(rr r4.ObservationReferenceRange) string {
	unit := fhir.Unit(firstNonNil(rr.Low, rr.High))
	switch {
	case rr.Low == nil:
		return "<= " + fhir.DecimalText(rr.High) + " " + unit
	case rr.High == nil:
		return ">= " + fhir.DecimalText(rr.Low) + " " + unit
	}
	return fhir.DecimalText(rr.Low) + "-" + fhir.DecimalText(rr.High) + " " + unit
}

func comparator(q *r4.Quantity) string {
	if q.Comparator == nil {
		return ""
	}
	return q.Comparator.Code()
}

// conclusionVerdict judges an imaging or procedure report by its coded
// conclusion: normal only when every conclusion code is a normal one.
func (r *reader) conclusionVerdict(dr *r4.DiagnosticReport) (Verdict, []string) {
	if len(dr.ConclusionCode) == 0 {
		return Unknown, []string{"no coded conclusion"}
	}
	v := Normal
	var ev []string
	for _, cc := range dr.ConclusionCode {
		for _, c := range cc.Coding {
			code := fhir.String(c.Code)
			if r.p.sets.normalConclusions.has(code) {
				ev = append(ev, "conclusion "+orCode(fhir.String(c.Display), code))
			} else {
				v = worst(v, Abnormal)
				ev = append(ev, "conclusion "+orCode(fhir.String(c.Display), code)+" (not normal)")
			}
		}
		if len(cc.Coding) == 0 {
			v = worst(v, Unknown)
			ev = append(ev, "conclusion given as text only")
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

func hasCode(cc *r4.CodeableConcept, codes ...string) bool {
	for i := range cc.Coding {
		if c := cc.Coding[i].Code; c != nil && slices.Contains(codes, *c) {
			return true
		}
	}
	return false
}

// rangeText reads "3.5-5.0", "3.5 - 5.0 mmol/L", "0.5 to 1.2", "<5",
// "<= 5.0 mg/L", ">60".
var rangeText = regexp.MustCompile(`^\s*(?:(<=?|>=?)\s*(\d+(?:\.\d+)?)|(\d+(?:\.\d+)?)\s*(?:-|–|to)\s*(\d+(?:\.\d+)?))\s*(\S*)\s*$`)

// parseRangeText reads a reference range given only as text, when it names
// no unit or the result's own. A bound it does not give is "".
func parseRangeText(text, unit string) (low, high string, ok bool) {
	m := rangeText.FindStringSubmatch(text)
	if m == nil || (m[5] != "" && m[5] != unit) {
		return "", "", false
	}
	switch m[1] {
	case "":
		return m[3], m[4], true
	case "<", "<=":
		return "", m[2], true
	default:
		return m[2], "", true
	}
}

// quantityIn is a bound in the result's unit; nil for none.
func quantityIn(value string, q *r4.Quantity) *r4.Quantity {
	if value == "" {
		return nil
	}
	n := json.Number(value)
	return &r4.Quantity{Value: &n, Unit: q.Unit, Code: q.Code, System: q.System}
}

// siteInterval judges a value against the site's reference-interval table
// (the policy's reference_intervals) by the test's LOINC code, for this
// patient's sex and age. Used only when the result has no range of its own;
// the verdict then says so.
func (r *reader) siteInterval(m measurement, val fhir.Dec) (Verdict, string, bool) {
	if m.code == nil || len(r.p.intervals) == 0 {
		return "", "", false
	}
	for _, c := range m.code.Coding {
		for _, iv := range r.p.intervals[fhir.String(c.Code)] {
			if !r.intervalApplies(iv) {
				continue
			}
			unit := iv.Unit
			rr := r4.ObservationReferenceRange{Low: bound(iv.Low, unit), High: bound(iv.High, unit)}
			v, why := r.judge(m.q, val, rr)
			if v == Unknown {
				continue
			}
			r.siteTable = true
			return v, why + " (site reference table: " + iv.Source + ")", true
		}
	}
	return "", "", false
}

func (r *reader) intervalApplies(iv ReferenceInterval) bool {
	if iv.Sex != "" && (r.pt == nil || r.pt.Gender == nil || r.pt.Gender.Code() != iv.Sex) {
		return false
	}
	if iv.MinAge != nil || iv.MaxAge != nil {
		age, ok := r.age()
		if !ok || (iv.MinAge != nil && age < *iv.MinAge) || (iv.MaxAge != nil && age > *iv.MaxAge) {
			return false
		}
	}
	return true
}

func bound(value, unit string) *r4.Quantity {
	if value == "" {
		return nil
	}
	n := json.Number(value)
	return &r4.Quantity{Value: &n, Code: &unit, Unit: &unit}
}
