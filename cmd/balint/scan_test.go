package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/balint-health/balint/advice"
	"github.com/balint-health/balint/bulk"
	"github.com/balint-health/balint/fhir"
	"github.com/balint-health/balint/rules"
	"github.com/balint-health/balint/scan"
	"github.com/balint-health/balint/store"
	"github.com/balint-health/balint/synth"
)

// The practice view and the consultation view are one rule: over a
// generated list of 500 patients, balint scan flags exactly the patients
// whose patient-view hook returns a card, and for every patient gives the
// same exclusions and unmet criteria as the hook's decision.
func TestScanEqualsPatientViewHook(t *testing.T) {
	recs := synth.Practice(synth.ExportOptions{Patients: 500, Seed: 7, Now: testNow})
	dir := t.TempDir()
	if err := synth.WriteExport(dir, recs); err != nil {
		t.Fatal(err)
	}
	results, _, err := scan.Run(context.Background(), dir, scan.Options{Policy: rules.DefaultPolicy(), Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	scanned := map[string]scan.Result{}
	for _, r := range results {
		scanned[r.Patient] = r
	}
	in := start(t, func(c *Config) { c.RateLimit = 0 })
	instanceOf := map[string]string{}
	carded := 0
	for i, rec := range recs {
		hi := fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
		instanceOf[hi] = "Patient/" + rec.PatientID
		body, _ := json.Marshal(map[string]any{"hook": "patient-view", "hookInstance": hi,
			"context":  map[string]string{"userId": "Practitioner/1", "patientId": rec.PatientID},
			"prefetch": fhir.Prefetch(rec.OfType)})
		r := in.hook(t, advice.ReviewID, string(body))
		if r.Status != http.StatusOK {
			t.Fatalf("%s: status %d", rec.PatientID, r.Status)
		}
		card := len(cardsOf(t, r)) > 0
		s, ok := scanned["Patient/"+rec.PatientID]
		if !ok || s.Fired != card {
			t.Errorf("Patient/%s: card %v, scan flagged %v (found %v)", rec.PatientID, card, s.Fired, ok)
		}
		if card {
			carded++
		}
	}
	if carded < 50 || carded > 450 {
		t.Fatalf("%d of 500 got a card: the list should hold both kinds", carded)
	}
	// The hook's own decisions, from its log (codes only, by hookInstance).
	seen := 0
	for _, line := range strings.Split(in.Logs.String(), "\n") {
		var d struct {
			Msg          string   `json:"msg"`
			HookInstance string   `json:"hookInstance"`
			Fired        bool     `json:"fired"`
			Exclusions   []string `json:"exclusions"`
			Unmet        []string `json:"unmet"`
		}
		if json.Unmarshal([]byte(line), &d) != nil || d.Msg != "decision" {
			continue
		}
		seen++
		s := scanned[instanceOf[d.HookInstance]]
		if d.Fired != s.Fired || !slices.Equal(d.Exclusions, s.Exclusions) || !slices.Equal(d.Unmet, s.Unmet) {
			t.Errorf("%s: hook %v %v %v, scan %v %v %v", s.Patient, d.Fired, d.Exclusions, d.Unmet, s.Fired, s.Exclusions, s.Unmet)
		}
	}
	if seen != 500 || len(results) != 500 {
		t.Fatalf("%d hook decisions, %d scanned, want 500 each", seen, len(results))
	}
}

// balint scan --fhir-base runs $export on the server (here a stand-in that
// follows the Bulk Data IG: Medplum's router has no $export), then scans.
func TestScanFromFHIRBase(t *testing.T) {
	recs := synth.Practice(synth.ExportOptions{Patients: 30, Seed: 3, Now: testNow})
	files := t.TempDir()
	if err := synth.WriteExport(files, recs); err != nil {
		t.Fatal(err)
	}
	var polls atomic.Int32
	mux := http.NewServeMux()
	var srv *httptest.Server
	mux.HandleFunc("GET /fhir/Patient/$export", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Prefer") != "respond-async" {
			http.Error(w, "Prefer: respond-async", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Location", srv.URL+"/status/1")
		w.WriteHeader(http.StatusAccepted)
	})
	mux.HandleFunc("GET /status/1", func(w http.ResponseWriter, r *http.Request) {
		if polls.Add(1) == 1 {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusAccepted)
			return
		}
		m := bulk.Manifest{TransactionTime: "2026-11-25T09:00:00Z", Request: srv.URL + "/fhir/Patient/$export"}
		entries, _ := os.ReadDir(files)
		for _, e := range entries {
			m.Output = append(m.Output, bulk.File{Type: strings.TrimSuffix(e.Name(), ".ndjson"), URL: srv.URL + "/files/" + e.Name()})
		}
		json.NewEncoder(w).Encode(m)
	})
	mux.HandleFunc("DELETE /status/1", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusAccepted) })
	mux.Handle("GET /files/", http.StripPrefix("/files/", http.FileServer(http.Dir(files))))
	srv = httptest.NewServer(mux)
	defer srv.Close()

	out, exported := t.TempDir(), t.TempDir()
	env := map[string]string{"BALINT_ALLOW_LOOPBACK_FHIR": "true", "BALINT_DEV": "true"}
	devnull, _ := os.Open(os.DevNull)
	defer devnull.Close()
	err := scanCmd(context.Background(), []string{"--fhir-base", srv.URL + "/fhir", "--export-dir", exported, "--out", out, "--now", "2026-11-25"},
		func(k string) string { return env[k] }, devnull)
	if err != nil {
		t.Fatal(err)
	}
	var s scan.Summary
	b, err := os.ReadFile(filepath.Join(out, scan.SummaryFile))
	if err != nil || json.Unmarshal(b, &s) != nil || s.Patients != 30 || polls.Load() != 2 {
		t.Fatalf("summary %+v (%v), %d polls", s, err, polls.Load())
	}
}

