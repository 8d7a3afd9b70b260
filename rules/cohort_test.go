package rules

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	r4 "github.com/samply/golang-fhir-models/fhir-models/fhir"

	"github.com/balint-health/balint/fhir"
	"github.com/balint-health/balint/synth"
	"github.com/balint-health/balint/testing/outside"
)

// label is what the clinical basis says of a generated patient, worked out
// from the generator's knobs alone, independently of the rule's code.
type label struct {
	fire      bool
	exclusion string
}

var exclusionCode = map[synth.Exclusion]string{
	synth.Minor: ExclAgeUnderMin, synth.Pregnancy: ExclPregnancy, synth.Cancer: ExclCancer, synth.Hospice: ExclHospice,
	synth.Critical: ExclCritical, synth.UnresolvedAbnormal: ExclUnresolved, synth.OpenRequest: ExclOpenWorkup,
	synth.MentalHealth: ExclMentalHealth, synth.Screening: ExclRecentScreening,
}

func labelOf(o synth.Options) label {
	if len(o.Exclusions) > 0 {
		return label{exclusion: exclusionCode[o.Exclusions[0]]}
	}
	spread := o.Specialties >= 2 || o.PrimaryCare >= 8
	return label{fire: o.Pattern && o.NormalInvestigations >= 3 && spread}
}

// cohort is a seeded, labelled cohort covering every clause.
func cohort(n int) []synth.Options {
	rng := rand.New(rand.NewPCG(42, 7))
	var out []synth.Options
	for i := 0; i < n; i++ {
		o := synth.Options{Seed: int64(1000 + i), Now: testNow}
		switch c := i % 14; {
		case c == 0:
			// control
		case c <= 9:
			o.Pattern = true
			if c <= 9 && i%28 >= 14 {
				o.Exclusions = []synth.Exclusion{synth.AllExclusions[c-1]}
			}
		case c == 10:
			o.Pattern, o.NormalInvestigations = true, 2
		case c == 11:
			o.Pattern, o.Specialties, o.PrimaryCare = true, 1, 8
		case c == 12:
			o.Pattern, o.Specialties, o.PrimaryCare = true, 1, 7
		case c == 13:
			o.Pattern, o.Observations = true, 50+rng.IntN(200)
		}
		if o.Pattern && o.NormalInvestigations == 0 {
			o.NormalInvestigations = 3 + rng.IntN(6)
		}
		if o.Specialties == 0 {
			o.Specialties = 2 + rng.IntN(3)
		}
		if o.PrimaryCare == 0 {
			o.PrimaryCare = 1 + rng.IntN(6)
		}
		out = append(out, o)
	}
	return out
}

func historyOf(t testing.TB, rec *synth.Record) *fhir.History {
	h := fhir.NewHistory()
	if _, err := h.AddJSON("all", fhir.FromPrefetch, rec.Collection()); err != nil {
		t.Fatal(err)
	}
	if len(h.Skipped) > 0 {
		t.Fatalf("generator wrote entries the decoder skips: %+v", h.Skipped)
	}
	return h
}

func TestLabelledCohort(t *testing.T) {
	p := DefaultPolicy()
	opts := cohort(280)
	fired, excluded := 0, map[string]int{}
	var disagreements []string
	for _, o := range opts {
		want := labelOf(o)
		d := Evaluate(p, Input{History: historyOf(t, synth.Generate(o)), Now: testNow})
		switch {
		case d.Fire != want.fire:
			disagreements = append(disagreements, fmt.Sprintf("seed %d %+v: fire=%v want %v (exclusions %v unmet %v)",
				o.Seed, o, d.Fire, want.fire, d.Exclusions(), d.Unmet()))
		case want.exclusion != "" && !slices.Contains(d.Exclusions(), want.exclusion):
			disagreements = append(disagreements, fmt.Sprintf("seed %d: exclusions %v, want %s", o.Seed, d.Exclusions(), want.exclusion))
		}
		if d.Fire {
			fired++
		}
		if want.exclusion != "" {
			excluded[want.exclusion]++
		}
	}
	for _, d := range disagreements {
		t.Error(d)
	}
	if len(excluded) != len(synth.AllExclusions) || fired < 50 {
		t.Fatalf("cohort does not cover every clause: %d fired, exclusions %v", fired, excluded)
	}
	t.Logf("%d patients, %d fired, exclusions %v, %d disagreements", len(opts), fired, excluded, len(disagreements))
}

