package cards

import (
	"bytes"
	"fmt"
	"html/template"
	"strings"

	"github.com/balint-health/balint/rules"
)

// RulePage renders the page a card's source links to: the rule as this
// site runs it, its thresholds, windows and code sets as tables a clinician
// reads, and a link to the policy file (PolicyPath). Its sentences to the
// clinician are the cards' own.
func RulePage(p *rules.Policy) ([]byte, error) {
	var b bytes.Buffer
	err := rulePage.Execute(&b, struct {
		P                          *rules.Policy
		Numbers                    []row
		Sets                       []codeRow
		Intervals                  []intervalRow
		PolicyPath                 string
		NotReal, Advice, Overrides string
	}{p, numbers(p), codeSets(p), intervals(p), PolicyPath, NotRealLine, AdviceLine, overrideList()})
	return b.Bytes(), err
}

// PolicyPath serves the policy file the page describes.
const PolicyPath = "/rule/policy.yaml"

type row struct{ Name, Value string }

type codeRow struct {
	Name  string
	Codes []string
}

// numbers are the policy's thresholds, windows and snoozes as a clinician
// names them.
func numbers(p *rules.Policy) []row {
	w, t, z := p.Windows, p.Thresholds, p.Snooze
	hospice := "any time"
	if w.HospiceMonths > 0 {
		hospice = fmt.Sprintf("%d months", w.HospiceMonths)
	}
	return []row{
		{"Normal investigations needed", fmt.Sprint(t.NormalInvestigations)},
		{"... in the last", fmt.Sprintf("%d months", w.InvestigationsMonths)},
		{"... over at least", fmt.Sprintf("%d body systems or categories", t.BodySystems)},
		{"... the first at least this long before the last", fmt.Sprintf("%d months", t.PersistenceMonths)},
		{"The same test repeated within this counts once", fmt.Sprintf("%d days", w.SameTestDays)},
		{"Specialties needed (or primary-care encounters)", fmt.Sprintf("%d (or %d)", t.Specialties, t.PrimaryCareEncounters)},
		{"... specialties counted over", fmt.Sprintf("%d months", w.SpecialtiesMonths)},
		{"... primary-care encounters counted over", fmt.Sprintf("%d months", w.PrimaryCareMonths)},
		{"Youngest age", fmt.Sprintf("%d years", t.MinAge)},
		{"Pregnancy overlapping the last", fmt.Sprintf("%d months", w.PregnancyMonths)},
		{"Hospice care", hospice},
		{"Mental-health care in the last", fmt.Sprintf("%d months", w.MentalHealthMonths)},
		{"A questionnaire or screening in the last", fmt.Sprintf("%d months", w.ScreeningMonths)},
		{"An open order is work-up if made within", fmt.Sprintf("%d months", w.OpenRequestMonths)},
		{"A report not yet final is work-up within", fmt.Sprintf("%d days", w.PendingReportDays)},
		{"Set aside by a clinician: silent for", fmt.Sprintf("%d months (%d for red flags under investigation)", z.DismissedMonths, z.RedFlagMonths)},
	}
}

// codeSets are the policy's code sets, each as it is written ("isa/" is a
// SNOMED concept and its descendants; "C00-C97" an ICD-10 range).
func codeSets(p *rules.Policy) []codeRow {
	c := p.Codes
	return []codeRow{
		{"Active cancer", c.Cancer},
		{"Pregnancy", c.Pregnancy},
		{"Hospice care", c.Hospice},
		{"Mental-health referrals and therapies", c.MentalHealthReferrals},
		{"Mental-health specialties and services", c.MentalHealthSpecialties},
		{"Questionnaires and screenings (observations)", c.ScreeningObservations},
		{"Screenings (procedures)", c.ScreeningProcedures},
		{"Chronic conditions whose monitoring does not count", c.ChronicConditions},
		{"Primary care", c.PrimaryCareSpecialties},
		{"Not specialties (radiology, pathology, hospice)", c.NotSpecialties},
		{"Normal interpretation codes", c.NormalInterpretations},
		{"Critical interpretation codes", c.CriticalInterpretations},
		{"Normal conclusions", c.NormalConclusions},
	}
}

type intervalRow struct{ LOINC, Range, Who, Source string }

// intervals are the reference-interval table as a clinician reads it, so a
// card that says "normal against the site's reference table" can be
// checked against the numbers it used.
func intervals(p *rules.Policy) []intervalRow {
	var out []intervalRow
	for _, iv := range p.ReferenceIntervals {
		rng := iv.Low + "-" + iv.High + " " + iv.Unit
		switch {
		case iv.Low == "":
			rng = "up to " + iv.High + " " + iv.Unit
		case iv.High == "":
			rng = iv.Low + " " + iv.Unit + " or more"
		}
		who := "everyone"
		if iv.Sex != "" {
			who = iv.Sex
		}
		switch {
		case iv.MinAge != nil && iv.MaxAge != nil:
			who += fmt.Sprintf(", %d-%d years", *iv.MinAge, *iv.MaxAge)
		case iv.MinAge != nil:
			who += fmt.Sprintf(", %d years and over", *iv.MinAge)
		case iv.MaxAge != nil:
			who += fmt.Sprintf(", up to %d years", *iv.MaxAge)
		}
		out = append(out, intervalRow{iv.LOINC, rng, who, iv.Source})
	}
	return out
}

