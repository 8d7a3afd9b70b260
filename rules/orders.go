package rules

import (
	"time"

	"github.com/balint-health/balint/fhir"
)

// DraftOrder is a test the clinician is about to order.
type DraftOrder struct {
	Ref     string      `json:"ref"`
	Codes   []fhir.Code `json:"codes"`
	Display string      `json:"display"`
}

// Prior is what the record holds of earlier results of a draft order's
// test, inside the investigation window.
type Prior struct {
	Order   DraftOrder      `json:"order"`
	Results []Investigation `json:"results"`
	Normal  int             `json:"normal"`
	// NotNormal counts abnormal and critical results; Unknown the rest.
	NotNormal int       `json:"notNormal"`
	Unknown   int       `json:"unknown"`
	Since     time.Time `json:"since"`
}

// AllNormal reports whether the test was done before and every known
// result was normal: the case the order card speaks to.
func (p Prior) AllNormal() bool { return p.Normal > 0 && p.NotNormal == 0 }

// PriorResults matches each draft order to the decision's investigations
// of the same test (any shared coding), oldest first.
func PriorResults(d *Decision, orders []DraftOrder) []Prior {
	var out []Prior
	for _, o := range orders {
		pr := Prior{Order: o}
		for _, inv := range d.Investigations {
			if inv.Pending || !inv.SameTest(o.Codes) {
				continue
			}
			pr.Results = append(pr.Results, inv)
			switch inv.Verdict {
			case Normal:
				if pr.Normal == 0 {
					pr.Since = inv.Date
				}
				pr.Normal++
			case Abnormal, Critical:
				pr.NotNormal++
			default:
				pr.Unknown++
			}
		}
		out = append(out, pr)
	}
	return out
}
