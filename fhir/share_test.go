package fhir

import (
	"fmt"
	"reflect"
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
	if kept := len(d.tables().shares); kept > shareTrial+8 {
		t.Errorf("%d values kept for sharing; the orders' site should have stopped at %d", kept, shareTrial)
	}
	d.release()
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

// TestTablesAreEmptiedForTheNextDecoding: the tables a decoding gives back
// hold nothing of it, and a decoding that takes them over reads as one
// with new tables.
func TestTablesAreEmptiedForTheNextDecoding(t *testing.T) {
	first := bundleOf(entry(`{"resourceType":"Observation","id":"a","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"718-7"}]},"subject":{"reference":"Patient/p1"}}`),
		entry(`{"resourceType":"Observation","id":"b","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"718-7"}]},"subject":{"reference":"Patient/p1"}}`))
	second := bundleOf(entry(`{"resourceType":"Observation","id":"c","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"718-7"}]},"subject":{"reference":"Patient/p2"}}`),
		entry(`{"resourceType":"Observation","id":"d","status":"amended","code":{"coding":[{"system":"http://loinc.org","code":"2345-7"}]},"subject":{"reference":"Patient/p2"}}`))

	d := fastDec{Scanner: jsonscan.Scanner{Data: first}}
	if _, ok := NewHistory().walkBundle("observations", &d, len(first)); !ok {
		t.Fatal("first bundle not read")
	}
	tb := d.tables()
	if len(tb.shares) == 0 || len(tb.uses) == 0 {
		t.Fatal("the first decoding shared nothing: the test reads nothing")
	}
	d.release()
	if len(tb.shares) != 0 || len(tb.uses) != 0 {
		t.Errorf("released tables hold %d shared values and %d sites", len(tb.shares), len(tb.uses))
	}
	for i, s := range tb.seen[:cap(tb.seen)] {
		if s != nil {
			t.Fatalf("intern slot %d still holds %q", i, *s)
		}
	}

	fresh := NewHistory()
	if _, err := fresh.addBundle("observations", second); err != nil {
		t.Fatal(err)
	}
	reused := NewHistory()
	d = fastDec{Scanner: jsonscan.Scanner{Data: second}, t: tb}
	if _, ok := reused.walkBundle("observations", &d, len(second)); !ok {
		t.Fatal("second bundle not read")
	}
	d.release()
	if !reflect.DeepEqual(fresh.Observations, reused.Observations) {
		t.Errorf("read with reused tables:\n%+v\nwith new ones:\n%+v", reused.Observations, fresh.Observations)
	}
}