func overrideList() string {
	var names []string
	for _, r := range OverrideReasons {
		names = append(names, "“"+r.Display+"”")
	}
	return strings.Join(names, ", ")
}

var rulePage = template.Must(template.New("rule").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Balint: the rule</title>
<style>body{font-family:system-ui,sans-serif;max-width:860px;margin:2rem auto;padding:0 1rem;line-height:1.5}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top}
code{font-size:.9em}</style>
</head><body>
<h1>Repeated normal investigations: when Balint suggests a whole-person review</h1>
<p>Patients sometimes present again and again with physical symptoms whose investigations come back normal,
passed between specialists who each see one part. Normal results rarely reassure; what helps is one clinician
who looks at the whole person. Balint makes that pattern visible. It advises, explains itself and never diagnoses.</p>
<h2>The card fires when all of these hold</h2>
<ul>
<li>at least {{.P.Thresholds.NormalInvestigations}} normal investigations in the last {{.P.Windows.InvestigationsMonths}} months
 (a report with all its analytes is one investigation; the same test within {{.P.Windows.SameTestDays}} days counts once; monitoring of a known condition does not count);</li>
<li>spanning at least {{.P.Thresholds.BodySystems}} body systems or categories;</li>
<li>the first at least {{.P.Thresholds.PersistenceMonths}} months before the last;</li>
<li>referrals or specialist encounters to at least {{.P.Thresholds.Specialties}} specialties in {{.P.Windows.SpecialtiesMonths}} months,
 or at least {{.P.Thresholds.PrimaryCareEncounters}} primary-care encounters in {{.P.Windows.PrimaryCareMonths}} months.</li>
{{range .P.ExtraCriteria}}<li>site criterion: <code>{{.}}</code></li>{{end}}
</ul>
<h2>It does not fire when</h2>
<ul>
<li>the patient is under {{.P.Thresholds.MinAge}} or the age is unknown;</li>
<li>a pregnancy overlapped the last {{.P.Windows.PregnancyMonths}} months, a cancer is active or in remission, or there was hospice care{{if .P.Windows.HospiceMonths}} in the last {{.P.Windows.HospiceMonths}} months{{end}};</li>
<li>any result was critical, or an abnormal result was not followed by a normal repeat of the same test, whatever it was ordered for (only monitoring of a chronic condition on the site's list is set aside);</li>
<li>a diagnostic order, referral, procedure or report is still open, whatever its reason;</li>
<li>the review this card suggests has already been requested;</li>
<li>an entry of the record that could carry one of these exclusions could not be read;</li>
<li>there was mental-health care in the last {{.P.Windows.MentalHealthMonths}} months, or PHQ-15, PHQ-9, GAD-7 or a screening assessment in the last {{.P.Windows.ScreeningMonths}} months;</li>
<li>a clinician dismissed the card for this patient recently ({{.P.Snooze.DismissedMonths}} months; {{.P.Snooze.RedFlagMonths}} months when new or red-flag symptoms are under investigation).</li>
</ul>
<p>{{.NotReal}}</p>
<p>{{.Advice}} A clinician can set a card aside with a reason: {{.Overrides}}.</p>
<h2>Evidence</h2>
<p>Rolfe &amp; Burton, JAMA Intern Med 2013;173:407 (diagnostic tests do not reassure); den Boeft 2014; Bromley &amp; Turner 2014;
Burton et al., Lancet 2024 (MSS3). Record-based case finding is weak alone, so the card advises and shows what it fired on.</p>
<h2>This site's numbers</h2>
<table><tr><th>What</th><th>This site</th></tr>
{{range .Numbers}}<tr><td>{{.Name}}</td><td>{{.Value}}</td></tr>
{{end}}</table>
<h2>This site's code sets</h2>
<p>A code of any system; <code>isa/</code> is a SNOMED CT concept and all its descendants; a range such as
<code>C00-C97</code> is ICD-10, read with or without its dot.</p>
<table><tr><th>Set</th><th>Codes</th></tr>
{{range .Sets}}<tr><td>{{.Name}}</td><td>{{range $i, $c := .Codes}}{{if $i}}, {{end}}<code>{{$c}}</code>{{end}}</td></tr>
{{end}}</table>
<h2>Reference intervals, for results that carry none</h2>
{{if .Intervals}}<p>Used only when a result has neither an interpretation flag nor a reference range of its own;
a card that rests on one says so. Tests not listed stay unknown and never count as normal.</p>
<table><tr><th>LOINC</th><th>Normal</th><th>For</th><th>Source</th></tr>
{{range .Intervals}}<tr><td><code>{{.LOINC}}</code></td><td>{{.Range}}</td><td>{{.Who}}</td><td>{{.Source}}</td></tr>
{{end}}</table>{{else}}<p>None: a result without its own flag or range stays unknown and never counts as normal.</p>{{end}}
<p>The policy file, for the site's informatics team: <a href="{{.PolicyPath}}" download>policy.yaml</a>.</p>
</body></html>
`))
