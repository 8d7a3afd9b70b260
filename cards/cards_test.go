package cards

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/balint-health/balint/cdshooks"
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
