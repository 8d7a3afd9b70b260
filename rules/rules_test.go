package rules

import (
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	r4 "github.com/samply/golang-fhir-models/fhir-models/fhir"

	"github.com/balint-health/balint/fhir"
	"github.com/balint-health/balint/synth"
)

func TestPositiveBaselineFiresAtEveryThreshold(t *testing.T) {
	d := positive().eval()
	if !d.Fire {
		t.Fatalf("baseline should fire; exclusions %v unmet %v", d.Exclusions(), d.Unmet())
	}
	want := map[string][2]int{
		CritNormalInvestigations: {3, 3},
		CritBodySystems:          {3, 2},
		CritSpecialties:          {2, 2},
		CritPersistence:          {200, 91},
	}
	for code, vt := range want {
		r, ok := d.Reason(code)
		if !ok || r.Value != vt[0] || r.Threshold != vt[1] || !r.Met {
			t.Errorf("%s = %+v, want value %d threshold %d met", code, r, vt[0], vt[1])
		}
	}
	if len(d.Counted) != 3 {
		t.Fatalf("counted %d investigations, want 3", len(d.Counted))
	}
}

// Each threshold below, at and above its edge.
func TestThresholdEdges(t *testing.T) {
	tests := []struct {
		name  string
		build func() *hb
		fire  bool
		unmet string
	}{
		{"2 normal investigations (below)", func() *hb {
			b := newHB().patient(40)
			b.lab(cbc, 400)
			b.lab(tsh, 200)
			b.encounter(cardiology, 100)
			b.referral(gastro, 200)
			return b
		}, false, CritNormalInvestigations},
		{"3 normal investigations (at)", positive, true, ""},
		{"4 normal investigations (above)", func() *hb { b := positive(); b.lab(crp, 150); return b }, true, ""},

		{"1 body system (below)", func() *hb {
			b := newHB().patient(40)
			b.lab(cbc, 400)
			b.lab(cbc, 300)
			b.lab(cbc, 200)
			b.encounter(cardiology, 100)
			b.referral(gastro, 200)
			return b
		}, false, CritBodySystems},
		{"2 body systems (at)", func() *hb {
			b := newHB().patient(40)
			b.lab(cbc, 400)
			b.lab(cbc, 300)
			b.lab(tsh, 200)
			b.encounter(cardiology, 100)
			b.referral(gastro, 200)
			return b
		}, true, ""},

		{"span 90 days (below 3 months)", func() *hb {
			b := newHB().patient(40)
			b.lab(cbc, 190)
			b.imaging(usAbdo, 150, "17621005")
			b.lab(tsh, 100)
			b.encounter(cardiology, 100)
			b.referral(gastro, 200)
			return b
		}, false, CritPersistence},
		{"span 91 days (at 3 months)", func() *hb {
			b := newHB().patient(40)
			b.lab(cbc, 191)
			b.imaging(usAbdo, 150, "17621005")
			b.lab(tsh, 100)
			b.encounter(cardiology, 100)
			b.referral(gastro, 200)
			return b
		}, true, ""},

		{"1 specialty, 0 primary care (below)", func() *hb {
			b := newHB().patient(40)
			b.lab(cbc, 400)
			b.imaging(usAbdo, 300, "17621005")
			b.lab(tsh, 200)
			b.encounter(cardiology, 100)
			b.referral(cardiology, 200)
			return b
		}, false, CritSpread},
		{"3 specialties (above)", func() *hb { b := positive(); b.encounter(neurology, 50); return b }, true, ""},

		{"7 primary-care encounters, 1 specialty (below)", func() *hb { return primaryCare(7) }, false, CritSpread},
		{"8 primary-care encounters, 1 specialty (at)", func() *hb { return primaryCare(8) }, true, ""},
		{"9 primary-care encounters, 1 specialty (above)", func() *hb { return primaryCare(9) }, true, ""},

		{"age 17 (below)", func() *hb { b := positive(); b.patient(17); return b }, false, ""},
		{"age 18 (at)", func() *hb { b := positive(); b.patient(18); return b }, true, ""},
		{"age 19 (above)", func() *hb { b := positive(); b.patient(19); return b }, true, ""},

		{"investigation just outside 24 months", func() *hb {
			b := newHB().patient(40)
			b.lab(cbc, 731)
			b.imaging(usAbdo, 300, "17621005")
			b.lab(tsh, 200)
			b.encounter(cardiology, 100)
			b.referral(gastro, 200)
			return b
		}, false, CritNormalInvestigations},
		{"investigation just inside 24 months", func() *hb {
			b := newHB().patient(40)
			b.lab(cbc, 729)
			b.imaging(usAbdo, 300, "17621005")
			b.lab(tsh, 200)
			b.encounter(cardiology, 100)
			b.referral(gastro, 200)
			return b
		}, true, ""},
		{"specialty just outside 36 months", func() *hb {
			b := newHB().patient(40)
			b.lab(cbc, 400)
			b.imaging(usAbdo, 300, "17621005")
			b.lab(tsh, 200)
			b.encounter(cardiology, 100)
			b.referral(gastro, 1097)
			return b
		}, false, CritSpread},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := tt.build().eval()
			if d.Fire != tt.fire {
				t.Fatalf("fire = %v, want %v (exclusions %v, unmet %v)", d.Fire, tt.fire, d.Exclusions(), d.Unmet())
			}
			if tt.unmet != "" && !slices.Contains(d.Unmet(), tt.unmet) {
				t.Fatalf("unmet %v, want %s among them", d.Unmet(), tt.unmet)
			}
		})
	}
}

