package cdshooks

import (
	"fmt"
	"unicode/utf8"
)

// Validate checks a card against the spec before it goes on the wire, so a
// bug in card building is our fault (500) rather than a card the EHR
// rejects.
func (c *Card) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("card: "+format, args...)
	}
	if c.Summary == "" {
		return bad("summary is empty")
	}
	if n := utf8.RuneCountInString(c.Summary); n >= MaxSummaryLen {
		return bad("summary has %d characters, the limit is under %d", n, MaxSummaryLen)
	}
	switch c.Indicator {
	case IndicatorInfo, IndicatorWarning, IndicatorCritical:
	default:
		return bad("indicator %q", c.Indicator)
	}
	if c.Source.Label == "" {
		return bad("source.label is empty")
	}
	for _, s := range c.Suggestions {
		if s.Label == "" {
			return bad("suggestion without label")
		}
		for _, a := range s.Actions {
			switch a.Type {
			case ActionCreate, ActionUpdate, ActionDelete:
			default:
				return bad("action type %q", a.Type)
			}
		}
	}
	switch c.SelectionBehavior {
	case "", "at-most-one", "any":
	default:
		return bad("selectionBehavior %q", c.SelectionBehavior)
	}
	if len(c.Suggestions) > 0 && c.SelectionBehavior == "" {
		return bad("selectionBehavior is required with suggestions")
	}
	for _, l := range c.Links {
		if l.Label == "" || l.URL == "" || (l.Type != LinkAbsolute && l.Type != LinkSMART) {
			return bad("link %q", l.Label)
		}
	}
	return nil
}
