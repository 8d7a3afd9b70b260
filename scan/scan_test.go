package scan

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/balint-health/balint/bulk"
	"github.com/balint-health/balint/rules"
	"github.com/balint-health/balint/synth"
)

var now = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

// practice writes a generated export of n patients into a new folder,
// with Observation.ndjson gzipped, and returns the folder and records.
func practice(t *testing.T, n int) (string, []*synth.Record) {
	t.Helper()
	dir := t.TempDir()
	recs := synth.Practice(synth.ExportOptions{Patients: n, Seed: 11, Now: now})
	if err := synth.WriteExport(dir, recs); err != nil {
		t.Fatal(err)
	}
	obs := filepath.Join(dir, "Observation.ndjson")
	raw, err := os.ReadFile(obs)
	if err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(raw)
	zw.Close()
	os.Remove(obs)
	if err := os.WriteFile(obs+".gz", gz.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, recs
}

func appendLines(t *testing.T, path string, lines ...string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, l := range lines {
		fmt.Fprintln(f, l)
	}
}

func options(p *rules.Policy) Options {
	// Small buckets, so that even this export is read bucket by bucket.
	return Options{Policy: p, Now: now, Bulk: bulk.Options{BucketBytes: 256 << 10}}
}

// Four shards, then merge: the same files, byte for byte, as one run.
func TestShardsThenMergeEqualOneRun(t *testing.T) {
	dir, recs := practice(t, 200)
	// A line no one can read, naming a patient; one naming none; a line of
	// a type the rule does not read; a file of such a type.
	appendLines(t, filepath.Join(dir, "Encounter.ndjson"),
		`{"resourceType":"Encounter","subject":{"reference":"Patient/`+recs[3].PatientID+`"},"status":`,
		`{"resourceType":"Encounter" oops`)
	appendLines(t, filepath.Join(dir, "Immunization.ndjson"), `{"resourceType":"Immunization","id":"i1","patient":{"reference":"Patient/x"}}`)
	p := rules.DefaultPolicy()
	one := t.TempDir()
	rs, st, err := Run(context.Background(), dir, options(p))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Write(one, rs, st, now); err != nil {
		t.Fatal(err)
	}
	var shardDirs []string
	for k := range 4 {
		o := options(p)
		o.Bulk.Shard, o.Bulk.Shards = k, 4
		rs, st, err := Run(context.Background(), dir, o)
		if err != nil {
			t.Fatal(err)
		}
		if len(rs) == 0 || len(rs) == 200 {
			t.Fatalf("shard %d has %d of 200 patients", k, len(rs))
		}
		d := t.TempDir()
		if _, err := Write(d, rs, st, now); err != nil {
			t.Fatal(err)
		}
		shardDirs = append(shardDirs, d)
	}
	merged := t.TempDir()
	if err := Merge(merged, shardDirs); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{DecisionsFile, FlaggedFile, FlaggedCSV, GroupFile, UnreadableFile, SummaryFile} {
		a, _ := os.ReadFile(filepath.Join(one, f))
		b, _ := os.ReadFile(filepath.Join(merged, f))
		if len(a) == 0 || !bytes.Equal(a, b) {
			t.Errorf("%s: merged shards differ from one run (%d and %d bytes)", f, len(a), len(b))
		}
	}
	if err := Merge(t.TempDir(), append(shardDirs, shardDirs[0])); err == nil || !strings.Contains(err.Error(), "two shards") {
		t.Errorf("a shard merged twice: %v", err)
	}
}

// Malformed lines never stop a scan: each is counted and named by
// file:line, and a patient one of them names is reported as unreadable,
// never as "no pattern".
func TestMalformedLines(t *testing.T) {
	dir, recs := practice(t, 20)
	var pattern *synth.Record
	rs0, _, err := Run(context.Background(), dir, options(rules.DefaultPolicy()))
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rs0 {
		if r.Fired {
			for _, rec := range recs {
				if "Patient/"+rec.PatientID == rs0[i].Patient {
					pattern = rec
				}
			}
			break
		}
	}
	if pattern == nil {
		t.Fatal("no patient meets the rule in the generated list")
	}
	// Blank lines between: a line keeps its own number in the file.
	appendLines(t, filepath.Join(dir, "ServiceRequest.ndjson"), "",
		`{"resourceType":"ServiceRequest","subject":{"reference":"Patient/`+pattern.PatientID+`"},"status":"active" BROKEN`,
		"", `not json at all`)
	rs, st, err := Run(context.Background(), dir, options(rules.DefaultPolicy()))
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 20 || st.Malformed != 2 {
		t.Fatalf("%d patients, %d malformed: want 20 and 2", len(rs), st.Malformed)
	}
	sr, err := os.ReadFile(filepath.Join(dir, "ServiceRequest.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	n := strings.Count(string(sr), "\n")
	want := []bulk.Malformed{{At: fmt.Sprintf("ServiceRequest.ndjson:%d", n-2), Reason: "not a FHIR resource"}, {At: fmt.Sprintf("ServiceRequest.ndjson:%d", n), Reason: "not a FHIR resource"}}
	if fmt.Sprint(st.MalformedAt) != fmt.Sprint(want) {
		t.Errorf("malformed at %v, want %v", st.MalformedAt, want)
	}
	for _, r := range rs {
		if r.Patient != "Patient/"+pattern.PatientID {
			continue
		}
		if r.Fired || !r.Unreadable || !strings.Contains(strings.Join(r.Exclusions, ","), "unreadable_record") || len(r.Unread) == 0 {
			t.Fatalf("the patient a broken line names: %+v, want unreadable, not fired", r)
		}
		return
	}
	t.Fatal("patient missing")
}

// A patient with resources but no readable Patient is unreadable.
func TestNoPatientResource(t *testing.T) {
	dir, recs := practice(t, 5)
	appendLines(t, filepath.Join(dir, "Condition.ndjson"), `{"resourceType":"Condition","id":"c","subject":{"reference":"Patient/ghost"}}`)
	rs, _, err := Run(context.Background(), dir, options(rules.DefaultPolicy()))
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != len(recs)+1 {
		t.Fatalf("%d results", len(rs))
	}
	for _, r := range rs {
		if r.Patient == "Patient/ghost" && (!r.Unreadable || r.Fired) {
			t.Fatalf("%+v", r)
		}
	}
}

// A resource the rule reads that names no patient could be any patient's
// cancer or open referral: the scan refuses to give a list, and says where.
func TestUnattributedResourceRefusesTheList(t *testing.T) {
	dir, _ := practice(t, 10)
	appendLines(t, filepath.Join(dir, "Condition.ndjson"), `{"resourceType":"Condition","id":"c9","subject":{"reference":"Group/g1"}}`)
	_, st, err := Run(context.Background(), dir, options(rules.DefaultPolicy()))
	if !errors.Is(err, ErrUnattributed) || st.Unattributed != 1 || !strings.HasPrefix(st.UnattributedAt[0].At, "Condition.ndjson:") {
		t.Fatalf("%v, %+v: want the list refused, naming Condition.ndjson", err, st)
	}
}