func primaryCare(n int) *hb {
	b := newHB().patient(40)
	b.lab(cbc, 400)
	b.imaging(usAbdo, 300, "17621005")
	b.lab(tsh, 200)
	b.encounter(cardiology, 100)
	for i := 0; i < n; i++ {
		b.encounter(gp, 10+i*30)
	}
	return b
}

// Each exclusion alone on an otherwise-positive history.
func TestExclusions(t *testing.T) {
	tests := []struct {
		name string
		add  func(b *hb)
		code string
	}{
		{"age under 18", func(b *hb) { b.patient(16) }, ExclAgeUnderMin},
		{"no birth date", func(b *hb) { b.h.Patient.BirthDate = nil }, ExclAgeUnknown},
		{"no Patient", func(b *hb) { b.h.Patient = nil }, ExclAgeUnknown},
		{"pregnancy 5 months ago", func(b *hb) { b.condition("77386006", 150, "resolved") }, ExclPregnancy},
		{"active cancer", func(b *hb) { b.condition("254837009", 900, "active") }, ExclCancer},
		{"cancer in remission", func(b *hb) { b.condition("254837009", 900, "remission") }, ExclCancer},
		{"pregnancy resolved on an unrecorded date, onset 14 months ago", func(b *hb) { b.condition("77386006", 425, "resolved") }, ExclPregnancy},
		{"hospice encounter", func(b *hb) { b.encounter("385763009", 30) }, ExclHospice},
		{"critical result", func(b *hb) { b.lab(crp, 60, "HH") }, ExclCritical},
		{"critical LL among normals", func(b *hb) { b.lab(crp, 60, "N", "LL", "N") }, ExclCritical},
		{"abnormal not followed by normal", func(b *hb) { b.lab(crp, 60, "H") }, ExclUnresolved},
		{"abnormal after the last normal", func(b *hb) { b.lab(crp, 120); b.lab(crp, 60, "A") }, ExclUnresolved},
		{"open diagnostic request", func(b *hb) {
			b.request(r4.ServiceRequest{Status: r4.RequestStatusActive, Intent: r4.RequestIntentOrder,
				Category: []r4.CodeableConcept{cc(snomed, "363679005")}, Code: ccp(loinc, mrBrain), AuthoredOn: b.at(10)})
		}, ExclOpenWorkup},
		{"preliminary report in the last 90 days", func(b *hb) {
			b.report(r4.DiagnosticReport{Status: r4.DiagnosticReportStatusPreliminary, Code: cc(loinc, mrBrain), EffectiveDateTime: b.at(20)})
		}, ExclOpenWorkup},
		{"referral to psychologist", func(b *hb) {
			b.request(r4.ServiceRequest{Status: r4.RequestStatusCompleted, Intent: r4.RequestIntentOrder,
				Category: []r4.CodeableConcept{cc(snomed, "3457005")}, Code: ccp(snomed, "308459004"), AuthoredOn: b.at(100)})
		}, ExclMentalHealth},
		{"psychiatry encounter", func(b *hb) { b.encounter("394587001", 200) }, ExclMentalHealth},
		{"CBT procedure", func(b *hb) { b.procedure("228557008", 40) }, ExclMentalHealth},
		{"PHQ-9 in the last 6 months", func(b *hb) { b.observation("44261-6", 100) }, ExclRecentScreening},
		{"PHQ-15 panel", func(b *hb) { b.observation("69728-4", 30) }, ExclRecentScreening},
		{"GAD-7 total", func(b *hb) { b.observation("70274-6", 30) }, ExclRecentScreening},
		{"screening assessment procedure", func(b *hb) { b.procedure("410229003", 30) }, ExclRecentScreening},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := positive()
			tt.add(b)
			d := b.eval()
			if d.Fire {
				t.Fatalf("fired despite %s", tt.code)
			}
			if got := d.Exclusions(); !slices.Contains(got, tt.code) {
				t.Fatalf("exclusions %v, want %s", got, tt.code)
			}
			r, _ := d.Reason(tt.code)
			if tt.code != ExclAgeUnknown && tt.code != ExclDismissed && len(r.Refs) == 0 {
				t.Errorf("%s rests on no resource", tt.code)
			}
		})
	}
}

