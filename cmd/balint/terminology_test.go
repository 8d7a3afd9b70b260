package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/balint-health/balint/advice"
	"github.com/balint-health/balint/fhir"
)

// With BALINT_TERMINOLOGY_URL set, the policy's value sets come from the
// terminology server: a cancer code only the server knows keeps the card
// silent; without the server the same record gets the card.
func TestTerminologyServerExpandsTheValueSets(t *testing.T) {
	const onlyOnServer = "999000111" // a made-up descendant of 363346000
	var asked atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/fhir/ValueSet/$expand" {
			http.NotFound(w, r)
			return
		}
		asked.Add(1)
		w.Header().Set("Content-Type", "application/fhir+json")
		json.NewEncoder(w).Encode(map[string]any{"resourceType": "ValueSet", "url": r.URL.Query().Get("url"),
			"expansion": map[string]any{"total": 1, "contains": []map[string]string{{"system": "http://snomed.info/sct", "code": onlyOnServer}}}})
	}))
	defer srv.Close()

	rec := demoRecord(t, "demo-pattern")
	prefetch := fhir.Prefetch(func(typ string) []json.RawMessage {
		rs := rec.OfType(typ)
		if typ == "Condition" {
			rs = append(rs, json.RawMessage(`{"resourceType":"Condition","id":"ca","subject":{"reference":"Patient/demo-pattern"},
				"clinicalStatus":{"coding":[{"code":"active"}]},"code":{"coding":[{"system":"http://snomed.info/sct","code":"`+onlyOnServer+`"}]}}`))
		}
		return rs
	})
	pre, _ := json.Marshal(prefetch)
	body := patientView("demo-pattern", `,"prefetch":`+string(pre))
	cards := func(in *instance) int { return len(cardsOf(t, in.hook(t, advice.ReviewID, body))) }
	if n := cards(start(t, nil)); n != 1 {
		t.Fatalf("without a terminology server: %d cards, want 1 (the code is unknown to the shipped expansion)", n)
	}
	in := start(t, func(c *Config) { c.TerminologyURL = srv.URL + "/fhir" })
	if asked.Load() == 0 {
		t.Fatal("the terminology server was not asked at start")
	}
	if n := cards(in); n != 0 {
		t.Fatalf("with the server's expansion: %d cards, want none (active cancer)", n)
	}
}
