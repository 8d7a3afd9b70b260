package fhir

import (
	"net/url"
	"strings"
	"time"

	r4 "github.com/samply/golang-fhir-models/fhir-models/fhir"
)

// This file reads FHIR datatypes the way the rule needs them: dates and
// partial dates, codings, quantities and references. Every function is
// total: a missing or unreadable value gives the zero value and false (or
// nothing), never a panic.

// Code is one coding of a concept.
type Code struct {
	System  string `json:"system,omitempty"`
	Code    string `json:"code"`
	Display string `json:"display,omitempty"`
}

// dateLayouts are FHIR's date, dateTime and instant forms, most precise
// first; a partial date ("2024-03", "2024") reads as its first instant.
var dateLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02", "2006-01", "2006"}

// Time reads a FHIR date, dateTime or instant in the site's zone loc. A
// value with an offset is that instant; a date, a partial date or a time
// without an offset is local to the site, which is where the record was
// kept: "2024-03-05" is the 5th in Berlin, not 23:00 on the 4th.
func Time(s *string, loc *time.Location) (time.Time, bool) {
	if s == nil || *s == "" {
		return time.Time{}, false
	}
	for _, l := range dateLayouts {
		if t, err := time.ParseInLocation(l, *s, loc); err == nil {
			return t.In(loc), true
		}
	}
	return time.Time{}, false
}

// BirthDate reads a birth date as the latest day it can mean: a year
// alone is 31 December, a year and month its last day. The age derived
// from it is then the youngest the patient can be, so a partial date
// never makes a child an adult.
func BirthDate(s *string, loc *time.Location) (time.Time, bool) {
	t, ok := Time(s, loc)
	if !ok {
		return t, false
	}
	switch len(*s) {
	case len("2006"):
		t = t.AddDate(1, 0, -1)
	case len("2006-01"):
		t = t.AddDate(0, 1, -1)
	}
	return t, true
}

// Age is the age in whole years on the day of now, in birth's zone: the
// birthday has come when the (month, day) of now reaches that of birth, so
// someone born on 29 February turns a year older on 1 March in other years.
func Age(birth, now time.Time) int {
	now = now.In(birth.Location())
	age := now.Year() - birth.Year()
	if now.Month() < birth.Month() || (now.Month() == birth.Month() && now.Day() < birth.Day()) {
		age--
	}
	return age
}

// String is an optional string's value, "" when absent.
func String(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// Ref is a Reference's literal reference ("Observation/1"), "" when absent.
func Ref(r r4.Reference) string { return String(r.Reference) }

// RefTo is the literal reference to a resource of type typ with this id.
func RefTo(typ string, id *string) string { return typ + "/" + String(id) }

// Codings are a concept's codings that carry a code.
func Codings(cc *r4.CodeableConcept) []Code {
	if cc == nil {
		return nil
	}
	var out []Code
	for _, c := range cc.Coding {
		if c.Code != nil {
			out = append(out, Code{System: String(c.System), Code: *c.Code, Display: String(c.Display)})
		}
	}
	return out
}

// CodesOf are the code values of every coding of the concepts.
func CodesOf(ccs ...r4.CodeableConcept) []string {
	var out []string
	for _, cc := range ccs {
		for _, c := range cc.Coding {
			if c.Code != nil {
				out = append(out, *c.Code)
			}
		}
	}
	return out
}

// FirstCode is the first code value of the concepts, "" when none.
func FirstCode(ccs []r4.CodeableConcept) string {
	for _, cc := range ccs {
		for _, c := range cc.Coding {
			if c.Code != nil {
				return *c.Code
			}
		}
	}
	return ""
}

// Concepts turns an optional concept into a list of none or one.
func Concepts(cc *r4.CodeableConcept) []r4.CodeableConcept {
	if cc == nil {
		return nil
	}
	return []r4.CodeableConcept{*cc}
}

// Display is what a person calls a concept: its text, else the first
// coding's display, else the first code.
func Display(cc *r4.CodeableConcept) string {
	if cc == nil {
		return ""
	}
	if cc.Text != nil && *cc.Text != "" {
		return *cc.Text
	}
	for _, c := range cc.Coding {
		if c.Display != nil && *c.Display != "" {
			return *c.Display
		}
	}
	for _, c := range cc.Coding {
		if c.Code != nil {
			return *c.Code
		}
	}
	return ""
}

// DecimalText is a quantity's value as sent, "" when absent.
func DecimalText(q *r4.Quantity) string {
	if q == nil || q.Value == nil {
		return ""
	}
	return q.Value.String()
}

// Unit is a quantity's unit as shown: its text, else its UCUM code.
func Unit(q *r4.Quantity) string {
	if q == nil {
		return ""
	}
	if q.Unit != nil {
		return *q.Unit
	}
	return String(q.Code)
}

// SameUnit compares UCUM codes when both have one, else the unit text; a
// unit on one side only is a mismatch.
func SameUnit(a, b *r4.Quantity) bool {
	if a.Code != nil && b.Code != nil {
		return *a.Code == *b.Code
	}
	return Unit(a) == Unit(b)
}

// UnderBase reports whether u lies under the server base: the same scheme
// and host, and a path equal to the base's or below it. It is the one
// check both the FHIR allowlist and an issuer's servers use.
//
// A path with a dot segment ("/fhir/../admin", also written "%2e%2e") or
// an encoded slash or backslash is never under a base: servers resolve
// those differently, and the check must not be the one that is wrong.
func UnderBase(u, base *url.URL) bool {
	if u.Scheme != base.Scheme || !strings.EqualFold(u.Host, base.Host) {
		return false
	}
	for _, seg := range strings.Split(u.Path, "/") {
		if seg == "." || seg == ".." || strings.Contains(seg, "\\") {
			return false
		}
	}
	if raw := strings.ToLower(u.RawPath); strings.Contains(raw, "%2f") || strings.Contains(raw, "%5c") {
		return false
	}
	p, b := strings.TrimSuffix(u.Path, "/"), strings.TrimSuffix(base.Path, "/")
	return p == b || strings.HasPrefix(p, b+"/")
}