// Things that look like exclusions but are not.
func TestNotExclusions(t *testing.T) {
	tests := []struct {
		name string
		add  func(b *hb)
	}{
		{"pregnancy that ended 14 months ago", func(b *hb) {
			b.condition("77386006", 700, "resolved")
			b.h.Conditions[len(b.h.Conditions)-1].AbatementDateTime = b.at(425)
		}},
		{"cancer resolved", func(b *hb) { b.condition("254837009", 900, "resolved") }},
		{"abnormal followed by a normal repeat", func(b *hb) { b.lab(crp, 120, "H"); b.lab(crp, 60) }},
		{"PHQ-9 7 months ago", func(b *hb) { b.observation("44261-6", 215) }},
		{"psychiatry encounter 13 months ago", func(b *hb) { b.encounter("394587001", 400) }},
		{"open order older than 12 months", func(b *hb) {
			b.request(r4.ServiceRequest{Status: r4.RequestStatusActive, Intent: r4.RequestIntentOrder,
				Category: []r4.CodeableConcept{cc(snomed, "363679005")}, Code: ccp(loinc, mrBrain), AuthoredOn: b.at(400)})
		}},
		{"preliminary report older than 90 days", func(b *hb) {
			b.report(r4.DiagnosticReport{Status: r4.DiagnosticReportStatusPreliminary, Code: cc(loinc, mrBrain), EffectiveDateTime: b.at(120)})
		}},
		{"cancelled report", func(b *hb) {
			b.report(r4.DiagnosticReport{Status: r4.DiagnosticReportStatusCancelled, Code: cc(loinc, mrBrain), EffectiveDateTime: b.at(20)})
		}},
		{"snooze expired", func(b *hb) {}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := positive()
			tt.add(b)
			d := Evaluate(DefaultPolicy(), Input{History: b.h, Now: b.now, SnoozedUntil: b.now.Add(-time.Hour)})
			if !d.Fire {
				t.Fatalf("did not fire: exclusions %v unmet %v", d.Exclusions(), d.Unmet())
			}
		})
	}
}

func TestDismissedSnooze(t *testing.T) {
	b := positive()
	d := Evaluate(DefaultPolicy(), Input{History: b.h, Now: b.now, SnoozedUntil: b.now.Add(time.Hour)})
	if d.Fire || !slices.Contains(d.Exclusions(), ExclDismissed) {
		t.Fatalf("snoozed card fired or no dismissed exclusion: %v", d.Exclusions())
	}
}

