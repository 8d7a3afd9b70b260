package synth

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

var now = time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)

func TestSameSeedSameBytes(t *testing.T) {
	o := Options{Seed: 42, Now: now, Pattern: true, Exclusions: AllExclusions, Observations: 300}
	a, b := Generate(o), Generate(o)
	if !bytes.Equal(a.Collection(), b.Collection()) {
		t.Fatal("same options, different histories")
	}
	o.Seed = 43
	if bytes.Equal(a.Collection(), Generate(o).Collection()) {
		t.Fatal("different seeds, same history")
	}
}

func TestSizeKnob(t *testing.T) {
	for _, n := range []int{0, 10, 1000} {
		rec := Generate(Options{Seed: 1, Now: now, Observations: n})
		if got := len(rec.OfType("Observation")); got < n || (n > 10 && got != n) {
			t.Errorf("Observations %d: got %d", n, got)
		}
	}
}

func TestEveryResourceNamesThePatient(t *testing.T) {
	rec := Generate(Options{Seed: 2, Now: now, Pattern: true, Exclusions: AllExclusions, Observations: 20})
	ids := map[string]bool{}
	for _, r := range rec.Resources {
		var v struct {
			ID      string `json:"id"`
			Subject struct {
				Reference string `json:"reference"`
			} `json:"subject"`
		}
		if err := json.Unmarshal(r.JSON, &v); err != nil {
			t.Fatal(err)
		}
		if v.ID != r.ID || ids[r.Type+"/"+r.ID] {
			t.Fatalf("%s/%s: id %q duplicated or wrong", r.Type, r.ID, v.ID)
		}
		ids[r.Type+"/"+r.ID] = true
		if r.Type != "Patient" && v.Subject.Reference != "Patient/"+rec.PatientID {
			t.Fatalf("%s/%s subject %q", r.Type, r.ID, v.Subject.Reference)
		}
	}
	txs := rec.Transactions(50)
	if len(txs) != (len(rec.Resources)+49)/50 {
		t.Fatalf("%d transactions for %d resources", len(txs), len(rec.Resources))
	}
}
