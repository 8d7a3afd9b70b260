// Command balint-synth writes seeded synthetic FHIR R4 patient histories:
// one patient as a collection, transaction or per-kind prefetch JSON, or the
// embedded demo set.
//
//	balint-synth -seed 7 -pattern -exclude critical -observations 5000 -format prefetch > p.json
//	balint-synth -demo fhir/demo/data
//	balint-synth -bulk export -patients 500 -seed 7   (a Bulk Data export: one NDJSON file a type)
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/balint-health/balint/fhir"
	"github.com/balint-health/balint/synth"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "balint-synth:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		o       synth.Options
		exclude string
		now     string
		format  string
		demoDir string
		bulkDir string
		npat    int
	)
	flag.Int64Var(&o.Seed, "seed", 1, "random seed: the same seed gives the same history")
	flag.StringVar(&o.PatientID, "patient-id", "", "patient id (default: seeded UUID)")
	flag.BoolVar(&o.Pattern, "pattern", false, "put in the pattern of repeated normal investigations")
	flag.IntVar(&o.NormalInvestigations, "normal", 0, "normal investigations in a pattern history (default 5)")
	flag.IntVar(&o.Specialties, "specialties", 0, "specialties referred to in a pattern history (default 3)")
	flag.IntVar(&o.PrimaryCare, "primary-care", 0, "primary-care encounters in the last 12 months (default 4)")
	flag.IntVar(&o.Observations, "observations", 0, "pad with monitoring labs up to this many Observations")
	flag.StringVar(&exclude, "exclude", "", "comma-separated exclusions: "+exclusionNames())
	flag.StringVar(&now, "now", "", "generation date, YYYY-MM-DD (default today)")
	flag.StringVar(&format, "format", "collection", "collection | transaction | prefetch | hook (a patient-view call with prefetch)")
	flag.StringVar(&demoDir, "demo", "", "write the embedded demo patients into this directory and exit")
	flag.StringVar(&bulkDir, "bulk", "", "write a practice list of -patients as a Bulk Data export (NDJSON, one file a type) into this directory and exit")
	flag.IntVar(&npat, "patients", 100, "with -bulk: how many patients (about two in five with the pattern)")
	flag.Parse()

	if demoDir != "" {
		return writeDemo(demoDir)
	}
	o.Now = time.Now().UTC()
	if now != "" {
		t, err := time.Parse("2006-01-02", now)
		if err != nil {
			return fmt.Errorf("-now: %w", err)
		}
		o.Now = t
	}
	if bulkDir != "" {
		return synth.WriteExport(bulkDir, synth.Practice(synth.ExportOptions{Patients: npat, Seed: o.Seed, Now: o.Now, Observations: o.Observations}))
	}
	for _, e := range strings.Split(exclude, ",") {
		if e = strings.TrimSpace(e); e == "" {
			continue
		}
		if !validExclusion(e) {
			return fmt.Errorf("-exclude: unknown exclusion %q (known: %s)", e, exclusionNames())
		}
		o.Exclusions = append(o.Exclusions, synth.Exclusion(e))
	}
	rec := synth.Generate(o)
	var out []byte
	switch format {
	case "collection":
		out = rec.Collection()
	case "transaction":
		txs := rec.Transactions(50)
		raw := make([]json.RawMessage, len(txs))
		for i, t := range txs {
			raw[i] = t
		}
		out, _ = json.Marshal(raw)
	case "prefetch":
		out, _ = json.Marshal(fhir.Prefetch(rec.OfType))
	case "hook":
		// A patient-view call with everything prefetched (scripts/load).
		out, _ = json.Marshal(map[string]any{
			"hook":         "patient-view",
			"hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
			"context":      map[string]string{"userId": "Practitioner/synth", "patientId": rec.PatientID},
			"prefetch":     fhir.Prefetch(rec.OfType),
		})
	default:
		return fmt.Errorf("-format: %q is not collection, transaction, prefetch or hook", format)
	}
	_, err := os.Stdout.Write(append(out, '\n'))
	return err
}

func writeDemo(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, rec := range synth.Demo() {
		if err := os.WriteFile(filepath.Join(dir, rec.PatientID+".json"), append(rec.Collection(), '\n'), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func exclusionNames() string {
	var s []string
	for _, e := range synth.AllExclusions {
		s = append(s, string(e))
	}
	return strings.Join(s, ", ")
}

func validExclusion(e string) bool {
	for _, x := range synth.AllExclusions {
		if string(x) == e {
			return true
		}
	}
	return false
}