func TestCounting(t *testing.T) {
	t.Run("20-analyte panel is one investigation", func(t *testing.T) {
		b := newHB().patient(40)
		interps := make([]string, 20)
		for i := range interps {
			interps[i] = "N"
		}
		b.lab(cbc, 100, interps...)
		d := b.eval()
		if len(d.Counted) != 1 || len(d.Counted[0].Evidence) != 20 {
			t.Fatalf("counted %d (evidence %d), want 1 investigation with 20 analytes", len(d.Counted), len(d.Counted[0].Evidence))
		}
	})
	t.Run("same test within 30 days counts once", func(t *testing.T) {
		b := newHB().patient(40)
		b.lab(cbc, 100)
		b.lab(cbc, 80)
		if n := len(b.eval().Counted); n != 1 {
			t.Fatalf("counted %d, want 1", n)
		}
	})
	t.Run("same test 30 days apart counts twice", func(t *testing.T) {
		b := newHB().patient(40)
		b.lab(cbc, 100)
		b.lab(cbc, 70)
		if n := len(b.eval().Counted); n != 2 {
			t.Fatalf("counted %d, want 2", n)
		}
	})
	t.Run("one abnormal analyte makes the report abnormal", func(t *testing.T) {
		b := newHB().patient(40)
		b.lab(cbc, 100, "N", "H", "N")
		d := b.eval()
		if len(d.Counted) != 0 || d.Investigations[0].Verdict != Abnormal {
			t.Fatalf("verdict %s, counted %d", d.Investigations[0].Verdict, len(d.Counted))
		}
	})
	t.Run("monitoring of an active condition does not count", func(t *testing.T) {
		b := newHB().patient(40)
		dm := b.condition("44054006", 2000, "active")
		sr := b.request(r4.ServiceRequest{Status: r4.RequestStatusCompleted, Intent: r4.RequestIntentOrder, Code: ccp(loinc, "4548-4"),
			ReasonReference: []r4.Reference{{Reference: sp(dm)}}, AuthoredOn: b.at(100)})
		ref := b.lab("4548-4", 100)
		b.h.DiagnosticReports[len(b.h.DiagnosticReports)-1].BasedOn = []r4.Reference{{Reference: sp(sr)}}
		d := b.eval()
		if len(d.Counted) != 0 || !d.Investigations[0].Monitoring {
			t.Fatalf("monitoring %s counted: %+v", ref, d.Counted)
		}
	})
	t.Run("monitoring by reasonCode of an active condition does not count", func(t *testing.T) {
		b := newHB().patient(40)
		b.condition("44054006", 2000, "active")
		sr := b.request(r4.ServiceRequest{Status: r4.RequestStatusCompleted, Intent: r4.RequestIntentOrder, Code: ccp(loinc, "4548-4"),
			ReasonCode: []r4.CodeableConcept{cc(snomed, "44054006")}, AuthoredOn: b.at(100)})
		b.lab("4548-4", 100)
		b.h.DiagnosticReports[0].BasedOn = []r4.Reference{{Reference: sp(sr)}}
		if n := len(b.eval().Counted); n != 0 {
			t.Fatalf("counted %d, want 0", n)
		}
	})
	t.Run("loose observations group by order", func(t *testing.T) {
		b := newHB().patient(40)
		sr := b.request(r4.ServiceRequest{Status: r4.RequestStatusCompleted, Intent: r4.RequestIntentOrder, Code: ccp(loinc, cbc), AuthoredOn: b.at(101)})
		for i := 0; i < 3; i++ {
			b.analyte("718-7", 100, "N")
			b.h.Observations[len(b.h.Observations)-1].BasedOn = []r4.Reference{{Reference: sp(sr)}}
		}
		d := b.eval()
		if len(d.Investigations) != 1 || d.Investigations[0].Codes[0].Code != cbc || len(d.Counted) != 1 {
			t.Fatalf("investigations %+v", d.Investigations)
		}
	})
	t.Run("loose observations group by category and day", func(t *testing.T) {
		b := newHB().patient(40)
		b.analyte("718-7", 100, "N")
		b.analyte("777-3", 100, "N")
		b.analyte("718-7", 50, "N")
		d := b.eval()
		if len(d.Investigations) != 2 {
			t.Fatalf("got %d investigations, want 2 (one per day)", len(d.Investigations))
		}
	})
	t.Run("panel observation with hasMember is one investigation", func(t *testing.T) {
		b := newHB().patient(40)
		m1 := b.analyte("718-7", 100, "N")
		m2 := b.analyte("777-3", 100, "N")
		b.h.Observations = append(b.h.Observations, r4.Observation{Id: sp("panel"), Status: r4.ObservationStatusFinal, Code: cc(loinc, cbc),
			EffectiveDateTime: b.at(100), HasMember: []r4.Reference{{Reference: sp(m1)}, {Reference: sp(m2)}}})
		d := b.eval()
		if len(d.Investigations) != 1 || d.Investigations[0].Ref != "Observation/panel" || len(d.Investigations[0].Evidence) != 2 {
			t.Fatalf("investigations %+v", d.Investigations)
		}
	})
	t.Run("endoscopy procedure with its normal report is one investigation", func(t *testing.T) {
		b := newHB().patient(40)
		dr := b.imaging("28014-9", 100, "17621005")
		p := b.procedure("76009000", 100)
		b.h.Procedures[0].Category = ccp(snomed, "103693007")
		b.h.Procedures[0].Report = []r4.Reference{{Reference: sp(dr)}}
		d := b.eval()
		if len(d.Investigations) != 1 || !slices.Contains(d.Investigations[0].Refs, p) || d.Investigations[0].Kind != "procedure" {
			t.Fatalf("investigations %+v", d.Investigations)
		}
	})
	t.Run("procedure without report is unknown, never normal", func(t *testing.T) {
		b := newHB().patient(40)
		b.procedure("76009000", 100)
		b.h.Procedures[0].Category = ccp(snomed, "103693007")
		d := b.eval()
		if len(d.Investigations) != 1 || d.Investigations[0].Verdict != Unknown || len(d.Counted) != 0 {
			t.Fatalf("investigations %+v", d.Investigations)
		}
	})
	t.Run("imaging with a non-normal conclusion is abnormal", func(t *testing.T) {
		b := newHB().patient(40)
		b.imaging(usAbdo, 100, "263654008")
		if v := b.eval().Investigations[0].Verdict; v != Abnormal {
			t.Fatalf("verdict %s", v)
		}
	})
	t.Run("imaging without a coded conclusion is unknown", func(t *testing.T) {
		b := newHB().patient(40)
		b.report(r4.DiagnosticReport{Status: r4.DiagnosticReportStatusFinal, Code: cc(loinc, usAbdo), EffectiveDateTime: b.at(100), Conclusion: sp("normal")})
		d := b.eval()
		if d.Investigations[0].Verdict != Unknown || len(d.Counted) != 0 {
			t.Fatalf("verdict %s", d.Investigations[0].Verdict)
		}
	})
}

func quantity(v, unit string) *r4.Quantity {
	n := json.Number(v)
	return &r4.Quantity{Value: &n, Unit: sp(unit), Code: sp(unit), System: sp("http://unitsofmeasure.org")}
}

