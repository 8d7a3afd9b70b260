package client

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/balint-health/balint/fhir"
	"github.com/balint-health/balint/synth"
	"github.com/balint-health/balint/testing/fhirserver"
)

var testNow = time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)

// queries are the services' prefetch templates rendered for one patient,
// without date bounds (the generator spreads the padding over ten years).
func queries(pid string) map[string]string {
	return map[string]string{
		"patient":      "Patient/" + pid,
		"observations": "Observation?subject=Patient/" + pid,
		"reports":      "DiagnosticReport?subject=Patient/" + pid,
		"encounters":   "Encounter?subject=Patient/" + pid,
		"requests":     "ServiceRequest?subject=Patient/" + pid,
		"conditions":   "Condition?subject=Patient/" + pid,
		"procedures":   "Procedure?subject=Patient/" + pid,
	}
}

func prefetchOf(rec *synth.Record) map[string]json.RawMessage { return fhir.Prefetch(rec.OfType) }

func testLoader(t *testing.T, base string) *Loader {
	g, err := NewGuard([]string{base}, true)
	if err != nil {
		t.Fatal(err)
	}
	lim := DefaultLimits
	return &Loader{Guard: g, HTTP: &http.Client{}, Limits: lim, Budget: 30 * time.Second}
}

// canonical is a history's resources as sorted JSON per type, to compare
// two histories resource for resource. meta is left out: the server
// stamps versionId and lastUpdated on what it stores.
func canonical(t *testing.T, h *fhir.History) map[string][]string {
	out := map[string][]string{}
	add := func(typ string, v any) {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		delete(m, "meta")
		b, _ = json.Marshal(m)
		out[typ] = append(out[typ], string(b))
	}
	add("Patient", h.Patient)
	for _, r := range h.Observations {
		add("Observation", r)
	}
	for _, r := range h.DiagnosticReports {
		add("DiagnosticReport", r)
	}
	for _, r := range h.Encounters {
		add("Encounter", r)
	}
	for _, r := range h.ServiceRequests {
		add("ServiceRequest", r)
	}
	for _, r := range h.Conditions {
		add("Condition", r)
	}
	for _, r := range h.Procedures {
		add("Procedure", r)
	}
	for _, v := range out {
		sort.Strings(v)
	}
	return out
}

// The acceptance test of the history issue: a 5,000-Observation history
// read from the real server through many pages equals, resource for
// resource, the same history given as prefetch.
func TestMedplumHistoryEqualsPrefetch(t *testing.T) {
	s := fhirserver.Start(t)
	rec := synth.Generate(synth.Options{Seed: 11, Now: testNow, Pattern: true, NormalInvestigations: 10, Observations: 5000})
	s.Load(t, rec)

	l := testLoader(t, s.URL)
	l.Limits.PageSize = 100
	var pages atomic.Int64
	var obsPages atomic.Int64
	l.Observe = func(typ string, _ time.Duration, err error) {
		if err == nil {
			pages.Add(1)
			if typ == "Observation" {
				obsPages.Add(1)
			}
		}
	}
	fromServer, err := l.Load(context.Background(), Request{Server: s.URL, Queries: queries(rec.PatientID)})
	if err != nil {
		t.Fatal(err)
	}
	fromPrefetch, err := testLoader(t, s.URL).Load(context.Background(), Request{Prefetch: prefetchOf(rec)})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(fromServer.Observations); n != 5000 {
		t.Fatalf("server history has %d Observations, want 5000", n)
	}
	if obsPages.Load() < 50 {
		t.Fatalf("Observations came in %d pages, want >= 50", obsPages.Load())
	}
	a, b := canonical(t, fromServer), canonical(t, fromPrefetch)
	if len(b) != 7 {
		t.Fatalf("compared %d types, want all 7", len(b))
	}
	for typ, want := range b {
		got := a[typ]
		if len(got) != len(want) {
			t.Fatalf("%s: %d from server, %d from prefetch", typ, len(got), len(want))
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%s differs:\nserver   %.300s\nprefetch %.300s", typ, got[i], want[i])
			}
		}
	}
	if fromServer.Sources["observations"] != fhir.FromServer || fromPrefetch.Sources["observations"] != fhir.FromPrefetch {
		t.Errorf("origins %v / %v", fromServer.Sources, fromPrefetch.Sources)
	}
	t.Logf("%d resources, %d pages (%d of Observations)", fromServer.Len(), pages.Load(), obsPages.Load())
}

