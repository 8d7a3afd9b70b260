package cards

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/balint-health/balint/cdshooks"
	"github.com/balint-health/balint/rules"
)

// Order builds the card for a draft order whose test was done before with
// only normal results. With review set (the patient also meets the rule),
// it carries the psychosocial-review suggestions. It never blocks the order.
func Order(pr rules.Prior, review bool, p *rules.Policy, c Context) (cdshooks.Card, error) {
	c.ServiceID += "/" + pr.Order.Ref
	card := cdshooks.Card{
		UUID:            UUID(c.Secret, c.ServiceID, c.PatientID, c.Now),
		Summary:         orderSummary(pr),
		Indicator:       cdshooks.IndicatorInfo,
		Source:          source(c),
		OverrideReasons: OverrideReasons,
	}
	var b strings.Builder
	fmt.Fprintf(&b, "**Earlier results of %s** (last %d months):\n\n", pr.Order.Display, p.Windows.InvestigationsMonths)
	for _, r := range pr.Results {
		fmt.Fprintf(&b, "- %s: %s, %s\n", r.Date.Format("2 Jan 2006"), r.Display, r.Verdict)
	}
	b.WriteString("\nThe order is not blocked; this is for information.\n")
	if review {
		b.WriteString("\nThe record also shows repeated normal investigations across specialties: a whole-person review of symptoms, daily impact and wellbeing may help.\n\n")
		b.WriteString(NotRealLine + "\n")
		sug, err := Suggestions(card.UUID, c)
		if err != nil {
			return cdshooks.Card{}, err
		}
		card.Suggestions = sug
		card.SelectionBehavior = "any"
		if c.Evidence != nil {
			card.Links = []cdshooks.Link{*c.Evidence}
		}
	}
	card.Detail = b.String()
	return card, nil
}

func orderSummary(pr rules.Prior) string {
	noun := "result"
	if pr.Normal > 1 {
		noun = "results"
	}
	s := fmt.Sprintf("%d previous %s of this test since %s %s normal: %s.", pr.Normal, noun, pr.Since.Format("2 Jan 2006"), were(pr.Normal), pr.Order.Display)
	if utf8.RuneCountInString(s) >= cdshooks.MaxSummaryLen {
		s = fmt.Sprintf("%d previous %s of this test since %s %s normal.", pr.Normal, noun, pr.Since.Format("2 Jan 2006"), were(pr.Normal))
	}
	return s
}

func were(n int) string {
	if n == 1 {
		return "was"
	}
	return "were"
}
