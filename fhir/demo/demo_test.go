package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/balint-health/balint/fhir"
	"github.com/balint-health/balint/synth"
)

// The embedded files are what the generator writes today: regenerate with
// `go generate ./fhir/demo` after changing the generator.
func TestEmbeddedDataIsTheGeneratorsOutput(t *testing.T) {
	for _, rec := range synth.Demo() {
		b, err := files.ReadFile("data/" + rec.PatientID + ".json")
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(bytes.TrimSpace(b), bytes.TrimSpace(rec.Collection())) {
			t.Errorf("%s differs from the generator's output; run go generate ./fhir/demo", rec.PatientID)
		}
	}
}

func TestSearchMovesDatesWithTheClock(t *testing.T) {
	later := synth.DemoEpoch.AddDate(0, 0, 100)
	s := New(func() time.Time { return later })
	var pages [][]byte
	if err := s.Search(context.Background(), "Encounter?subject=Patient/demo-pattern&date=ge2020-01-01", func(b []byte) error {
		pages = append(pages, b)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	h := fhir.NewHistory()
	h.AddJSON("encounters", fhir.FromDemo, pages[0])
	rec := synth.Demo()[0]
	var first struct {
		Period struct{ Start time.Time } `json:"period"`
	}
	json.Unmarshal(rec.OfType("Encounter")[0], &first)
	got, _ := time.Parse(time.RFC3339, *h.Encounters[0].Period.Start)
	if !got.Equal(first.Period.Start.AddDate(0, 0, 100)) {
		t.Fatalf("encounter at %v, generated at %v: want moved by 100 days", got, first.Period.Start)
	}
	if err := s.Search(context.Background(), "Patient/nobody", func([]byte) error { return nil }); err == nil {
		t.Fatal("an unknown demo patient was found")
	}
}
