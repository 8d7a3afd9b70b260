package fhir

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/balint-health/balint/synth"
)

var now = time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)

func bundleOf(entries ...string) []byte {
	return []byte(`{"resourceType":"Bundle","type":"searchset","entry":[` + strings.Join(entries, ",") + `]}`)
}

func entry(resource string) string { return `{"resource":` + resource + `,"search":{"mode":"match"}}` }

const okObs = `{"resourceType":"Observation","id":"%s","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"718-7"}]},"valueQuantity":{"value":13.2,"unit":"g/dL"}}`

func TestAddJSON(t *testing.T) {
	tests := []struct {
		name     string
		data     string
		obs      int
		skipped  []string // reasons, in order
		patient  bool
		enteredE int
	}{
		{"searchset", string(bundleOf(entry(fmt.Sprintf(okObs, "a")), entry(fmt.Sprintf(okObs, "b")))), 2, nil, false, 0},
		{"collection", `{"resourceType":"Bundle","type":"collection","entry":[{"resource":` + fmt.Sprintf(okObs, "a") + `}]}`, 1, nil, false, 0},
		{"bare Patient", `{"resourceType":"Patient","id":"p1","birthDate":"1980-01-01"}`, 0, nil, true, 0},
		{"null", `null`, 0, nil, false, 0},
		{"outcome entries ignored", string(bundleOf(entry(fmt.Sprintf(okObs, "a")),
			`{"resource":{"resourceType":"OperationOutcome","issue":[]},"search":{"mode":"outcome"}}`)), 1, nil, false, 0},
		{"entered-in-error is absent", string(bundleOf(entry(strings.Replace(fmt.Sprintf(okObs, "a"), `"final"`, `"entered-in-error"`, 1)))), 0, nil, false, 1},
		{"condition entered-in-error is absent", string(bundleOf(entry(`{"resourceType":"Condition","id":"c","subject":{"reference":"Patient/p"},"verificationStatus":{"coding":[{"code":"entered-in-error"}]}}`))), 0, nil, false, 1},
		{"bad code skipped", string(bundleOf(entry(fmt.Sprintf(okObs, "a")), entry(strings.Replace(fmt.Sprintf(okObs, "b"), `"final"`, `"finalised"`, 1)))), 1,
			[]string{"unknown ObservationStatus code"}, false, 0},
		{"wrong type skipped", string(bundleOf(entry(strings.Replace(fmt.Sprintf(okObs, "b"), `13.2`, `"thirteen"`, 1)), entry(fmt.Sprintf(okObs, "a")))), 1,
			[]string{"Observation/valueQuantity/value: JSON string where a number expected"}, false, 0},
		{"missing status skipped", string(bundleOf(entry(`{"resourceType":"Observation","id":"x","code":{"text":"Hb"}}`))), 0, []string{"status missing"}, false, 0},
		{"entry without resource", string(bundleOf(`{"fullUrl":"urn:uuid:1"}`)), 0, []string{"entry has no FHIR resource"}, false, 0},
		{"unused type reported", string(bundleOf(entry(`{"resourceType":"MedicationRequest","id":"m","status":"active"}`))), 0, []string{"resource type not used"}, false, 0},
		{"resourceType not first", string(bundleOf(entry(`{"id":"a","status":"final","resourceType":"Observation","code":{"text":"Hb"}}`))), 1, nil, false, 0},
		{"Bundle's resourceType last", `{"type":"searchset","entry":[` + entry(fmt.Sprintf(okObs, "a")) + `],"resourceType":"Bundle"}`, 1, nil, false, 0},
		{"a name twice: the last counts, as with encoding/json", string(bundleOf(entry(`{"resourceType":"Observation","id":"d","status":"final","status":"entered-in-error"}`), entry(fmt.Sprintf(okObs, "a")))), 1,
			nil, false, 1},
		{"error deep in an array, next entry still read", string(bundleOf(entry(`{"resourceType":"Observation","id":"x","status":"final","referenceRange":[{"low":{"value":"1"},"high":{"value":[2]}}],"code":{"text":"Hb"}}`), entry(fmt.Sprintf(okObs, "a")))), 1,
			[]string{"Observation/referenceRange/0/low/value: JSON string where a number expected"}, false, 0},
		{"resource not an object", string(bundleOf(`{"resource":"Observation/1"}`, entry(fmt.Sprintf(okObs, "a")))), 1, []string{"entry has no FHIR resource"}, false, 0},
		{"names are case-sensitive", string(bundleOf(entry(`{"resourceType":"Observation","id":"c","Status":"final"}`))), 0, []string{"status missing"}, false, 0},
		{"entry not an object", string(bundleOf(`"x"`, entry(fmt.Sprintf(okObs, "a")))), 1, []string{"entry has no FHIR resource"}, false, 0},
		{"duplicate ids once", string(bundleOf(entry(fmt.Sprintf(okObs, "a")), entry(fmt.Sprintf(okObs, "a")))), 1, nil, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := NewHistory()
			if _, err := h.AddJSON("k", FromPrefetch, []byte(tt.data)); err != nil {
				t.Fatal(err)
			}
			if len(h.Observations) != tt.obs {
				t.Errorf("observations %d, want %d", len(h.Observations), tt.obs)
			}
			if (h.Patient != nil) != tt.patient {
				t.Errorf("patient = %v", h.Patient)
			}
			if h.EnteredInError != tt.enteredE {
				t.Errorf("entered-in-error %d, want %d", h.EnteredInError, tt.enteredE)
			}
			if len(h.Skipped) != len(tt.skipped) {
				t.Fatalf("skipped %+v, want %v", h.Skipped, tt.skipped)
			}
			for i, want := range tt.skipped {
				if !strings.Contains(h.Skipped[i].Reason, want) || h.Skipped[i].Key != "k" {
					t.Errorf("skipped[%d] = %+v, want reason containing %q", i, h.Skipped[i], want)
				}
				// A reason names fields and codes, never the offending value.
				for _, secret := range []string{"finalised", "thirteen"} {
					if strings.Contains(h.Skipped[i].Reason, secret) {
						t.Errorf("reason %q quotes the value %q", h.Skipped[i].Reason, secret)
					}
				}
			}
		})
	}
}

