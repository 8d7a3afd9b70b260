package outside

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/balint-health/balint/fhir"
)

// Files are the records of one set ("synthea-smart-r4",
// "hl7-r4-examples"; "*" for all). Without them a test skips, naming the
// folder, except under CI=true, where they are always beside the clone.
func Files(t testing.TB, set string) []string {
	t.Helper()
	dir := dataDir()
	files, _ := filepath.Glob(filepath.Join(dir, set, "*.json"))
	if len(files) == 0 {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no outside records under %s: CI runs with ../shared beside the clone", dir)
		}
		t.Skipf("no outside records under %s", dir)
	}
	return files
}

// dataDir is ../shared/data beside the module's root.
func dataDir() string {
	dir, _ := os.Getwd()
	for d := dir; filepath.Dir(d) != d; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return filepath.Join(filepath.Dir(d), "shared", "data")
		}
	}
	return filepath.Join(dir, "..", "shared", "data")
}

// fhirDate matches FHIR date, dateTime and instant values, partial ones
// included.
var fhirDate = regexp.MustCompile(`^\d{4}(-\d{2}(-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$`)

// clinical are the resource types whose dates say when the record ends.
var clinical = map[string]bool{"Observation": true, "DiagnosticReport": true, "Encounter": true,
	"Condition": true, "Procedure": true, "ServiceRequest": true}

// EndYesterday moves every date of a record by the same whole number of
// days, so that its latest clinical date falls on the day before now.
func EndYesterday(raw []byte, now time.Time) ([]byte, int, error) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, 0, err
	}
	var latest time.Time
	var scan func(v any, typ string)
	scan = func(v any, typ string) {
		switch x := v.(type) {
		case map[string]any:
			if rt, ok := x["resourceType"].(string); ok {
				typ = rt
			}
			for k, e := range x {
				if k == "birthDate" {
					continue
				}
				scan(e, typ)
			}
		case []any:
			for _, e := range x {
				scan(e, typ)
			}
		case string:
			if clinical[typ] && fhirDate.MatchString(x) {
				if t, ok := fhir.Time(&x, time.UTC); ok && t.After(latest) {
					latest = t
				}
			}
		}
	}
	scan(v, "")
	if latest.IsZero() {
		return raw, 0, nil
	}
	target := now.AddDate(0, 0, -1)
	days := int(target.Truncate(24*time.Hour).Sub(latest.Truncate(24*time.Hour)) / (24 * time.Hour))
	out, err := shiftDates(v, days)
	return out, days, err
}

// shiftDates moves every date in a decoded JSON value by days and encodes
// it again. Not json.Marshal: it writes "<=" as "\u003c=", which is valid
// JSON but not what the record said.
func shiftDates(v any, days int) ([]byte, error) {
	moved := Strings(v, func(s string) string {
		if fhirDate.MatchString(s) {
			return shiftDate(s, days)
		}
		return s
	})
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	err := enc.Encode(moved)
	return buf.Bytes(), err
}

// shiftDate moves one date value by days, keeping its precision and
// offset: "2011-07" stays a year and month.
func shiftDate(s string, days int) string {
	for _, l := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02", "2006-01", "2006"} {
		if t, err := time.Parse(l, s); err == nil {
			out := t.AddDate(0, 0, days).Format(l)
			if l == time.RFC3339Nano && strings.HasSuffix(s, "+00:00") && strings.HasSuffix(out, "Z") {
				out = strings.TrimSuffix(out, "Z") + "+00:00"
			}
			return out
		}
	}
	panic(fmt.Sprintf("shiftDate: %q matched the date pattern but no layout", s))
}

// Shift moves every date of a JSON document by days.
func Shift(raw []byte, days int) ([]byte, error) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, err
	}
	return shiftDates(v, days)
}

// Strings replaces, in place, every string of a decoded JSON value by what
// f makes of it, and returns the value.
func Strings(v any, f func(string) string) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = Strings(e, f)
		}
	case []any:
		for i, e := range x {
			x[i] = Strings(e, f)
		}
	case string:
		return f(x)
	}
	return v
}
