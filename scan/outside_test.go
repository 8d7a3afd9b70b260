package scan

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/balint-health/balint/fhir"
	"github.com/balint-health/balint/rules"
	"github.com/balint-health/balint/testing/outside"
)

// The Synthea patients, each moved in time to end the day before the
// scan, loaded as a server would (urn:uuid references become Type/id) and
// exported one NDJSON file a type, are judged by the scan exactly as the
// hook path judges each patient's bundle.
func TestOutsideRecordsThroughAnExport(t *testing.T) {
	files := outside.Files(t, "synthea-smart-r4")
	p := rules.DefaultPolicy()
	dir := t.TempDir()
	byType := map[string][][]byte{}
	want := map[string]rules.Decision{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if raw, _, err = outside.EndYesterday(raw, now); err != nil {
			t.Fatal(err)
		}
		h := fhir.NewHistory()
		if _, err := h.AddJSON("all", fhir.FromPrefetch, raw); err != nil {
			t.Fatal(err)
		}
		want["Patient/"+*h.Patient.Id] = rules.Evaluate(p, rules.Input{History: h, Now: now})
		lines, err := exported(raw)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for typ, ls := range lines {
			byType[typ] = append(byType[typ], ls...)
		}
	}
	for typ, ls := range byType {
		var body bytes.Buffer
		for _, l := range ls {
			body.Write(l)
			body.WriteByte('\n')
		}
		if err := os.WriteFile(filepath.Join(dir, typ+".ndjson"), body.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	results, stats, err := Run(context.Background(), dir, Options{Policy: p, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != len(files) || stats.Malformed != 0 {
		t.Fatalf("%d patients of %d, %d malformed lines", len(results), len(files), stats.Malformed)
	}
	var judged int
	for _, r := range results {
		judged += r.Investigations
		d, ok := want[r.Patient]
		if !ok {
			t.Errorf("%s: not in the records", r.Patient)
			continue
		}
		f := d.Features
		got := fmt.Sprint(r.Fired, r.Exclusions, r.Unmet, r.Investigations, r.Normal, r.BodySystems, r.Specialties, r.PrimaryCare)
		exp := fmt.Sprint(d.Fire, d.Exclusions(), d.Unmet(), f.Total, f.NormalCounted, f.Systems, f.Specialties, f.PrimaryCare)
		if got != exp {
			t.Errorf("%s: scan %s, bundle %s", r.Patient, got, exp)
		}
	}
	if judged < 100 {
		t.Fatalf("%d investigations judged in all: the records were not moved into the window", judged)
	}
}

// exported is a transaction bundle's resources as a server would export
// them: one compact line each, by type, with urn:uuid references resolved
// to Type/id.
func exported(bundle []byte) (map[string][][]byte, error) {
	var b struct {
		Entry []struct {
			FullURL  string         `json:"fullUrl"`
			Resource map[string]any `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(bundle, &b); err != nil {
		return nil, err
	}
	refs := map[string]string{}
	for _, e := range b.Entry {
		if id, ok := e.Resource["id"].(string); ok && strings.HasPrefix(e.FullURL, "urn:uuid:") {
			refs[e.FullURL] = e.Resource["resourceType"].(string) + "/" + id
		}
	}
	resolve := func(s string) string {
		if r, ok := refs[s]; ok {
			return r
		}
		return s
	}
	out := map[string][][]byte{}
	for _, e := range b.Entry {
		line, err := json.Marshal(outside.Strings(e.Resource, resolve))
		if err != nil {
			return nil, err
		}
		typ := e.Resource["resourceType"].(string)
		out[typ] = append(out[typ], line)
	}
	return out, nil
}