func TestAddJSONRejectsNonResources(t *testing.T) {
	for _, data := range []string{`[1,2]`, `"text"`, `{"resourceType":"Bundle","entry":{}}`, `{`} {
		if _, err := NewHistory().AddJSON("k", FromPrefetch, []byte(data)); err == nil {
			t.Errorf("%s: accepted", data)
		}
	}
}

func TestNextLink(t *testing.T) {
	b := `{"resourceType":"Bundle","type":"searchset","link":[{"relation":"self","url":"a"},{"relation":"next","url":"b"}],"entry":[]}`
	pg, err := NewHistory().AddJSON("k", FromServer, []byte(b))
	if err != nil || pg.Next != "b" {
		t.Fatalf("page %+v, %v", pg, err)
	}
}

// One malformed Observation among 1,000 (bad code, wrong type, missing
// status): each is skipped and reported, the other 999 kept.
func TestOneBadAmongAThousand(t *testing.T) {
	rec := synth.Generate(synth.Options{Seed: 5, Now: now, Observations: 1000})
	obs := rec.OfType("Observation")
	if len(obs) != 1000 {
		t.Fatalf("generated %d observations", len(obs))
	}
	corruptions := map[string]func(map[string]any){
		"bad code":       func(o map[string]any) { o["status"] = "done" },
		"wrong type":     func(o map[string]any) { o["valueQuantity"] = map[string]any{"value": "high"} },
		"missing status": func(o map[string]any) { delete(o, "status") },
	}
	for name, corrupt := range corruptions {
		t.Run(name, func(t *testing.T) {
			copied := make([]json.RawMessage, len(obs))
			copy(copied, obs)
			var o map[string]any
			json.Unmarshal(obs[500], &o)
			corrupt(o)
			copied[500], _ = json.Marshal(o)
			h := NewHistory()
			if _, err := h.AddJSON("observations", FromPrefetch, Searchset(copied)); err != nil {
				t.Fatal(err)
			}
			if len(h.Observations) != 999 || len(h.Skipped) != 1 || h.Skipped[0].Index != 500 || h.Skipped[0].ResourceType != "Observation" {
				t.Fatalf("kept %d, skipped %+v", len(h.Observations), h.Skipped)
			}
		})
	}
}

func BenchmarkPrefetchDecode(b *testing.B) {
	for _, n := range []int{100, 1000, 5000} {
		rec := synth.Generate(synth.Options{Seed: 1, Now: now, Observations: n})
		data := Searchset(rec.OfType("Observation"))
		b.Run(fmt.Sprintf("observations=%d", n), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				h := NewHistory()
				if _, err := h.AddJSON("observations", FromPrefetch, data); err != nil || len(h.Observations) < n {
					b.Fatalf("%d observations, %v", len(h.Observations), err)
				}
			}
		})
	}
}
