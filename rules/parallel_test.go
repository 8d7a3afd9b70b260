package rules

import (
	"encoding/json"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/balint-health/balint/fhir"
	"github.com/balint-health/balint/synth"
	"github.com/balint-health/balint/testing/outside"
)

// TestParallelReading: a history large enough to be read on every core
// gives the decision one core gives, with references written as "Type/id"
// and as a transaction bundle's "urn:uuid:<id>" (which the index learns
// while the workers read). Run with -race, it also shows the workers share
// nothing they write.
func TestParallelReading(t *testing.T) {
	rec := synth.Generate(synth.Options{Seed: 11, Now: testNow, Pattern: true, Observations: 3000})
	relative := historyOf(t, rec)
	p := DefaultPolicy()
	evaluate := func(h *fhir.History, procs int) Decision {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		return Evaluate(p, Input{History: h, Now: testNow})
	}
	fired := evaluate(relative, 1)
	if n := len(fired.Investigations); n < 2*groupsPerWorker {
		t.Fatalf("%d investigations: too few to be read by several workers", n)
	}
	if !fired.Fire {
		t.Fatal("the pattern history did not fire")
	}
	for _, tc := range []struct {
		name string
		h    *fhir.History
	}{
		{"Type/id references", relative},
		{"urn:uuid references", uuidReferences(t, rec.Collection())},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := evaluate(tc.h, 1)
			if !want.Fire || len(want.Investigations) != len(fired.Investigations) {
				t.Fatalf("one reader: fire %v, %d investigations; want the Type/id reading's %d", want.Fire, len(want.Investigations), len(fired.Investigations))
			}
			for _, procs := range []int{2, 4} {
				if got := evaluate(tc.h, procs); !reflect.DeepEqual(got, want) {
					t.Errorf("%d workers: the decision differs from one reader's", procs)
				}
			}
		})
	}
}

// uuidReferences rewrites every "ServiceRequest/<id>", "Observation/<id>"
// and "Condition/<id>" of a bundle as "urn:uuid:<id>".
func uuidReferences(t *testing.T, bundle []byte) *fhir.History {
	var v any
	if err := json.Unmarshal(bundle, &v); err != nil {
		t.Fatal(err)
	}
	v = outside.Strings(v, func(s string) string {
		for _, typ := range []string{"ServiceRequest/", "Observation/", "Condition/"} {
			if id, ok := strings.CutPrefix(s, typ); ok && id != "" {
				return "urn:uuid:" + id
			}
		}
		return s
	})
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return decoded(t, b)
}
