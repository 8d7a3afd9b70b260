package main

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	balinthttp "github.com/balint-health/balint/http"

	"github.com/balint-health/balint/advice"
	"github.com/balint-health/balint/cdshooks"
)

func TestDiscovery(t *testing.T) {
	in := start(t, nil)
	r := do(t, http.MethodGet, in.URL+"/cds-services", "")
	if r.Status != http.StatusOK {
		t.Fatalf("status %d", r.Status)
	}
	var d cdshooks.Discovery
	r.json(t, &d)
	// The CDS Hooks 2.0 shape: hook, description and id required; prefetch
	// values are FHIR queries whose only tokens are the standard ones.
	if len(d.Services) != 4 {
		t.Fatalf("%d services", len(d.Services))
	}
	hooks := map[string]bool{}
	token := regexp.MustCompile(`\{\{([^}]*)\}\}`)
	for _, s := range d.Services {
		if s.Hook == "" || s.ID == "" || s.Description == "" {
			t.Errorf("service %+v lacks a required field", s)
		}
		hooks[s.Hook] = true
		for k, q := range s.Prefetch {
			for _, m := range token.FindAllStringSubmatch(q, -1) {
				if m[1] != "context.patientId" {
					t.Errorf("%s prefetch %s uses non-standard token %s", s.ID, k, m[0])
				}
			}
		}
		if len(s.Prefetch) != 7 {
			t.Errorf("%s has %d prefetch templates, want 7", s.ID, len(s.Prefetch))
		}
	}
	for _, h := range []string{"patient-view", "encounter-start", "order-select", "order-sign"} {
		if !hooks[h] {
			t.Errorf("no service for %s", h)
		}
	}
	if strings.Contains(string(r.Body), `\u0026`) {
		t.Error("discovery escapes & in queries")
	}
	golden(t, "discovery.json", pretty(t, d))
}

func TestBadInput(t *testing.T) {
	in := start(t, nil)
	tests := []struct {
		name, service, body string
		status              int
		message             string
	}{
		{"invalid JSON", advice.ReviewID, `{"hook":"patient-view",`, 400, "body: not valid JSON"},
		{"missing hook", advice.ReviewID, `{"hookInstance":"` + hookInstance + `","context":{"userId":"Practitioner/1","patientId":"1"}}`, 400, "hook: required"},
		{"wrong hook for the service", advice.ReviewID, strings.Replace(patientView("demo-pattern", ""), "patient-view", "order-sign", 1), 400, `hook: this service handles "patient-view"`},
		{"non-object prefetch", advice.ReviewID, patientView("demo-pattern", `,"prefetch":"everything"`), 400, "prefetch: must be an object"},
		{"prefetch value not a resource", advice.ReviewID, patientView("demo-pattern", `,"prefetch":{"patient":[1]}`), 400, "prefetch.patient: must be a FHIR resource"},
		{"10 MB garbage", advice.ReviewID, strings.Repeat("\x7fgarbage", 10<<20/8), 400, "body: not valid JSON"},
		{"20 MB body", advice.ReviewID, `{"hook":"` + strings.Repeat("a", 20<<20) + `"}`, 413, "request body too large"},
		{"unknown service", "nope", patientView("demo-pattern", ""), 404, "no CDS service with this id"},
		{"patient not in the demo", advice.ReviewID, patientView("nobody", ""), 412, `data for "patient" could not be obtained`},
		{"fhirServer not allowlisted", advice.ReviewID, patientView("demo-pattern", `,"fhirServer":"http://169.254.169.254/"`), 412, "fhirServer refused"},
		{"order hook without draftOrders", advice.OrderSelectID, strings.Replace(patientView("demo-pattern", ""), "patient-view", "order-select", 1), 400, "context.draftOrders: required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := in.hook(t, tt.service, tt.body)
			if r.Status != tt.status {
				t.Fatalf("status %d, want %d: %.300s", r.Status, tt.status, r.Body)
			}
			var e balinthttp.ErrorBody
			r.json(t, &e)
			if !strings.Contains(e.Error, tt.message) {
				t.Fatalf("message %q, want it to contain %q", e.Error, tt.message)
			}
		})
	}
	if strings.Contains(in.Logs.String(), "panic") {
		t.Fatal("a request panicked")
	}
}

func TestHealth(t *testing.T) {
	in := start(t, nil)
	for _, p := range []string{"/healthz", "/readyz"} {
		if r := do(t, http.MethodGet, in.URL+p, ""); r.Status != 200 {
			t.Errorf("%s: %d", p, r.Status)
		}
	}
	in.Store.Close()
	if r := do(t, http.MethodGet, in.URL+"/readyz", ""); r.Status != http.StatusServiceUnavailable {
		t.Errorf("readyz with the database closed: %d", r.Status)
	}
	if r := do(t, http.MethodGet, in.URL+"/healthz", ""); r.Status != 200 {
		t.Errorf("healthz is liveness only, got %d", r.Status)
	}
}

// CDS Hooks 2.0, "HTTP Status Codes": a path that names no service is 404,
// a method the endpoint does not take is 405, and a CORS preflight with
// CORS off is answered at once; none of these waits for the hook deadline
// and answers 503.
func TestHTTPStatusCodes(t *testing.T) {
	in := start(t, nil)
	tests := []struct {
		method, path string
		want         int
	}{
		{http.MethodPost, "/cds-services/no-such-service", 404},
		{http.MethodPost, "/cds-services/balint-review/extra/path", 404},
		{http.MethodGet, "/cds-services/balint-review/feedback/more", 404},
		{http.MethodGet, "/cds-services/nowhere/at/all", 404},
		{http.MethodPut, "/cds-services/balint-review", 405},
		{http.MethodDelete, "/cds-services", 405},
		{http.MethodGet, "/cds-services/balint-review/feedback", 405},
	}
	for _, tt := range tests {
		r := do(t, tt.method, in.URL+tt.path, "")
		if r.Status != tt.want {
			t.Errorf("%s %s: %d, want %d (%s)", tt.method, tt.path, r.Status, tt.want, r.Body)
		}
	}
	r := do(t, http.MethodOptions, in.URL+"/cds-services/balint-review", "", "Origin", "https://ehr.example", "Access-Control-Request-Method", "POST")
	if r.Status == http.StatusServiceUnavailable || r.Status >= 500 {
		t.Errorf("CORS preflight with CORS off: %d", r.Status)
	}
}
