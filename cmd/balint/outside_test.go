package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/balint-health/balint/advice"
	"github.com/balint-health/balint/fhir"
	"github.com/balint-health/balint/testing/outside"
)

// Every outside record (../shared/data: Synthea patients, HL7 R4 examples)
// sent as a hook's prefetch is answered: no call fails, whatever vendor
// shapes it holds. A record without a Patient is sent with the HL7
// example Patient. (What the rule decides on each is rules'
// TestOutsideRecords.)
func TestOutsideRecordsAsPrefetch(t *testing.T) {
	files := outside.Files(t, "*")
	examplePatient, err := os.ReadFile(filepath.Join(filepath.Dir(filepath.Dir(files[0])), "hl7-r4-examples", "Patient-example.json"))
	if err != nil {
		t.Fatal(err)
	}
	in := start(t, func(c *Config) { c.RateLimit = 0 }) // 147 calls in a burst
	for _, file := range files {
		name := filepath.Base(filepath.Dir(file)) + "/" + strings.TrimSuffix(filepath.Base(file), ".json")
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			byType := map[string][]json.RawMessage{}
			var doc struct {
				ResourceType string `json:"resourceType"`
				Entry        []struct {
					Resource json.RawMessage `json:"resource"`
				} `json:"entry"`
			}
			if err := json.Unmarshal(raw, &doc); err != nil {
				t.Fatal(err)
			}
			add := func(r json.RawMessage) {
				var h struct {
					ResourceType string `json:"resourceType"`
				}
				json.Unmarshal(r, &h)
				byType[h.ResourceType] = append(byType[h.ResourceType], r)
			}
			if doc.ResourceType == "Bundle" {
				for _, e := range doc.Entry {
					add(e.Resource)
				}
			} else {
				add(raw)
			}
			if len(byType["Patient"]) == 0 {
				byType["Patient"] = []json.RawMessage{examplePatient}
			}
			var pt struct {
				ID string `json:"id"`
			}
			json.Unmarshal(byType["Patient"][0], &pt)
			pre, _ := json.Marshal(fhir.Prefetch(func(typ string) []json.RawMessage { return byType[typ] }))
			r := in.hook(t, advice.ReviewID, patientView(pt.ID, `,"prefetch":`+string(pre)))
			if r.Status != 200 {
				t.Fatalf("%d %s", r.Status, r.Body)
			}
		})
	}
}