func TestValuesAgainstRanges(t *testing.T) {
	// The record's own range alone: the site table is tested below.
	noTable, err := ParsePolicy([]byte(withIntervals(string(DefaultPolicyYAML()), "[]")))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		value     *r4.Quantity
		low, high *r4.Quantity
		want      Verdict
		text      string // a range given only as text
	}{
		{"inside", quantity("13.1", "g/dL"), quantity("12", "g/dL"), quantity("16", "g/dL"), Normal, ""},
		{"on the low edge", quantity("12", "g/dL"), quantity("12", "g/dL"), quantity("16", "g/dL"), Normal, ""},
		{"on the high edge", quantity("16.0", "g/dL"), quantity("12", "g/dL"), quantity("16", "g/dL"), Normal, ""},
		{"below", quantity("11.9", "g/dL"), quantity("12", "g/dL"), quantity("16", "g/dL"), Abnormal, ""},
		{"above", quantity("16.01", "g/dL"), quantity("12", "g/dL"), quantity("16", "g/dL"), Abnormal, ""},
		{"high bound only, inside", quantity("3", "mg/L"), nil, quantity("10", "mg/L"), Normal, ""},
		{"units a decimal prefix apart convert", quantity("130", "g/L"), quantity("12", "g/dL"), quantity("16", "g/dL"), Normal, ""},
		{"converted, below", quantity("110", "g/L"), quantity("12", "g/dL"), quantity("16", "g/dL"), Abnormal, ""},
		{"units a molar mass apart never convert", quantity("8", "mmol/L"), quantity("12", "g/dL"), quantity("16", "g/dL"), Unknown, ""},
		{"range as text, inside", quantity("4.1", "mmol/L"), nil, nil, Normal, "3.5-5.0"},
		{"range as text with its unit, above", quantity("5.4", "mmol/L"), nil, nil, Abnormal, "3.5 - 5.0 mmol/L"},
		{"range as text, upper limit only", quantity("3", "mg/L"), nil, nil, Normal, "<5"},
		{"range as text in another unit", quantity("4.1", "mmol/L"), nil, nil, Unknown, "63-90 mg/dL"},
		{"range as text that does not parse", quantity("4.1", "mmol/L"), nil, nil, Unknown, "see report"},
		{"unit missing on the value", &r4.Quantity{Value: quantity("13", "").Value}, quantity("12", "g/dL"), quantity("16", "g/dL"), Unknown, ""},
		{"no range", quantity("13", "g/dL"), nil, nil, Unknown, ""},
		{"no value", nil, quantity("12", "g/dL"), quantity("16", "g/dL"), Unknown, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newHB().patient(40)
			o := r4.Observation{Id: sp("o"), Status: r4.ObservationStatusFinal, Code: cc(loinc, "718-7"), EffectiveDateTime: b.at(10), ValueQuantity: tt.value}
			if tt.low != nil || tt.high != nil || tt.text != "" {
				o.ReferenceRange = []r4.ObservationReferenceRange{{Low: tt.low, High: tt.high}}
				if tt.text != "" {
					o.ReferenceRange[0].Text = &tt.text
				}
			}
			b.h.Observations = append(b.h.Observations, o)
			d := Evaluate(noTable, Input{History: b.h, Now: b.now})
			if len(d.Investigations) != 1 {
				t.Fatalf("%d investigations", len(d.Investigations))
			}
			inv := d.Investigations[0]
			if inv.Verdict != tt.want {
				t.Fatalf("verdict %s (%v), want %s", inv.Verdict, inv.Evidence, tt.want)
			}
			if counted := len(d.Counted) == 1; counted != (tt.want == Normal) {
				t.Fatalf("counted = %v for verdict %s: unknown must never count as normal", counted, tt.want)
			}
		})
	}
}

func TestInterpretationWins(t *testing.T) {
	b := newHB().patient(40)
	o := r4.Observation{Id: sp("o"), Status: r4.ObservationStatusFinal, Code: cc(loinc, "718-7"), EffectiveDateTime: b.at(10),
		ValueQuantity: quantity("20", "g/dL"), ReferenceRange: []r4.ObservationReferenceRange{{Low: quantity("12", "g/dL"), High: quantity("16", "g/dL")}},
		Interpretation: []r4.CodeableConcept{cc(interp, "N")}}
	b.h.Observations = append(b.h.Observations, o)
	if v := b.eval().Investigations[0].Verdict; v != Normal {
		t.Fatalf("coded interpretation N gave %s", v)
	}
}

func TestStatuses(t *testing.T) {
	tests := []struct {
		status  r4.ObservationStatus
		counted bool
	}{
		{r4.ObservationStatusFinal, true},
		{r4.ObservationStatusAmended, true},
		{r4.ObservationStatusCorrected, true},
		{r4.ObservationStatusPreliminary, false},
		{r4.ObservationStatusRegistered, false},
		{r4.ObservationStatusUnknown, false},
	}
	for _, tt := range tests {
		t.Run(tt.status.Code(), func(t *testing.T) {
			b := newHB().patient(40)
			b.lab(cbc, 100)
			b.h.Observations[0].Status = tt.status
			if got := len(b.eval().Counted) == 1; got != tt.counted {
				t.Fatalf("counted = %v, want %v", got, tt.counted)
			}
		})
	}
	t.Run("cancelled observation is absent", func(t *testing.T) {
		b := newHB().patient(40)
		b.analyte("718-7", 100, "N")
		b.h.Observations[0].Status = r4.ObservationStatusCancelled
		if n := len(b.eval().Investigations); n != 0 {
			t.Fatalf("%d investigations from a cancelled observation", n)
		}
	})
	for _, st := range []r4.DiagnosticReportStatus{r4.DiagnosticReportStatusAmended, r4.DiagnosticReportStatusCorrected, r4.DiagnosticReportStatusAppended} {
		t.Run("report "+st.Code(), func(t *testing.T) {
			b := newHB().patient(40)
			b.imaging(usAbdo, 100, "17621005")
			b.h.DiagnosticReports[0].Status = st
			if n := len(b.eval().Counted); n != 1 {
				t.Fatalf("counted %d", n)
			}
		})
	}
}

