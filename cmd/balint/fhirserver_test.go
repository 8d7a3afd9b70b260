package main

import (
	"net/http"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/balint-health/balint/advice"
	"github.com/balint-health/balint/synth"
	"github.com/balint-health/balint/testing/fhirserver"
)

// The whole path against the real FHIR server: the EHR sends no prefetch,
// Balint runs its own templates (subject and date bounds) against the
// server with the token it was handed, and the rule decides on what came
// back.
func TestHooksAgainstRealFHIRServer(t *testing.T) {
	fs := fhirserver.Start(t)
	pattern := synth.Generate(synth.Options{Seed: 21, Now: testNow, PatientID: "srv-pattern", Pattern: true, Observations: 400})
	control := synth.Generate(synth.Options{Seed: 22, Now: testNow, PatientID: "srv-control"})
	critical := synth.Generate(synth.Options{Seed: 23, Now: testNow, PatientID: "srv-critical", Pattern: true, Exclusions: []synth.Exclusion{synth.Critical}})
	for _, r := range []*synth.Record{pattern, control, critical} {
		fs.Load(t, r)
	}
	in := start(t, func(c *Config) { c.FHIRAllow = []string{fs.URL}; c.AllowLoopbackFHIR = true })
	server := `,"fhirServer":"` + fs.URL + `","fhirAuthorization":{"access_token":"t0k","token_type":"Bearer","expires_in":300,"scope":"patient/*.read","subject":"balint"}`
	for _, tc := range []struct {
		patient string
		cards   int
	}{{"srv-pattern", 1}, {"srv-control", 0}, {"srv-critical", 0}} {
		r := in.hook(t, advice.ReviewID, patientView(tc.patient, server))
		if got := len(cardsOf(t, r)); got != tc.cards {
			t.Errorf("%s: %d cards, want %d", tc.patient, got, tc.cards)
		}
	}
	// order-select in the same session (issuer, server, patient, token)
	// reuses what patient-view fetched: all seven parts from the cache.
	hits := func() float64 { return testutil.ToFloat64(in.Metrics.FHIRCache.WithLabelValues("hit")) }
	misses := func() float64 { return testutil.ToFloat64(in.Metrics.FHIRCache.WithLabelValues("miss")) }
	h0, m0 := hits(), misses()
	body := orderBody("order-select", "srv-pattern", "58410-2")
	body = body[:len(body)-1] + server + "}"
	if c := cardsOf(t, in.hook(t, advice.OrderSelectID, body)); len(c) != 1 || len(c[0].Suggestions) == 0 {
		t.Fatalf("order-select against the server: %+v", c)
	}
	if hits()-h0 != 7 || misses() != m0 {
		t.Fatalf("order-select after patient-view: %v cache hits, %v misses, want 7 and 0", hits()-h0, misses()-m0)
	}
	if r := in.hook(t, advice.ReviewID, patientView("nobody-here", server)); r.Status != http.StatusPreconditionFailed {
		t.Fatalf("unknown patient on the server: %d", r.Status)
	}
}