func TestMedplumDateFilterAndMixedSources(t *testing.T) {
	s := fhirserver.Start(t)
	rec := synth.Generate(synth.Options{Seed: 12, Now: testNow, Pattern: true, Observations: 300})
	s.Load(t, rec)
	q := queries(rec.PatientID)
	q["observations"] += "&date=ge2025-11-25"
	// The EHR prefetched the Patient and conditions, and had no encounters
	// (null); the rest comes from the server.
	pre := prefetchOf(rec)
	prefetch := map[string]json.RawMessage{"patient": pre["patient"], "conditions": pre["conditions"], "encounters": json.RawMessage("null")}
	h, err := testLoader(t, s.URL).Load(context.Background(), Request{Server: s.URL, Queries: q, Prefetch: prefetch})
	if err != nil {
		t.Fatal(err)
	}
	cut := time.Date(2025, 11, 25, 0, 0, 0, 0, time.UTC)
	want := 0
	for _, raw := range rec.OfType("Observation") {
		var o struct {
			Effective time.Time `json:"effectiveDateTime"`
		}
		json.Unmarshal(raw, &o)
		if !o.Effective.Before(cut) {
			want++
		}
	}
	if len(h.Observations) != want || want == 0 || want == 300 {
		t.Fatalf("date filter: %d observations, want %d of 300", len(h.Observations), want)
	}
	for _, o := range h.Observations {
		if ts, _ := time.Parse(time.RFC3339, *o.EffectiveDateTime); ts.Before(cut) {
			t.Fatalf("observation of %s passed the date filter", *o.EffectiveDateTime)
		}
	}
	if h.Sources["patient"] != fhir.FromPrefetch || h.Sources["reports"] != fhir.FromServer {
		t.Fatalf("sources %v", h.Sources)
	}
	// null is the client saying it has no data for the query: not fetched.
	if _, fetched := h.Sources["encounters"]; fetched || len(h.Encounters) != 0 {
		t.Fatalf("a null prefetch was fetched: %d encounters from %v", len(h.Encounters), h.Sources)
	}
}

func TestMedplumStoppedGives412Error(t *testing.T) {
	s := fhirserver.Start(t)
	rec := synth.Generate(synth.Options{Seed: 13, Now: testNow, Pattern: true})
	s.Load(t, rec)
	l := testLoader(t, s.URL)
	if _, err := l.Load(context.Background(), Request{Server: s.URL, Queries: queries(rec.PatientID)}); err != nil {
		t.Fatalf("before stopping: %v", err)
	}
	s.Stop()
	l.Budget = 2 * time.Second
	_, err := l.Load(context.Background(), Request{Server: s.URL, Queries: queries(rec.PatientID)})
	var ue *fhir.UnavailableError
	if !errors.As(err, &ue) || !errors.Is(err, fhir.ErrUnavailable) || ue.Reason != "connection failed" {
		t.Fatalf("after stopping: %v", err)
	}
}

// The specialty of a clinician seen or referred to can be on their
// PractitionerRole only: the encounter and request searches include the
// roles they name (_include), and they arrive in the history, read from
// the real server with the prefetch templates as the services send them.
func TestMedplumIncludesPractitionerRoles(t *testing.T) {
	s := fhirserver.Start(t)
	res := func(typ, id, body string) synth.Resource {
		return synth.Resource{Type: typ, ID: id, JSON: json.RawMessage(`{"resourceType":"` + typ + `","id":"` + id + `",` + body + `}`)}
	}
	rec := &synth.Record{PatientID: "role-patient", Resources: []synth.Resource{
		res("Patient", "role-patient", `"birthDate":"1980-01-01"`),
		res("PractitionerRole", "neuro", `"specialty":[{"coding":[{"system":"http://snomed.info/sct","code":"394591006"}]}]`),
		res("PractitionerRole", "gastro", `"specialty":[{"coding":[{"system":"http://snomed.info/sct","code":"394584008"}]}]`),
		res("Encounter", "e1", `"status":"finished","class":{"code":"AMB"},"subject":{"reference":"Patient/role-patient"},
			"period":{"start":"2026-06-01"},"participant":[{"individual":{"reference":"PractitionerRole/neuro"}}]`),
		res("ServiceRequest", "r1", `"status":"completed","intent":"order","subject":{"reference":"Patient/role-patient"},
			"authoredOn":"2026-05-01","performer":[{"reference":"PractitionerRole/gastro"}]`),
	}}
	s.Load(t, rec)
	q := map[string]string{}
	for key, tmpl := range fhir.Templates() {
		q[key] = strings.NewReplacer("{{context.patientId}}", rec.PatientID, "{{balint.since}}", "2020-01-01").Replace(tmpl)
	}
	h, err := testLoader(t, s.URL).Load(context.Background(), Request{Server: s.URL, Queries: q})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range h.PractitionerRoles {
		got = append(got, *r.Id)
	}
	sort.Strings(got)
	if strings.Join(got, ",") != "gastro,neuro" {
		t.Fatalf("PractitionerRoles %v, want gastro and neuro (skipped: %+v)", got, h.Skipped)
	}
	if len(h.Encounters) != 1 || len(h.ServiceRequests) != 1 {
		t.Fatalf("%d encounters, %d requests: an included role must not displace the matches", len(h.Encounters), len(h.ServiceRequests))
	}
}