func TestPolicy(t *testing.T) {
	def := string(DefaultPolicyYAML())
	tests := []struct {
		name, yaml, want string
	}{
		{"zero threshold", strings.Replace(def, "normal_investigations: 3", "normal_investigations: 0", 1), "thresholds.normal_investigations"},
		{"unknown field", strings.Replace(def, "min_age: 18", "min_age: 18\n  maximum_age: 90", 1), "maximum_age"},
		{"empty code set", strings.Replace(def, `pregnancy: ["isa/77386006", "O00-O9A", "Z33", "Z34", "Z3A"]`, "pregnancy: []", 1), "codes.pregnancy"},
		{"value set with no expansion", strings.Replace(def, `"isa/77386006"`, `"isa/1234567"`, 1), "isa/1234567"},
		{"backward ICD range", strings.Replace(def, `"isa/363346000", "C00-C97"`, `"isa/363346000", "C97-C00"`, 1), "runs backwards"},
		{"bad unreadable action", strings.Replace(def, "action: exclude", "action: ignore", 1), "unreadable.action"},
		{"reference interval without a source", withIntervals(def, `[{loinc: "2951-2", unit: mmol/L, low: "135", high: "145"}]`), "reference_intervals[0]: source"},
		{"reference interval low above high", withIntervals(def, `[{loinc: "2951-2", unit: mmol/L, low: "145", high: "135", source: lab}]`), "low is above high"},
		{"reference interval for a third sex", withIntervals(def, `[{loinc: "2951-2", unit: mmol/L, low: "135", sex: other, source: lab}]`), "sex"},
		{"bad CEL", strings.Replace(def, "extra_criteria: []", `extra_criteria: ["investigations.normal >="]`, 1), "extra_criteria[0]"},
		{"CEL not boolean", strings.Replace(def, "extra_criteria: []", `extra_criteria: ["investigations.normal + 1"]`, 1), "must be a boolean"},
		{"CEL unknown key", strings.Replace(def, "extra_criteria: []", `extra_criteria: ["investigations.normals >= 1"]`, 1), "extra_criteria[0]"},
		{"CEL unknown variable", strings.Replace(def, "extra_criteria: []", `extra_criteria: ["labs.count >= 1"]`, 1), "extra_criteria[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParsePolicy([]byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one naming %q", err, tt.want)
			}
		})
	}
}

func TestExtraCriteria(t *testing.T) {
	def := string(DefaultPolicyYAML())
	tests := []struct {
		expr string
		fire bool
	}{
		{"investigations.normal >= 4 && specialties.count >= 2", false},
		{"investigations.normal >= 3 && specialties.count >= 2", true},
		{"patient.age < 40", false},
		{"persistence.days >= 180", true},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			p, err := ParsePolicy([]byte(strings.Replace(def, "extra_criteria: []", "extra_criteria: ['"+tt.expr+"']", 1)))
			if err != nil {
				t.Fatal(err)
			}
			b := positive()
			d := Evaluate(p, Input{History: b.h, Now: b.now})
			if d.Fire != tt.fire {
				t.Fatalf("fire = %v, want %v", d.Fire, tt.fire)
			}
			r, ok := d.Reason(CritExtra)
			if !ok || r.Expr != tt.expr || r.Met != tt.fire {
				t.Fatalf("extra reason %+v", r)
			}
		})
	}
}

func TestPolicyChangesThresholds(t *testing.T) {
	def := string(DefaultPolicyYAML())
	p, err := ParsePolicy([]byte(strings.Replace(def, "normal_investigations: 3", "normal_investigations: 4", 1)))
	if err != nil {
		t.Fatal(err)
	}
	b := positive()
	if d := Evaluate(p, Input{History: b.h, Now: b.now}); d.Fire {
		t.Fatal("fired with threshold 4 on 3 investigations")
	}
}

func TestPriorResults(t *testing.T) {
	b := positive()
	b.lab(cbc, 100)
	b.lab(crp, 90, "H")
	d := b.eval()
	prior := PriorResults(&d, []DraftOrder{
		{Ref: "ServiceRequest/a", Codes: []fhir.Code{{System: loinc, Code: cbc}}},
		{Ref: "ServiceRequest/b", Codes: []fhir.Code{{System: loinc, Code: crp}}},
		{Ref: "ServiceRequest/c", Codes: []fhir.Code{{System: loinc, Code: "9999-9"}}},
	})
	if len(prior) != 3 {
		t.Fatalf("%d priors", len(prior))
	}
	if p := prior[0]; p.Normal != 2 || !p.AllNormal() || !p.Since.Equal(testNow.AddDate(0, 0, -400)) {
		t.Errorf("cbc prior %+v", p)
	}
	if p := prior[1]; p.AllNormal() || p.NotNormal != 1 {
		t.Errorf("crp prior %+v", p)
	}
	if p := prior[2]; p.AllNormal() || len(p.Results) != 0 {
		t.Errorf("unknown test prior %+v", p)
	}
}

func TestDecisionIsDeterministic(t *testing.T) {
	a, _ := json.Marshal(positive().eval())
	b, _ := json.Marshal(positive().eval())
	if string(a) != string(b) {
		t.Fatal("same input, different decision")
	}
}

