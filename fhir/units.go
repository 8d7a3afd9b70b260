package fhir

import (
	"strings"

	r4 "github.com/samply/golang-fhir-models/fhir-models/fhir"
)

// Units that differ only by a decimal prefix convert: mg/dL and g/L,
// mmol/L and umol/L. Units of different quantities never do: mg/dL and
// mmol/L would need the analyte's molar mass, and a guess there changes a
// verdict.

// prefixes are the SI prefixes UCUM writes, as powers of ten.
var prefixes = map[string]int{"": 0, "k": 3, "d": -1, "c": -2, "m": -3, "u": -6, "µ": -6, "μ": -6, "n": -9, "p": -12}

// bases are the quantities a laboratory concentration is written in.
var bases = []string{"mol", "eq", "IU", "U", "g"}

// volumes are the volumes it is per, as powers of ten of a litre.
var volumes = map[string]int{"L": 0, "dL": -1, "mL": -3, "uL": -6, "µL": -6}

// concentration reads "mg/dL" as base g, mass exponent -3, volume
// exponent -1. ok is false for a unit that is not of this form.
func concentration(unit string) (base string, exp int, ok bool) {
	num, den, found := strings.Cut(strings.TrimSpace(unit), "/")
	if !found {
		return "", 0, false
	}
	v, ok := volumes[den]
	if !ok {
		return "", 0, false
	}
	for _, b := range bases {
		if p, cut := strings.CutSuffix(num, b); cut {
			if e, ok := prefixes[p]; ok {
				return b, e - v, true
			}
		}
	}
	return "", 0, false
}

// UnitPower is the power of ten a value in unit from is multiplied by to
// be in unit to: 0 for the same unit, the difference of their decimal
// prefixes otherwise; ok is false when they cannot be converted.
func UnitPower(from, to string) (int, bool) {
	if from == to {
		return 0, true
	}
	fb, fe, ok1 := concentration(from)
	tb, te, ok2 := concentration(to)
	if !ok1 || !ok2 || fb != tb {
		return 0, false
	}
	return fe - te, true
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// UnitOf is the unit a quantity is in for conversion: its UCUM code, else
// its unit text.
func UnitOf(q *r4.Quantity) string {
	if q == nil {
		return ""
	}
	if q.Code != nil && *q.Code != "" {
		return *q.Code
	}
	return String(q.Unit)
}
