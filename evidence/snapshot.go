package evidence

import (
	"fmt"
	"slices"
	"strings"
	"time"

	r4 "github.com/samply/golang-fhir-models/fhir-models/fhir"

	"github.com/balint-health/balint/fhir"
	"github.com/balint-health/balint/rules"
)

// Snapshot is what the page draws: who the patient is (so the clinician
// can confirm it is the right one), and the decision's investigations and
// encounters. It never holds the patient's id.
type Snapshot struct {
	Patient        Patient   `json:"patient"`
	Now            time.Time `json:"now"`
	WindowStart    time.Time `json:"windowStart"`
	WindowMonths   int       `json:"windowMonths"`
	Fired          bool      `json:"fired"`
	Investigations []Point   `json:"investigations"`
	Encounters     []Tick    `json:"encounters"`
	Specialties    []string  `json:"specialties"`
	Criteria       []string  `json:"criteria"`
}

// Point is one investigation on the timeline.
type Point struct {
	Date    time.Time     `json:"date"`
	Display string        `json:"display"`
	System  string        `json:"system"`
	Verdict rules.Verdict `json:"verdict"`
	Counted bool          `json:"counted"`
	Note    string        `json:"note,omitempty"`
	// Monitoring: a result monitoring a known condition, folded on the
	// page under one line.
	Monitoring bool `json:"monitoring,omitempty"`
}

// Tick is one encounter.
type Tick struct {
	Date        time.Time `json:"date"`
	PrimaryCare bool      `json:"primaryCare"`
	Specialty   string    `json:"specialty,omitempty"`
}

// Patient is the two identifiers a clinician checks: name and birth date.
type Patient struct {
	Name      string `json:"name"`
	BirthDate string `json:"birthDate"`
}

// PatientOf reads a Patient's name (the official one, else the usual,
// else the first) and birth date as recorded.
func PatientOf(pt *r4.Patient) Patient {
	if pt == nil {
		return Patient{}
	}
	var who Patient
	who.BirthDate = fhir.String(pt.BirthDate)
	best := -1
	for _, n := range pt.Name {
		rank := 2
		if n.Use != nil {
			switch *n.Use {
			case r4.NameUseOfficial:
				rank = 0
			case r4.NameUseUsual:
				rank = 1
			case r4.NameUseOld, r4.NameUseMaiden, r4.NameUseAnonymous:
				continue
			}
		}
		if best == -1 || rank < best {
			best = rank
			who.Name = nameText(n)
		}
	}
	return who
}

func nameText(n r4.HumanName) string {
	if t := fhir.String(n.Text); t != "" {
		return t
	}
	parts := slices.Clone(n.Given)
	if f := fhir.String(n.Family); f != "" {
		parts = append(parts, f)
	}
	return strings.Join(parts, " ")
}

// FromDecision builds a snapshot.
func FromDecision(d *rules.Decision, p *rules.Policy, who Patient) Snapshot {
	s := Snapshot{Patient: who, Now: d.Now, WindowStart: d.WindowStart, WindowMonths: p.Windows.InvestigationsMonths, Fired: d.Fire}
	counted := map[string]bool{}
	for _, c := range d.Counted {
		counted[c.Ref] = true
	}
	for _, inv := range d.Investigations {
		pt := Point{Date: inv.Date, Display: inv.Display, System: inv.System, Verdict: inv.Verdict, Counted: counted[inv.Ref], Monitoring: inv.Monitoring}
		switch {
		case inv.Monitoring:
			pt.Note = "monitoring of a known condition: not counted"
		case inv.Pending:
			pt.Note = "not final"
		case inv.Verdict == rules.Normal && !pt.Counted:
			pt.Note = "same test within the repeat window: counted once"
		case inv.SiteTable:
			pt.Note = "normal against the site's reference table"
		}
		s.Investigations = append(s.Investigations, pt)
	}
	for _, e := range d.Encounters {
		s.Encounters = append(s.Encounters, Tick{Date: e.Date, PrimaryCare: e.PrimaryCare, Specialty: e.Specialty})
	}
	for _, sp := range d.Specialties {
		name := sp.Display
		if name == "" {
			name = "SNOMED " + sp.Code
		}
		s.Specialties = append(s.Specialties, name)
	}
	w := p.Windows
	labels := map[string]string{
		rules.CritNormalInvestigations: fmt.Sprintf("Normal investigations in %d months", w.InvestigationsMonths),
		rules.CritBodySystems:          "Body systems or categories",
		rules.CritPersistence:          "Days from the first to the last",
		rules.CritSpecialties:          fmt.Sprintf("Specialties in %d months", w.SpecialtiesMonths),
		rules.CritPrimaryCare:          fmt.Sprintf("Primary-care encounters in %d months", w.PrimaryCareMonths),
	}
	for _, r := range d.Reasons {
		if r.Kind != rules.KindCriterion || r.Code == rules.CritSpread {
			continue
		}
		state := "not met"
		if r.Met {
			state = "met"
		}
		if r.Code == rules.CritExtra {
			s.Criteria = append(s.Criteria, "Site criterion "+r.Expr+": "+state)
			continue
		}
		s.Criteria = append(s.Criteria, fmt.Sprintf("%s: %d (needs %d): %s", labels[r.Code], r.Value, r.Threshold, state))
	}
	if d.Fire {
		s.Criteria = append(s.Criteria, "Either the specialties or the primary-care criterion is enough.")
	}
	return s
}
