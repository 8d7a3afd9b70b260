package rules

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/balint-health/balint/fhir"
	"github.com/balint-health/balint/testing/outside"
)

var update = flag.Bool("update", false, "rewrite the golden files of the outside records")

// outsideNow is when the outside records are evaluated; each is moved in
// time so that it ends the day before.
var outsideNow = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// TestOutsideRecords runs every outside record through the rule, moved in
// time so its last clinical entry was yesterday, and keeps each decision
// and its reasons as a golden file (testdata/outside), so any change to
// what the rule says about a real record shows in review.
func TestOutsideRecords(t *testing.T) {
	files := append(outside.Files(t, "synthea-smart-r4"), outside.Files(t, "hl7-r4-examples")...)
	p := DefaultPolicy()
	// Lab investigations in the Synthea records that came out unknown, of
	// all of them: Synthea writes values with neither flags nor ranges, so
	// this is what the default reference-interval table is for.
	var unknownLabs, labs int
	for _, file := range files {
		set := filepath.Base(filepath.Dir(file))
		name := strings.TrimSuffix(filepath.Base(file), ".json")
		t.Run(set+"/"+name, func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			shifted, shift, err := outside.EndYesterday(raw, outsideNow)
			if err != nil {
				t.Fatal(err)
			}
			sent, err := sentByType(shifted)
			if err != nil {
				t.Fatal(err)
			}
			h := fhir.NewHistory()
			if _, err := h.AddJSON("all", fhir.FromPrefetch, shifted); err != nil {
				t.Fatalf("not read: %v", err)
			}
			d := Evaluate(p, Input{History: h, Now: outsideNow})
			if set == "synthea-smart-r4" {
				unknownLabs += d.Features.Unknown
				labs += d.Features.Total
			}
			got := outcomeOf(d, h, shift, sent)
			// Every entry is decoded, skipped with a reason, or dropped as
			// entered in error.
			accounted, total := h.EnteredInError, 0
			for typ, c := range sent {
				k := countsOf(h, typ)
				accounted += k.Used + k.Skipped
				total += c
			}
			if accounted < total {
				t.Errorf("%d entries sent, %d accounted for: some neither decoded nor skipped with a reason", total, accounted)
			}
			golden := filepath.Join("testdata", "outside", set, name+".decision.json")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./rules -run TestOutsideRecords -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("decision changed from %s:\ngot  %s\nwant %s", golden, got, want)
			}
		})
	}
	if labs == 0 || unknownLabs*10 >= labs {
		t.Errorf("Synthea: %d of %d lab investigations unknown, want under 10%%", unknownLabs, labs)
	}
	t.Logf("Synthea: %d of %d lab investigations unknown", unknownLabs, labs)
}

// outcome is what a golden file keeps of a decision: no patient data, only
// codes, counts and references.
type outcome struct {
	ShiftDays int `json:"shiftDays"`
	// Decode is, per resource type in the record, how many entries were
	// sent, used, kept after a repair, and skipped with a reason.
	Decode         map[string]decodeCounts `json:"decode"`
	EnteredInError int                     `json:"enteredInError,omitempty"`
	Resources      int                     `json:"resources"`
	Unread         int                     `json:"unread"`
	Fire           bool                    `json:"fire"`
	Checked        bool                    `json:"checked"`
	Exclusions     map[string]int          `json:"exclusions"`
	Unmet          []string                `json:"unmet"`
	Features       Features                `json:"features"`
	Counted        []string                `json:"counted"`
}

type decodeCounts struct {
	Sent     int `json:"sent"`
	Used     int `json:"used"`
	Repaired int `json:"repaired,omitempty"`
	Skipped  int `json:"skipped,omitempty"`
}

// countsOf are what became of a type's entries. Entries of a type Balint
// does not read are all skipped, with that reason.
func countsOf(h *fhir.History, typ string) decodeCounts {
	var c decodeCounts
	for _, k := range fhir.Kinds {
		if k.ResourceType == typ {
			c.Used = k.Count(h)
		}
	}
	repaired := map[string]bool{}
	for _, r := range h.Repaired {
		if r.ResourceType == typ {
			repaired[r.ID] = true
		}
	}
	c.Repaired = len(repaired)
	for _, s := range h.Skipped {
		if s.ResourceType == typ {
			c.Skipped++
		}
	}
	return c
}

// sentByType counts the resources a record holds, by type.
func sentByType(data []byte) (map[string]int, error) {
	var doc struct {
		ResourceType string `json:"resourceType"`
		Entry        []struct {
			Resource struct {
				ResourceType string `json:"resourceType"`
			} `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	out := map[string]int{}
	if doc.ResourceType != "Bundle" {
		out[doc.ResourceType]++
		return out, nil
	}
	for _, e := range doc.Entry {
		out[e.Resource.ResourceType]++
	}
	return out, nil
}

func outcomeOf(d Decision, h *fhir.History, shift int, sent map[string]int) []byte {
	o := outcome{ShiftDays: shift, Resources: h.Len(), Unread: len(d.Unread), Fire: d.Fire, Checked: d.Checked(),
		Exclusions: map[string]int{}, Unmet: d.Unmet(), Features: d.Features, Counted: []string{}, Decode: map[string]decodeCounts{},
		EnteredInError: h.EnteredInError}
	for typ, n := range sent {
		c := countsOf(h, typ)
		c.Sent = n
		o.Decode[typ] = c
	}
	for _, code := range d.Exclusions() {
		r, _ := d.Reason(code)
		o.Exclusions[code] = len(r.Refs)
	}
	for _, inv := range d.Counted {
		o.Counted = append(o.Counted, inv.Ref)
	}
	b, err := json.MarshalIndent(o, "", " ")
	if err != nil {
		panic(err)
	}
	return append(b, '\n')
}
