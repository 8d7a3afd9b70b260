package cards

import (
	"bytes"
	"html/template"
	"strings"

	"github.com/balint-health/balint/rules"
)

// RulePage renders the page a card's source links to: the rule as this
// site runs it, with its thresholds and the policy file. Its sentences to
// the clinician are the cards' own.
func RulePage(p *rules.Policy, raw []byte) ([]byte, error) {
	var b bytes.Buffer
	err := rulePage.Execute(&b, struct {
		P                          *rules.Policy
		Raw                        string
		NotReal, Advice, Overrides string
	}{p, string(raw), NotRealLine, AdviceLine, overrideList()})
	return b.Bytes(), err
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
<style>body{font-family:system-ui,sans-serif;max-width:860px;margin:2rem auto;padding:0 1rem;line-height:1.5}pre{background:#f5f5f5;padding:1rem;overflow:auto}</style>
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
<h2>This site's policy</h2>
<pre>{{.Raw}}</pre>
</body></html>
`))
