package fhir

import (
	"encoding/json"
	"testing"

	"github.com/balint-health/balint/synth"
	"github.com/go-json-experiment/json/jsontext"
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

// ignorable are elements of each type the rule does not read (see
// readElements): whatever JSON a vendor puts there, the resource is kept.
var ignorable = map[string][]string{
	"Patient": {"gender", "telecom", "name", "address", "active", "text", "maritalStatus", "communication",
		"contact", "identifier", "meta", "extension", "photo", "deceasedBoolean", "multipleBirthBoolean", "generalPractitioner"},
	"Observation": {"text", "identifier", "meta", "note", "performer", "method", "specimen", "device", "bodySite", "subject", "encounter", "extension", "focus"},
	"Condition":   {"text", "identifier", "meta", "note", "severity", "bodySite", "stage", "evidence", "subject", "encounter", "recorder", "asserter", "category"},
}

var fuzzBases = map[string]string{
	"Patient":     `{"resourceType":"Patient","id":"p","birthDate":"1980-05-14","gender":"female"}`,
	"Observation": `{"resourceType":"Observation","id":"o","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"718-7"}]},"effectiveDateTime":"2026-01-02","valueQuantity":{"value":13.1,"unit":"g/dL"}}`,
	"Condition":   `{"resourceType":"Condition","id":"c","clinicalStatus":{"coding":[{"code":"active"}]},"code":{"text":"x"}}`,
}

// Run with: go test ./fhir -run '^$' -fuzz '^FuzzIgnoredElement$' -fuzztime 60s
//
// Any JSON in an element the rule does not read never costs the resource.
func FuzzIgnoredElement(f *testing.F) {
	for _, v := range []string{`"1"`, `"M"`, `true`, `"legal"`, `{"status":"generated "}`, `[{"rank":"1"},{"rank":2}]`,
		`12345678901234567890`, `null`, `[[[]]]`, `{"coding":[{"code":5}]}`} {
		f.Add(uint8(0), uint8(1), []byte(v))
	}
	types := []string{"Patient", "Observation", "Condition"}
	f.Fuzz(func(t *testing.T, which, elem uint8, value []byte) {
		if !jsontext.Value(value).IsValid() {
			return
		}
		typ := types[int(which)%len(types)]
		names := ignorable[typ]
		name := names[int(elem)%len(names)]
		var doc map[string]jsontext.Value
		if err := json.Unmarshal([]byte(fuzzBases[typ]), &doc); err != nil {
			t.Fatal(err)
		}
		doc[name] = jsontext.Value(value)
		data, err := json.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, body := range [][]byte{data, bundleOf(entry(string(data)))} {
			h := NewHistory()
			if _, err := h.AddJSON("k", FromPrefetch, body); err != nil {
				t.Fatal(err)
			}
			if h.Len() != 1 {
				t.Fatalf("%s with %s = %s: not kept (skipped %v)", typ, name, value, h.Skipped)
			}
		}
	})
}
