package fhir

import (
	"fmt"
	"strings"
	"testing"

	"github.com/balint-health/balint/jsonscan"
)

// TestSharedValues: an element repeated byte for byte is decoded once and
// shared by the resources that repeat it; one that differs, even only in
// its spacing, is its own; and every resource reads as the v2 decoder
// reads it.
func TestSharedValues(t *testing.T) {
	const (
		subject = `"subject":{"reference":"Patient/p"}`
		rng     = `"referenceRange":[{"low":{"value":12,"unit":"g/dL"},"high":{"value":16,"unit":"g/dL"}}]`
		code    = `"code":{"coding":[{"system":"http://loinc.org","code":"718-7"}]}`
		spaced  = `"code":{"coding":[ {"system":"http://loinc.org","code":"718-7"}]}`
		other   = `"code":{"coding":[{"system":"http://loinc.org","code":"6690-2"}]}`
	)
	obs := func(id string, members ...string) string {
		return `{"resourceType":"Observation","id":"` + id + `","status":"final",` + strings.Join(members, ",") + `}`
	}
	data := bundleOf(
		entry(obs("a", code, subject, rng)),
		entry(obs("b", code, subject, rng)),
		entry(obs("c", spaced, subject, rng)),
		entry(obs("d", other, `"subject":{"reference":"Patient/q"}`, rng)),
	)
	SameReading(t, "observations", data)
	h := NewHistory()
	if _, err := h.AddJSON("observations", FromPrefetch, data); err != nil || len(h.Observations) != 4 {
		t.Fatalf("%d observations, %v", len(h.Observations), err)
	}
	a, b, c, d := &h.Observations[0], &h.Observations[1], &h.Observations[2], &h.Observations[3]
	for _, tc := range []struct {
		what   string
		x, y   any
		shared bool
	}{
		{"the same coding", &a.Code.Coding[0], &b.Code.Coding[0], true},
		{"the same subject", a.Subject, b.Subject, true},
		{"the same reference range", &a.ReferenceRange[0], &d.ReferenceRange[0], true},
		{"a coding spaced otherwise", &a.Code.Coding[0], &c.Code.Coding[0], false},
		{"another coding", &a.Code.Coding[0], &d.Code.Coding[0], false},
		{"another subject", a.Subject, d.Subject, false},
	} {
		if got := tc.x == tc.y; got != tc.shared {
			t.Errorf("%s: shared %v, want %v", tc.what, got, tc.shared)
		}
	}
}

// TestSharingStopsWhereValuesDoNotRepeat: a site whose values are all
// different (each result's order) is given up after its trial, so the
// table of values seen does not grow with the history; a site whose
// values repeat goes on sharing.
func TestSharingStopsWhereValuesDoNotRepeat(t *testing.T) {
	const n = 20 * shareTrial
	entries := make([]string, n)
	for i := range entries {
		entries[i] = entry(fmt.Sprintf(`{"resourceType":"Observation","id":"o%d","status":"final","basedOn":[{"reference":"ServiceRequest/r%d"}],"subject":{"reference":"Patient/p"}}`, i, i))
	}
	data := bundleOf(entries...)
	h := NewHistory()
	d := fastDec{Scanner: jsonscan.Scanner{Data: data}}
	if _, ok := h.walkBundle("observations", &d, len(data)); !ok || len(h.Observations) != n {
		t.Fatalf("read %v, %d observations", ok, len(h.Observations))
	}
	if len(d.shares) > shareTrial+8 {
		t.Errorf("%d values kept for sharing; the orders' site should have stopped at %d", len(d.shares), shareTrial)
	}
	for i := range h.Observations {
		if h.Observations[i].Subject != h.Observations[0].Subject {
			t.Fatalf("observation %d: its subject is not shared", i)
		}
	}
}

// TestSharingKeepsTheNestingBound: a value seen before is given again
// only where reading it would have stayed within the scanner's nesting
// bound, so sharing never reads a Bundle the walker would refuse. The same
// Bundle with the first value spelled otherwise (nothing to share) is read,
// or refused, at every bound exactly as it is.
func TestSharingKeepsTheNestingBound(t *testing.T) {
	bundle := func(code string) []byte {
		return bundleOf(entry(`{"resourceType":"Observation","id":"o","status":"final","extension":[` +
			`{"url":"u","valueCoding":{"code":"` + code + `"}},` +
			`{"url":"v","extension":[{"url":"v","extension":[{"url":"u","valueCoding":{"code":"c"}}]}]}]}`))
	}
	sharing, alone := bundle("c"), bundle("d")
	refused := 0
	for bound := 1; bound <= 12; bound++ {
		read := func(data []byte) bool {
			d := fastDec{Scanner: jsonscan.Scanner{Data: data, MaxDepth: bound}}
			_, ok := NewHistory().walkBundle("observations", &d, len(data))
			return ok
		}
		got, want := read(sharing), read(alone)
		if got != want {
			t.Errorf("bound %d: read %v with a value to share, %v without", bound, got, want)
		}
		if !want {
			refused++
		}
	}
	if refused == 0 || refused == 12 {
		t.Fatalf("%d of 12 bounds refused: the bounds tried do not cross the Bundle's nesting", refused)
	}
}