// TestEvaluateLeavesTheHistory: the rule only reads a history. The
// decoder gives resources that repeat an element the same value
// (fhir/share.go), so one write through a resource would change others:
// every history evaluated, by one reader and by several, is still the one
// decoded.
func TestEvaluateLeavesTheHistory(t *testing.T) {
	for _, o := range []synth.Options{
		{Seed: 1, Now: testNow, Pattern: true, Observations: 40},
		{Seed: 2, Now: testNow, Observations: 40},
		{Seed: 3, Now: testNow, Pattern: true, Observations: 3000},
	} {
		rec := synth.Generate(o)
		h, want := historyOf(t, rec), historyOf(t, rec)
		Evaluate(DefaultPolicy(), Input{History: h, Now: testNow})
		if !reflect.DeepEqual(h, want) {
			t.Errorf("seed %d: the history evaluated differs from the one decoded", o.Seed)
		}
	}
}

func TestRationalComparison(t *testing.T) {
	// 0.1 + 0.2 style float error must not move a value across a bound.
	r, _ := fhir.ParseDec("0.3")
	if q, _ := fhir.Decimal(quantity("0.3", "x")); q.Cmp(r) != 0 {
		t.Fatal("decimal values compare exactly")
	}
}

// The site's reference-interval table judges a value that comes without
// an interpretation or a range; never one that has its own.
// withIntervals is the default policy with its reference-interval table
// replaced by rows (YAML, a flow list or block items).
func withIntervals(def, rows string) string {
	return intervalTable.ReplaceAllLiteralString(def, "reference_intervals: "+rows+"\n")
}

// intervalTable is the table in the policy file: its key and every
// indented line after it.
var intervalTable = regexp.MustCompile(`(?m)^reference_intervals:.*\n(?:  .*\n)*`)

func TestSiteReferenceTable(t *testing.T) {
	def := string(DefaultPolicyYAML())
	p, err := ParsePolicy([]byte(withIntervals(def, `
  - {loinc: "718-7", unit: g/dL, low: "12.0", high: "15.5", sex: female, source: "Test lab handbook"}
  - {loinc: "718-7", unit: g/dL, low: "13.5", high: "17.5", sex: male, source: "Test lab handbook"}
  - {loinc: "2951-2", unit: mmol/L, low: "135", high: "145", min_age: 18, source: "Test lab handbook"}`)))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		code   string
		value  *r4.Quantity
		ranges []r4.ObservationReferenceRange
		male   bool
		want   Verdict
		site   bool
	}{
		{"female Hb inside", "718-7", quantity("13.0", "g/dL"), nil, false, Normal, true},
		{"male Hb below", "718-7", quantity("13.0", "g/dL"), nil, true, Abnormal, true},
		{"in g/L, converted", "718-7", quantity("130", "g/L"), nil, false, Normal, true},
		{"in mmol/L, never converted", "718-7", quantity("8.1", "mmol/L"), nil, false, Unknown, false},
		{"a test not in the table", "3016-3", quantity("2.1", "m[IU]/L"), nil, false, Unknown, false},
		{"its own range wins", "2951-2", quantity("146", "mmol/L"), []r4.ObservationReferenceRange{{Low: quantity("135", "mmol/L"), High: quantity("150", "mmol/L")}}, false, Normal, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv := judgedAlone(p, tt.code, tt.value, tt.ranges, tt.male)
			if inv.Verdict != tt.want || inv.SiteTable != tt.site {
				t.Fatalf("verdict %s site table %v (%v), want %s %v", inv.Verdict, inv.SiteTable, inv.Evidence, tt.want, tt.site)
			}
		})
	}
}

// judgedAlone is how one result of a 40-year-old is judged under p.
func judgedAlone(p *Policy, code string, value *r4.Quantity, ranges []r4.ObservationReferenceRange, male bool) Investigation {
	b := newHB().patient(40)
	if male {
		g := r4.AdministrativeGenderMale
		b.h.Patient.Gender = &g
	}
	b.h.Observations = append(b.h.Observations, r4.Observation{Id: sp("o"), Status: r4.ObservationStatusFinal,
		Code: cc(loinc, code), EffectiveDateTime: b.at(10), ValueQuantity: value, ReferenceRange: ranges})
	return Evaluate(p, Input{History: b.h, Now: b.now}).Investigations[0]
}

