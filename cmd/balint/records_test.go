package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/balint-health/balint/advice"
	"github.com/balint-health/balint/auth"
	"github.com/balint-health/balint/fhir"
	"github.com/balint-health/balint/synth"
	"github.com/balint-health/balint/testing/ehr"
)

// demoRecord is one of the embedded demo patients' records, to send as
// prefetch with changes.
func demoRecord(t *testing.T, id string) *synth.Record {
	t.Helper()
	for _, r := range synth.Demo() {
		if r.PatientID == id {
			return r
		}
	}
	t.Fatalf("no demo patient %s", id)
	return nil
}

// A Patient as some vendors send it (telecom rank as a string, gender
// "M", a legacy name use, a narrative status with a trailing space) is
// read, not dropped: the call answers with the card. A Patient whose birth
// date cannot be read is a 412 that says so.
func TestVendorPatientIsRead(t *testing.T) {
	rec := demoRecord(t, "demo-pattern")
	withPatient := func(patient string) string {
		pre := fhir.Prefetch(rec.OfType)
		pre["patient"] = json.RawMessage(patient)
		b, _ := json.Marshal(pre)
		return patientView("demo-pattern", `,"prefetch":`+string(b))
	}
	in := start(t, nil)
	r := in.hook(t, advice.ReviewID, withPatient(`{"resourceType":"Patient","id":"demo-pattern","birthDate":"1979-03-02","gender":"M",
		"telecom":[{"system":"phone","value":"555-0100","rank":"1"}],"name":[{"use":"legal","family":"Doe"}],
		"address":[{"use":"mailing"}],"active":"true","text":{"status":"generated ","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">Doe</div>"}}`))
	if c := cardsOf(t, r); len(c) != 1 {
		t.Fatalf("vendor Patient: %d cards, want the card", len(c))
	}
	if got := counter(t, in, "balint_history_repaired_total", `element="telecom",resource_type="Patient"`); got != 1 {
		t.Errorf("repairs counted %v times for Patient telecom, want 1", got)
	}
	r = in.hook(t, advice.ReviewID, withPatient(`{"resourceType":"Patient","id":"demo-pattern","birthDate":19790302}`))
	if r.Status != 412 || !strings.Contains(string(r.Body), "the Patient could not be read") {
		t.Fatalf("unreadable birth date: %d %s", r.Status, r.Body)
	}
}

// An issuer naming a FHIR server that is not one of its own is answered
// when the prefetch is complete (nothing is called), and is a 412 when a
// fetch would be needed; the server is never called.
func TestFHIRServerOutsideTheIssuersListOnlyWhenFetching(t *testing.T) {
	var called atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { called.Add(1) }))
	defer other.Close()
	e := ehr.New(t, "https://ehr.example")
	in := start(t, func(c *Config) {
		c.Dev = false
		c.Issuers = []auth.Issuer{{ID: e.Issuer, JWKSURL: e.JWKSURL, FHIRServers: []string{"https://fhir.ehr.example/r4"}}}
		c.AllowLoopbackFHIR = true
		// BALINT_FHIR_ALLOW does not widen an issuer's servers.
		c.FHIRAllow = []string{other.URL + "/fhir"}
	})
	pre := fhir.Prefetch(demoRecord(t, "demo-pattern").OfType)
	call := func(prefetch map[string]json.RawMessage) response {
		b, _ := json.Marshal(prefetch)
		body := patientView("demo-pattern", `,"fhirServer":"`+other.URL+`/fhir","prefetch":`+string(b))
		jwt := e.Sign(t, e.Valid(in.URL+"/cds-services", testNow), nil, nil, nil)
		return do(t, http.MethodPost, in.URL+"/cds-services/"+advice.ReviewID, body, "Authorization", "Bearer "+jwt)
	}
	if r := call(pre); r.Status != 200 {
		t.Fatalf("complete prefetch: %d %s", r.Status, r.Body)
	}
	delete(pre, "observations")
	if r := call(pre); r.Status != 412 || !strings.Contains(string(r.Body), "observations") {
		t.Fatalf("a fetch needed from a server not the issuer's: %d %s", r.Status, r.Body)
	}
	if n := called.Load(); n != 0 {
		t.Fatalf("the server outside the issuer's list was called %d times", n)
	}
}
