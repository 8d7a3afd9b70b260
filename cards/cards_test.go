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

// CDS Hooks 2.0, "Card Attributes": uuid identifies the card for
// feedback. Each card issued has its own; a suggestion's id follows its
// card's, so the same suggestion on another card is another id.
func TestUUIDPerCard(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		u := NewUUID()
		if seen[u] || len(u) != 36 || u[14] != '4' {
			t.Fatalf("uuid %s: repeated or not random (version 4)", u)
		}
		seen[u] = true
	}
	a, b := NewUUID(), NewUUID()
	if subUUID(a, "review") != subUUID(a, "review") || subUUID(a, "review") == subUUID(b, "review") || subUUID(a, "review") == subUUID(a, "questionnaires") {
		t.Fatal("suggestion ids are not per card and per suggestion")
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

// A result judged against the site's table is said to be, on the card.
func TestCardNamesTheSiteReferenceTable(t *testing.T) {
	d := rules.Decision{Counted: []rules.Investigation{
		{Display: "Sodium", Date: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), System: "Kidney and electrolytes", Verdict: rules.Normal, SiteTable: true},
		{Display: "TSH", Date: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC), System: "Thyroid", Verdict: rules.Normal},
	}}
	detail := ReviewDetail(&d, rules.DefaultPolicy())
	if !strings.Contains(detail, "Sodium, Kidney and electrolytes, normal against the site's reference table") ||
		!strings.Contains(detail, "TSH, Thyroid, normal\n") {
		t.Fatalf("%s", detail)
	}
}