// The default table: adults only, every row with its source, and doubt
// (a value on a "below X" line, a random glucose, a test or unit it does
// not list) never reads as normal.
func TestDefaultReferenceTable(t *testing.T) {
	p := DefaultPolicy()
	if len(p.ReferenceIntervals) < 40 {
		t.Fatalf("%d rows in the default table", len(p.ReferenceIntervals))
	}
	for i, iv := range p.ReferenceIntervals {
		if iv.Source == "" || iv.MinAge == nil || *iv.MinAge < 18 {
			t.Errorf("row %d (%s): every default row is for adults and cites its source", i, iv.LOINC)
		}
	}
	tests := []struct {
		name  string
		code  string
		value *r4.Quantity
		male  bool
		want  Verdict
	}{
		{"sodium inside", "2951-2", quantity("140", "mmol/L"), false, Normal},
		{"potassium above", "6298-4", quantity("5.3", "mmol/L"), false, Abnormal},
		{"female haemoglobin inside", "718-7", quantity("13.0", "g/dL"), false, Normal},
		{"male haemoglobin below", "718-7", quantity("13.0", "g/dL"), true, Abnormal},
		{"haemoglobin in g/L converts", "718-7", quantity("130", "g/L"), false, Normal},
		{"HbA1c below 5.7", "4548-4", quantity("5.4", "%"), false, Normal},
		{"HbA1c on the 5.7 line", "4548-4", quantity("5.7", "%"), false, Abnormal},
		{"cholesterol on the 200 line", "2093-3", quantity("199.5", "mg/dL"), false, Abnormal},
		{"HDL of 40", "2085-9", quantity("40", "mg/dL"), false, Normal},
		{"eGFR of 59", "33914-3", quantity("59", "mL/min/{1.73_m2}"), false, Abnormal},
		{"random glucose held to the fasting range", "2339-0", quantity("120", "mg/dL"), false, Abnormal},
		{"ESR of 24 in a woman of 40", "4537-7", quantity("24", "mm/h"), false, Normal},
		{"ESR of 24 in a man of 40", "4537-7", quantity("24", "mm/h"), true, Abnormal},
		{"creatinine in umol/L never converts", "2160-0", quantity("80", "umol/L"), false, Unknown},
		{"TSH is not in the table", "3016-3", quantity("2.1", "m[IU]/L"), false, Unknown},
		{"troponin is not in the table", "6598-7", quantity("0.01", "ng/mL"), false, Unknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv := judgedAlone(p, tt.code, tt.value, nil, tt.male)
			if inv.Verdict != tt.want || inv.SiteTable != (tt.want != Unknown) {
				t.Fatalf("verdict %s site table %v (%v), want %s", inv.Verdict, inv.SiteTable, inv.Evidence, tt.want)
			}
		})
	}
}

// A reference names a resource however it is written: relative, absolute,
// versioned, or a bundle's urn:uuid. Report members are judged once, in
// their report, and an encounter under a mental-health referral is care,
// in every form.
func TestReferenceForms(t *testing.T) {
	forms := map[string]func(ref string) string{
		"relative":  func(ref string) string { return ref },
		"absolute":  func(ref string) string { return "https://ehr.example/fhir/" + ref },
		"versioned": func(ref string) string { return ref + "/_history/3" },
		"urn:uuid":  func(ref string) string { _, id, _ := strings.Cut(ref, "/"); return "urn:uuid:" + id },
	}
	base := positive().eval().Features
	for name, form := range forms {
		t.Run(name, func(t *testing.T) {
			b := positive()
			// A loose result on a report's day, so that a member counted
			// again would join its group.
			b.analyte("2345-7", 60, "N")
			want := b.clone().eval().Features
			for i := range b.h.DiagnosticReports {
				for j := range b.h.DiagnosticReports[i].Result {
					r := form(*b.h.DiagnosticReports[i].Result[j].Reference)
					b.h.DiagnosticReports[i].Result[j].Reference = &r
				}
			}
			if got := b.eval().Features; got != want || got.Total < base.Total {
				t.Fatalf("features %+v, want %+v", got, want)
			}
			mh := positive()
			ref := mh.request(r4.ServiceRequest{Status: r4.RequestStatusCompleted, Intent: r4.RequestIntentOrder,
				Category: []r4.CodeableConcept{cc(snomed, "3457005")}, Code: ccp(snomed, "308459004"), AuthoredOn: mh.at(700)})
			mh.encounter(gp, 30)
			en := &mh.h.Encounters[len(mh.h.Encounters)-1]
			en.BasedOn = []r4.Reference{{Reference: sp(form(ref))}}
			if d := mh.eval(); d.Fire || !slices.Contains(d.Exclusions(), ExclMentalHealth) {
				t.Fatalf("an encounter under a mental-health referral (%s): exclusions %v", form(ref), d.Exclusions())
			}
		})
	}
}

// TestSortInvestigations: sorting indexes and then moving each value
// once gives the order a sort of the values gives.
func TestSortInvestigations(t *testing.T) {
	day := func(d int) time.Time { return time.Date(2026, 1, d, 0, 0, 0, 0, time.UTC) }
	for n := range 40 {
		var invs []Investigation
		for i := range n {
			invs = append(invs, Investigation{Ref: fmt.Sprintf("Observation/%d", (i*7919)%41), Date: day(1 + (i*31)%5), Display: fmt.Sprint(i)})
		}
		want := slices.Clone(invs)
		slices.SortStableFunc(want, func(a, b Investigation) int {
			if c := a.Date.Compare(b.Date); c != 0 {
				return c
			}
			return strings.Compare(a.Ref, b.Ref)
		})
		sortInvestigations(invs)
		if !reflect.DeepEqual(invs, want) {
			t.Fatalf("%d investigations: got %v, want %v", n, invs, want)
		}
	}
}
