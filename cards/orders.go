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
	card := cdshooks.Card{
		UUID:            NewUUID(),
		Summary:         orderSummary(pr),
		Indicator:       cdshooks.IndicatorInfo,
		Source:          source(c),
		OverrideReasons: OverrideReasons,
	}
	var b strings.Builder
	fmt.Fprintf(&b, "**Earlier results of %s** (last %d months):\n\n", orderName(pr.Order), p.Windows.InvestigationsMonths)
	for _, r := range pr.Results {
		fmt.Fprintf(&b, "- %s: %s, %s\n", r.Date.Format("2 Jan 2006"), testName(r.Display, r.Codes, "test"), r.Verdict)
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
	noun, were := plural(pr.Normal, "result", "results"), plural(pr.Normal, "was", "were")
	s := fmt.Sprintf("%d previous %s of this test since %s %s normal: %s.", pr.Normal, noun, pr.Since.Format("2 Jan 2006"), were, orderName(pr.Order))
	if utf8.RuneCountInString(s) >= cdshooks.MaxSummaryLen {
		s = fmt.Sprintf("%d previous %s of this test since %s %s normal.", pr.Normal, noun, pr.Since.Format("2 Jan 2006"), were)
	}
	return s
}

// orderName is the draft order's name as the EHR sent it, made safe.
func orderName(o rules.DraftOrder) string { return testName(o.Display, o.Codes, "this test") }
