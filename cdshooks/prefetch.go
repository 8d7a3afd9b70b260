package cdshooks

import (
	"fmt"
	"net/url"
	"strings"
)

// Tokens maps prefetch token names (without braces) to their values.
type Tokens map[string]string

// ContextTokens gives the tokens CDS Hooks 2.0 defines for a hook context:
// context.<field> for each string field, and the user* tokens derived from
// context.userId (e.g. userPractitionerId for "Practitioner/123").
func ContextTokens(hc *HookContext) Tokens {
	t := Tokens{
		"context.userId":    hc.UserID,
		"context.patientId": hc.PatientID,
	}
	if hc.EncounterID != "" {
		t["context.encounterId"] = hc.EncounterID
	}
	if typ, id, ok := splitReference(hc.UserID); ok {
		switch typ {
		case "Practitioner", "PractitionerRole", "Patient", "RelatedPerson":
			t["user"+typ+"Id"] = id
		}
	}
	return t
}

// Render substitutes {{token}}s in a prefetch template. Values are
// query-escaped so a context value can never add a search parameter or
// change the path. With partial set, tokens without a value are kept as they
// are (used to publish templates whose context tokens the EHR fills in);
// otherwise a missing token is an error, and the template cannot be run.
func Render(template string, tokens Tokens, partial bool) (string, error) {
	var b strings.Builder
	rest := template
	for {
		i := strings.Index(rest, "{{")
		if i < 0 {
			b.WriteString(rest)
			return b.String(), nil
		}
		j := strings.Index(rest[i+2:], "}}")
		if j < 0 {
			return "", fmt.Errorf("prefetch template: unclosed {{ at offset %d", len(template)-len(rest)+i)
		}
		name := strings.TrimSpace(rest[i+2 : i+2+j])
		b.WriteString(rest[:i])
		v, ok := tokens[name]
		switch {
		case ok && v != "":
			b.WriteString(url.QueryEscape(v))
		case partial:
			b.WriteString(rest[i : i+2+j+2])
		default:
			return "", fmt.Errorf("prefetch template: no value for token %q", name)
		}
		rest = rest[i+2+j+2:]
	}
}
