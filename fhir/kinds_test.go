package fhir

import (
	"sync"
	"testing"

	r4 "github.com/samply/golang-fhir-models/fhir-models/fhir"
)

// TestIndex: every way a reference is written finds the same resource; an
// id two types share finds each by its type, and stands for the same one
// every time it is compared. Several readers at once learn the uuid keys
// once (run with -race).
func TestIndex(t *testing.T) {
	h := NewHistory()
	h.Observations = []r4.Observation{{Id: new("o1")}, {Id: new("x")}}
	h.Procedures = []r4.Procedure{{Id: new("x")}}
	ix := NewIndex(h)
	obs := func(ref string) string {
		if o := Lookup[r4.Observation](ix, ref); o != nil {
			return *o.Id
		}
		return ""
	}
	proc := func(ref string) string {
		if p := Lookup[r4.Procedure](ix, ref); p != nil {
			return "Procedure " + *p.Id
		}
		return ""
	}
	for _, tc := range []struct {
		ref, obs, proc, canonical string
	}{
		{"Observation/o1", "o1", "", "Observation/o1"},
		{"https://ehr.example/fhir/Observation/o1/_history/3", "o1", "", "Observation/o1"},
		{"urn:uuid:o1", "o1", "", "Observation/o1"},
		{"urn:uuid:x", "x", "Procedure x", "Observation/x"},
		{"Procedure/x", "", "Procedure x", "Procedure/x"},
		{"urn:uuid:missing", "", "", "urn:uuid:missing"},
		{"Observation/missing", "", "", "Observation/missing"},
		{"Observation", "", "", "Observation"},
		{"o1", "", "", "o1"},
	} {
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				if got := obs(tc.ref); got != tc.obs {
					t.Errorf("Lookup[Observation](%q) = %q, want %q", tc.ref, got, tc.obs)
				}
				if got := proc(tc.ref); got != tc.proc {
					t.Errorf("Lookup[Procedure](%q) = %q, want %q", tc.ref, got, tc.proc)
				}
				if got := ix.Canonical(tc.ref); got != tc.canonical {
					t.Errorf("Canonical(%q) = %q, want %q", tc.ref, got, tc.canonical)
				}
			})
		}
		wg.Wait()
	}
}
