package fhir

import (
	"testing"
	"time"
)

func TestAge(t *testing.T) {
	utc := time.UTC
	d := func(y int, m time.Month, day int) time.Time { return time.Date(y, m, day, 12, 0, 0, 0, utc) }
	tests := []struct {
		name       string
		birth, now time.Time
		want       int
	}{
		{"day before the birthday", d(2008, 11, 25), d(2026, 11, 24), 17},
		{"on the birthday", d(2008, 11, 25), d(2026, 11, 25), 18},
		{"leap-day birth, 28 February of a common year", d(2008, 2, 29), d(2026, 2, 28), 17},
		{"leap-day birth, 1 March of a common year", d(2008, 2, 29), d(2026, 3, 1), 18},
		{"leap-day birth, 29 February of a leap year", d(2008, 2, 29), d(2028, 2, 29), 20},
		{"born 1 March, now 29 February of a leap year", d(2007, 3, 1), d(2024, 2, 29), 16},
		{"born 1 March, now 1 March of a leap year", d(2007, 3, 1), d(2024, 3, 1), 17},
	}
	for _, tt := range tests {
		if got := Age(tt.birth, tt.now); got != tt.want {
			t.Errorf("%s: Age = %d, want %d", tt.name, got, tt.want)
		}
	}
}

// A partial birth date is the latest day it can mean, so the age from it
// is the youngest the patient can be.
func TestBirthDate(t *testing.T) {
	for in, want := range map[string]string{
		"2008":       "2008-12-31",
		"2008-02":    "2008-02-29",
		"2009-02":    "2009-02-28",
		"2008-11":    "2008-11-30",
		"2008-11-25": "2008-11-25",
	} {
		got, ok := BirthDate(&in, time.UTC)
		if !ok || got.Format("2006-01-02") != want {
			t.Errorf("BirthDate(%q) = %v %v, want %s", in, got, ok, want)
		}
	}
	bad := "25/11/2008"
	if _, ok := BirthDate(&bad, time.UTC); ok {
		t.Error("a date in another format was read")
	}
}

// Date-only values and times without an offset are the site's; a value
// with an offset is that instant.
func TestTimeInZone(t *testing.T) {
	auckland, err := time.LoadLocation("Pacific/Auckland")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		in   string
		want time.Time
	}{
		{"2026-03-05", time.Date(2026, 3, 5, 0, 0, 0, 0, auckland)},
		{"2026-03", time.Date(2026, 3, 1, 0, 0, 0, 0, auckland)},
		{"2026-03-05T23:30:00", time.Date(2026, 3, 5, 23, 30, 0, 0, auckland)},
		{"2026-03-05T10:30:00Z", time.Date(2026, 3, 5, 10, 30, 0, 0, time.UTC)},
		{"2026-03-05T10:30:00.123+01:00", time.Date(2026, 3, 5, 9, 30, 0, 123e6, time.UTC)},
	}
	for _, tt := range tests {
		got, ok := Time(&tt.in, auckland)
		if !ok || !got.Equal(tt.want) {
			t.Errorf("Time(%q) = %v %v, want %v", tt.in, got, ok, tt.want)
		}
		if ok && got.Location() != auckland {
			t.Errorf("Time(%q) is in %v, want the site's zone", tt.in, got.Location())
		}
	}
	// The calendar day a site files a date-only value under is its own.
	in := "2026-03-05"
	if got, _ := Time(&in, auckland); got.Format("2006-01-02") != in {
		t.Errorf("date-only value moved to %s", got.Format("2006-01-02"))
	}
}

func TestLocalRef(t *testing.T) {
	for ref, want := range map[string]string{
		"Observation/1":                                     "Observation/1",
		"https://ehr.example/fhir/Observation/1":            "Observation/1",
		"https://ehr.example/fhir/Observation/1/":           "Observation/1",
		"https://ehr.example/fhir/Observation/1/_history/2": "Observation/1",
		"Observation/1/_history/2":                          "Observation/1",
		"1":                                                 "1",
		"urn:uuid:abc":                                      "urn:uuid:abc",
		"a//b":                                              "/b",
		"":                                                  "",
	} {
		if got := LocalRef(ref); got != want {
			t.Errorf("LocalRef(%q) = %q, want %q", ref, got, want)
		}
	}
}