func firing(t *testing.T) []synth.Options {
	var out []synth.Options
	for _, o := range cohort(140) {
		if labelOf(o).fire {
			out = append(out, o)
		}
	}
	if len(out) < 30 {
		t.Fatalf("only %d firing histories", len(out))
	}
	return out
}

func TestPropertyCriticalResultStopsFiring(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, o := range firing(t) {
		h := historyOf(t, synth.Generate(o))
		b := &hb{h: h, now: testNow, n: 100000}
		b.lab(crp, 1+rng.IntN(700), "N", []string{"AA", "HH", "LL"}[rng.IntN(3)])
		if d := Evaluate(DefaultPolicy(), Input{History: h, Now: testNow}); d.Fire {
			t.Errorf("seed %d fired with a critical result", o.Seed)
		}
	}
}

func TestPropertyNoSpecialtiesNoEncountersStopsFiring(t *testing.T) {
	for _, o := range firing(t) {
		h := historyOf(t, synth.Generate(o))
		h.Encounters = nil
		h.ServiceRequests = slices.DeleteFunc(h.ServiceRequests, func(sr r4.ServiceRequest) bool { return sr.PerformerType != nil })
		if d := Evaluate(DefaultPolicy(), Input{History: h, Now: testNow}); d.Fire {
			t.Errorf("seed %d fired without specialties or encounters", o.Seed)
		}
	}
}

func TestPropertyShiftInvariance(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, o := range cohort(140) {
		rec := synth.Generate(o)
		base := Evaluate(DefaultPolicy(), Input{History: historyOf(t, rec), Now: testNow})
		shift := rng.IntN(4000) - 2000
		moved := shifted(t, rec.Collection(), shift)
		d := Evaluate(DefaultPolicy(), Input{History: moved, Now: testNow.AddDate(0, 0, shift)})
		if d.Fire != base.Fire || fmt.Sprint(summary(d)) != fmt.Sprint(summary(base)) {
			t.Errorf("seed %d shifted %d days: %v, was %v", o.Seed, shift, summary(d), summary(base))
		}
	}
}

func summary(d Decision) []string {
	var out []string
	for _, r := range d.Reasons {
		out = append(out, fmt.Sprintf("%s=%v/%d", r.Code, r.Met, r.Value))
	}
	return out
}

func shifted(t *testing.T, bundle []byte, days int) *fhir.History {
	b, err := outside.Shift(bundle, days)
	if err != nil {
		t.Fatal(err)
	}
	return decoded(t, b)
}

// decoded is the history a bundle holds.
func decoded(t *testing.T, bundle []byte) *fhir.History {
	h := fhir.NewHistory()
	if _, err := h.AddJSON("all", fhir.FromPrefetch, bundle); err != nil {
		t.Fatal(err)
	}
	return h
}

func BenchmarkEvaluate(b *testing.B) {
	for _, size := range []int{300, 5000, 20000, 80000} {
		// The generator adds an order and a result per padded Observation.
		rec := synth.Generate(synth.Options{Seed: 9, Now: testNow, Pattern: true, Observations: (size - 40) / 2})
		h := historyOf(b, rec)
		n := h.Len()
		p := DefaultPolicy()
		jsonBytes := 0
		for _, r := range rec.Resources {
			jsonBytes += len(r.JSON)
		}
		b.Run(fmt.Sprintf("resources=%d", size), func(b *testing.B) {
			b.SetBytes(int64(jsonBytes)) // MB/s of the history's JSON
			b.ReportAllocs()
			for b.Loop() {
				Evaluate(p, Input{History: h, Now: testNow})
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/resource")
		})
	}
}
