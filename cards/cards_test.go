package cards

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/balint-health/balint/cdshooks"
	"github.com/balint-health/balint/fhir"
	"github.com/balint-health/balint/rules"
)

func TestWording(t *testing.T) {
	if n := utf8.RuneCountInString(Summary); n >= cdshooks.MaxSummaryLen {
		t.Fatalf("summary has %d characters", n)
	}
}

func TestOrderSummaryFitsWithAnyTestName(t *testing.T) {
	since := time.Date(2025, 3, 4, 0, 0, 0, 0, time.UTC)
	for _, name := range []string{"CBC", strings.Repeat("Comprehensive metabolic panel with eGFR ", 5)} {
		for _, n := range []int{1, 2, 12} {
			s := orderSummary(rules.Prior{Order: rules.DraftOrder{Display: name}, Normal: n, Since: since})
			if utf8.RuneCountInString(s) >= cdshooks.MaxSummaryLen || !strings.Contains(s, "since 4 Mar 2025") {
				t.Errorf("%q", s)
			}
			if (n == 1) != strings.Contains(s, "1 previous result of this test since 4 Mar 2025 was normal") {
				t.Errorf("number agreement: %q", s)
			}
		}
	}
}

func TestUUIDStablePerDay(t *testing.T) {
	secret := []byte("s")
	day := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	a := UUID(secret, "svc", "p1", day)
	if a != UUID(secret, "svc", "p1", day.Add(10*time.Hour)) {
		t.Fatal("same day, different uuid")
	}
	for _, b := range []string{UUID(secret, "svc", "p1", day.AddDate(0, 0, 1)), UUID(secret, "svc", "p2", day), UUID([]byte("t"), "svc", "p1", day)} {
		if a == b {
			t.Fatal("uuid does not depend on day, patient and secret")
		}
	}
	if len(a) != 36 || a[14] != '5' {
		t.Fatalf("not a name-based UUID: %s", a)
	}
}

// Record text reaches a card only escaped, on one line, and never with a
// word a card must not use.
func TestRecordText(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Full blood count", "Full blood count"},
		{"<img src=x onerror=alert(1)>", "&lt;img src=x onerror=alert(1)&gt;"},
		{"**urgent** [click](http://x)", `\*\*urgent\*\* \[click\](http://x)`},
		{"line one\nline two\t# heading", `line one line two \# heading`},
		{"", "test code 718-7"},
		{"Medically unexplained symptoms clinic", "test code 718-7"},
		{"MUS review panel", "test code 718-7"},
		{"Museum of tests", "Museum of tests"},
		{strings.Repeat("a", 200), strings.Repeat("a", 119) + "…"},
	}
	for _, tt := range tests {
		if got := RecordText(tt.in, "test code 718-7"); got != tt.want {
			t.Errorf("RecordText(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if banned.MatchString(RecordText(tt.in, "x")) {
			t.Errorf("RecordText(%q) kept a banned word", tt.in)
		}
	}
}

// A card that could not check everything says so, and does not claim that
// nothing was found.
func TestCardSaysOnlyWhatWasChecked(t *testing.T) {
	p := rules.DefaultPolicy()
	checked := rules.Decision{}
	if d := ReviewDetail(&checked, p); !strings.Contains(d, "was found.") || strings.Contains(d, "Not everything") {
		t.Fatalf("a fully read record: %s", d)
	}
	for _, d := range []rules.Decision{
		{Features: rules.Features{Unknown: 2}},
		{Unread: []fhir.Skipped{{ResourceType: "Condition", ID: "c1", Reason: "Condition/code: wrong shape"}}},
	} {
		detail := ReviewDetail(&d, p)
		if strings.Contains(detail, "was found.") || !strings.Contains(detail, "Not everything was checked") {
			t.Errorf("a partly read record (%+v): %s", d.Features, detail)
		}
	}
}
