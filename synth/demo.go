package synth

import "time"

// DemoEpoch is the "now" the embedded demo patients are generated at; the
// demo source moves their dates forward to the real now when serving.
var DemoEpoch = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

// DemoPatient is one embedded demo patient and what it shows.
type DemoPatient struct {
	ID    string
	Shows string
	Opts  Options
}

// DemoPatients are the patients served by the embedded demo.
var DemoPatients = []DemoPatient{
	{"demo-pattern", "repeated normal investigations across specialties: the review card", Options{Seed: 101, Pattern: true, NormalInvestigations: 6, Specialties: 3, PrimaryCare: 6}},
	{"demo-control", "a few normal tests, one specialty: no card", Options{Seed: 102}},
	{"demo-critical", "the pattern, but a critical result: no card", Options{Seed: 103, Pattern: true, Exclusions: []Exclusion{Critical}}},
	{"demo-mental-health", "the pattern, already in psychological care: no card", Options{Seed: 104, Pattern: true, Exclusions: []Exclusion{MentalHealth}}},
	{"demo-diabetes", "the pattern plus years of diabetes monitoring (which does not count)", Options{Seed: 105, Pattern: true, Observations: 120}},
}

// Demo generates the demo patient records.
func Demo() []*Record {
	var out []*Record
	for _, p := range DemoPatients {
		o := p.Opts
		o.PatientID = p.ID
		o.Now = DemoEpoch
		out = append(out, Generate(o))
	}
	return out
}