// CDS Hooks 2.0, "Prefetch Template": a prefetched searchset may be paged.
// The pages after it are read from fhirServer with the EHR's token (a
// critical result may be on page 2); with no fhirServer the call cannot be
// answered, naming the key.
func TestPrefetchTemplate_PagedSearchsetIsFollowed(t *testing.T) {
	s := fhirserver.Start(t)
	rec := synth.Generate(synth.Options{Seed: 21, Now: testNow, Pattern: true, Observations: 300})
	s.Load(t, rec)
	resp, err := http.Get(s.URL + "/Observation?subject=Patient/" + rec.PatientID + "&_count=50")
	if err != nil {
		t.Fatal(err)
	}
	page1, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page1), `"next"`) {
		t.Fatalf("the server's first page has no next link: %.300s", page1)
	}
	all := len(rec.OfType("Observation"))
	pre := prefetchOf(rec)
	pre["observations"] = page1
	h, err := testLoader(t, s.URL).Load(context.Background(), Request{Server: s.URL, Queries: queries(rec.PatientID), Prefetch: pre})
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Observations) != all {
		t.Fatalf("%d observations, want all %d: the pages after the prefetched one were not read", len(h.Observations), all)
	}
	_, err = testLoader(t, s.URL).Load(context.Background(), Request{Queries: queries(rec.PatientID), Prefetch: pre})
	var ue *fhir.UnavailableError
	if !errors.As(err, &ue) || ue.Key != "observations" || !strings.Contains(ue.Reason, "next link") {
		t.Fatalf("with no fhirServer: %v, want unavailable naming observations and the next link", err)
	}
}

// CDS Hooks 2.0, "Prefetch Template": an OperationOutcome in place of a
// prefetch value means the client's query failed, not that there is no
// data. The part is read from fhirServer; with none, the call cannot be
// answered. (Read as "no data", a patient in psychological care got the
// card.)
func TestPrefetchTemplate_OperationOutcomeIsAFailedQuery(t *testing.T) {
	s := fhirserver.Start(t)
	rec := synth.Generate(synth.Options{Seed: 22, Now: testNow, Pattern: true})
	s.Load(t, rec)
	pre := prefetchOf(rec)
	pre["requests"] = json.RawMessage(`{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"timeout"}]}`)
	h, err := testLoader(t, s.URL).Load(context.Background(), Request{Server: s.URL, Queries: queries(rec.PatientID), Prefetch: pre})
	if err != nil {
		t.Fatal(err)
	}
	if want := len(rec.OfType("ServiceRequest")); want == 0 || len(h.ServiceRequests) != want || h.Sources["requests"] != fhir.FromServer {
		t.Fatalf("%d requests from %q, want %d from the server", len(h.ServiceRequests), h.Sources["requests"], want)
	}
	_, err = testLoader(t, s.URL).Load(context.Background(), Request{Queries: queries(rec.PatientID), Prefetch: pre})
	var ue *fhir.UnavailableError
	if !errors.As(err, &ue) || ue.Key != "requests" || !strings.Contains(ue.Reason, "OperationOutcome") {
		t.Fatalf("with no fhirServer: %v, want unavailable naming requests and the OperationOutcome", err)
	}
}
