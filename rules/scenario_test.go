package rules_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/balint-health/balint/cards"
	"github.com/balint-health/balint/fhir"
	"github.com/balint-health/balint/rules"
)

// expected is a scenario's expected.json.
type expected struct {
	Now        time.Time `json:"now"`
	Zone       string    `json:"zone"`
	Fire       bool      `json:"fire"`
	Exclusions []string  `json:"exclusions"`
	// Unmet, when given, are exactly the criteria not met.
	Unmet []string `json:"unmet"`
	// Checked, when given, is whether the whole record could be read and
	// judged; a card then claims nothing was found, or says what was not
	// checked.
	Checked *bool `json:"checked"`
}

// TestScenarios runs every folder of testdata/scenarios (see its
// README.md): a clinician's situation, its record and the decision it must
// get.
func TestScenarios(t *testing.T) {
	entries, err := os.ReadDir("testdata/scenarios")
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, e := range entries {
		if e.IsDir() {
			dirs = append(dirs, filepath.Join("testdata/scenarios", e.Name()))
		}
	}
	if len(dirs) < 40 {
		t.Fatalf("only %d scenarios found", len(dirs))
	}
	p := rules.DefaultPolicy()
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			var want expected
			readJSON(t, filepath.Join(dir, "expected.json"), &want)
			data, err := os.ReadFile(filepath.Join(dir, "data.json"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(filepath.Join(dir, "description.md")); err != nil {
				t.Fatal("no description.md: a clinician must be able to read what this scenario is")
			}
			h := fhir.NewHistory()
			if _, err := h.AddJSON("all", fhir.FromPrefetch, data); err != nil {
				t.Fatal(err)
			}
			zone := time.UTC
			if want.Zone != "" {
				if zone, err = time.LoadLocation(want.Zone); err != nil {
					t.Fatal(err)
				}
			}
			d := rules.Evaluate(p, rules.Input{History: h, Now: want.Now, Zone: zone})
			if d.Fire != want.Fire {
				t.Errorf("fire = %v, want %v (exclusions %v, unmet %v)", d.Fire, want.Fire, d.Exclusions(), d.Unmet())
			}
			if got := d.Exclusions(); !sameSet(got, want.Exclusions) {
				t.Errorf("exclusions %v, want %v", got, want.Exclusions)
			}
			if want.Unmet != nil && !sameSet(d.Unmet(), want.Unmet) {
				t.Errorf("unmet %v, want %v", d.Unmet(), want.Unmet)
			}
			if want.Checked != nil {
				if d.Checked() != *want.Checked {
					t.Errorf("checked = %v, want %v (unread %v, unknown %d)", d.Checked(), *want.Checked, d.Unread, d.Features.Unknown)
				}
				detail := cards.ReviewDetail(&d, p)
				claims := strings.Contains(detail, "was found.")
				if claims != *want.Checked || strings.Contains(detail, "Not everything was checked") == *want.Checked {
					t.Errorf("card detail does not match what was checked:\n%s", detail)
				}
			}
		})
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}
