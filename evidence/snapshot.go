package evidence

import (
	"fmt"
	"time"

	"github.com/balint-health/balint/rules"
)

// Snapshot is what the page draws: a decision's investigations and
// encounters, without patient identifiers.
type Snapshot struct {
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
}

// Tick is one encounter.
type Tick struct {
	Date        time.Time `json:"date"`
	PrimaryCare bool      `json:"primaryCare"`
}

// FromDecision builds a snapshot.
func FromDecision(d *rules.Decision, p *rules.Policy) Snapshot {
	s := Snapshot{Now: d.Now, WindowStart: d.WindowStart, WindowMonths: p.Windows.InvestigationsMonths, Fired: d.Fire}
	counted := map[string]bool{}
	for _, c := range d.Counted {
		counted[c.Ref] = true
	}
	for _, inv := range d.Investigations {
		pt := Point{Date: inv.Date, Display: inv.Display, System: inv.System, Verdict: inv.Verdict, Counted: counted[inv.Ref]}
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
		s.Encounters = append(s.Encounters, Tick{Date: e.Date, PrimaryCare: e.PrimaryCare})
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
