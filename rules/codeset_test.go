package rules

import (
	"strings"
	"testing"
)

func TestNamesIgnoresCase(t *testing.T) {
	s := &codeSet{keywords: []string{"hospice", "palliative care", "straße"}}
	for _, tc := range []struct {
		text string
		want bool
	}{
		{"", false},
		{"Hospice", true},
		{"REFERRAL TO HOSPICE SERVICE", true},
		{"Referral to hospic", false},
		{"Palliative Care review", true},
		{"palliative  care", false},
		{"Specialist PALLIATIVE CARE", true},
		{"Hôpital de jour: HOSPICE", true}, // not ASCII: lowered whole
		{"Hauptstraße clinic", true},       // a keyword that is not ASCII
		{"HAUPTSTRASSE", false},            // ToLower does not fold ß
		{"Hospi\u0130ce", false},           // İ lowers to two bytes
		{"\u212Aospice", false},            // Kelvin sign: not an ASCII k
		{"x", false},
	} {
		if got := s.names(tc.text); got != tc.want {
			t.Errorf("names(%q) = %v, want %v", tc.text, got, tc.want)
		}
		// The same as lowering the whole text, which it replaces.
		lowered := false
		for _, k := range s.keywords {
			lowered = lowered || strings.Contains(strings.ToLower(tc.text), k)
		}
		if lowered != tc.want {
			t.Errorf("%q: the table says %v, strings.ToLower %v", tc.text, tc.want, lowered)
		}
	}
}
