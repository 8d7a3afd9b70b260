package fhir

import (
	"testing"

	"github.com/balint-health/balint/synth"
)

// Run with: go test ./fhir -run '^$' -fuzz '^FuzzAddJSON$' -fuzztime 60s
func FuzzAddJSON(f *testing.F) {
	f.Add(synth.Generate(synth.Options{Seed: 1, Now: now, Pattern: true}).Collection())
	f.Add([]byte(`{"resourceType":"Patient","id":"p","birthDate":"1980"}`))
	f.Add(bundleOf(entry(`{"resourceType":"Observation","id":"x","status":"final","code":{},"valueQuantity":{"value":"x"}}`)))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		h := NewHistory()
		pg, err := h.AddJSON("k", FromPrefetch, data)
		if err != nil {
			return
		}
		if h.Len()+len(h.Skipped)+h.EnteredInError > pg.Entries {
			t.Fatalf("%d kept + %d skipped from %d entries", h.Len(), len(h.Skipped), pg.Entries)
		}
	})
}
