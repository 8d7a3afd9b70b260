package fhir

import (
	"slices"
	"strings"
	"testing"
)

// Elements vendors send malformed: the rule does not read them, so the
// resource is kept with the element mended or dropped; an element the rule
// reads, malformed, still skips its resource.
func TestMalformedElementsTheRuleDoesNotRead(t *testing.T) {
	patient := `{"resourceType":"Patient","id":"p1","birthDate":"1980-05-14","gender":"M","active":"true",
		"text":{"status":"generated ","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"},
		"telecom":[{"system":"phone","value":"555","rank":"1"},{"system":"email","value":"a@b.c"}],
		"name":[{"use":"legal","family":"Doe"}],"address":[{"use":"mailing","city":"X"}]}`
	for name, body := range map[string]string{
		"bare resource": patient,
		"in a Bundle":   `{"resourceType":"Bundle","type":"searchset","entry":[{"resource":` + patient + `}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			h := NewHistory()
			if _, err := h.AddJSON("patient", FromPrefetch, []byte(body)); err != nil {
				t.Fatal(err)
			}
			if h.Patient == nil || h.Patient.Gender == nil || h.Patient.Gender.Code() != "male" || String(h.Patient.BirthDate) != "1980-05-14" {
				t.Fatalf("patient %+v, skipped %v", h.Patient, h.Skipped)
			}
			if len(h.Patient.Telecom) != 2 {
				t.Errorf("telecom: %d entries kept, want both (only the bad rank dropped)", len(h.Patient.Telecom))
			}
			var elements []string
			for _, r := range h.Repaired {
				elements = append(elements, r.Element)
				if strings.Contains(r.Reason, "555") || strings.Contains(r.Reason, "Doe") {
					t.Errorf("a reason quotes the record: %q", r.Reason)
				}
			}
			slices.Sort(elements)
			want := []string{"active", "address/use", "gender", "name/use", "telecom/rank", "text/status"}
			if !slices.Equal(elements, want) {
				t.Errorf("repaired %v, want %v", elements, want)
			}
			if len(h.Skipped) != 0 {
				t.Errorf("skipped %v", h.Skipped)
			}
		})
	}
}

func TestMalformedElementsTheRuleReads(t *testing.T) {
	for name, body := range map[string]string{
		"comparator":     `{"resourceType":"Observation","id":"o1","status":"final","code":{"text":"K"},"valueQuantity":{"value":5,"comparator":"about"}}`,
		"status":         `{"resourceType":"Observation","id":"o1","status":"done","code":{"text":"K"}}`,
		"birth date":     `{"resourceType":"Patient","id":"p1","birthDate":19800514}`,
		"clinicalStatus": `{"resourceType":"Condition","id":"c1","clinicalStatus":"active","code":{"text":"x"}}`,
	} {
		t.Run(name, func(t *testing.T) {
			h := NewHistory()
			if _, err := h.AddJSON("all", FromPrefetch, []byte(`{"resourceType":"Bundle","type":"collection","entry":[{"resource":`+body+`}]}`)); err != nil {
				t.Fatal(err)
			}
			if h.Len() != 0 || len(h.Skipped) != 1 || len(h.Repaired) != 0 {
				t.Fatalf("kept %d, skipped %v, repaired %v: a malformed element the rule reads must skip the resource", h.Len(), h.Skipped, h.Repaired)
			}
		})
	}
}