func TestScanCommandLine(t *testing.T) {
	devnull, _ := os.Open(os.DevNull)
	defer devnull.Close()
	none := func(string) string { return "" }
	for _, args := range [][]string{{"--shard", "4/4", "x"}, {"--shard", "a/b", "x"}, {}, {"a", "b"}, {"--now", "25/11/2026", "x"}} {
		err := scanCmd(context.Background(), args, none, devnull)
		if _, ok := err.(*usageError); !ok {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}
	if err := scanCmd(context.Background(), []string{"merge"}, none, devnull); err == nil {
		t.Error("merge without shards accepted")
	}
}

// The scan judges codes as the service does: a cancer coded with a
// SNOMED descendant the shipped expansion lacks is excluded once the
// service's database keeps an expansion that has it.
func TestScanUsesTheServicesValueSets(t *testing.T) {
	rec := synth.Generate(synth.Options{Seed: 5, Now: testNow, Pattern: true})
	dir := t.TempDir()
	if err := synth.WriteExport(dir, []*synth.Record{rec}); err != nil {
		t.Fatal(err)
	}
	cond := `{"resourceType":"Condition","id":"c-rare","subject":{"reference":"Patient/` + rec.PatientID + `"},` +
		`"clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-clinical","code":"active"}]},` +
		`"code":{"coding":[{"system":"http://snomed.info/sct","code":"1290000001"}]},"onsetDateTime":"2026-06-01"}`
	if err := os.WriteFile(filepath.Join(dir, "Condition.ndjson"), []byte(cond+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(t.TempDir(), "balint.db")
	env := map[string]string{"BALINT_SQLITE_PATH": db}
	getenv := func(k string) string { return env[k] }
	devnull, _ := os.Open(os.DevNull)
	defer devnull.Close()
	fired := func() scan.Result {
		out := t.TempDir()
		if err := scanCmd(context.Background(), []string{"--now", "2026-11-25", "--out", out, dir}, getenv, devnull); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(filepath.Join(out, scan.DecisionsFile))
		var r scan.Result
		json.Unmarshal(b, &r)
		return r
	}
	if r := fired(); !r.Fired {
		t.Fatalf("with the shipped expansion: %+v, want flagged", r)
	}
	st, err := store.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	vs := `{"resourceType":"ValueSet","url":"http://snomed.info/sct?fhir_vs=isa/363346000","expansion":{"contains":[` +
		`{"system":"http://snomed.info/sct","code":"363346000"},{"system":"http://snomed.info/sct","code":"1290000001"}]}}`
	if err := st.PutExpansion(context.Background(), "http://snomed.info/sct?fhir_vs=isa/363346000", []byte(vs), testNow); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if r := fired(); r.Fired || !slices.Contains(r.Exclusions, "active_cancer") {
		t.Fatalf("with the service's kept expansion: %+v, want excluded as active cancer", r)
	}
}

// Progress: resources a second, patients done and the time left, at most
// once a second, and only to a terminal.
func TestScanProgress(t *testing.T) {
	var b strings.Builder
	p := progressPrinter(&b, time.Now().Add(-10*time.Second))
	p(bulk.Progress{Phase: "evaluate", Lines: 50000, Patients: 120, Buckets: 1, Total: 4})
	p(bulk.Progress{Phase: "evaluate", Lines: 60000, Patients: 150, Buckets: 2, Total: 4})
	if got := b.String(); strings.Count(got, "\r") != 1 || !strings.Contains(got, "5000 resources/s, 120 patients done, 62%, about 6s left") {
		t.Fatalf("progress %q", got)
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if isTerminal(f) {
		t.Fatal("a file taken for a terminal")
	}
}
