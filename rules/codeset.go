package rules

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"regexp"
	"strings"

	r4 "github.com/samply/golang-fhir-models/fhir-models/fhir"

	"github.com/balint-health/balint/fhir"
)

// codeSet is one of the policy's code sets, compiled: exact codes (matched
// on their value, any system), ICD-10 categories and ranges, and the codes
// of the SNOMED implicit value sets it names, expanded.
type codeSet struct {
	codes  map[string]bool
	ranges []icdRange
	// keywords match a display or text (exclusions only).
	keywords []string
}

// icdRange is an ICD-10 block of three-character categories, lo..hi.
type icdRange struct{ lo, hi string }

var (
	icdCategory = regexp.MustCompile(`^[A-Z][0-9][0-9A-Z]$`)
	icdBlock    = regexp.MustCompile(`^([A-Z][0-9][0-9A-Z])-([A-Z][0-9][0-9A-Z])$`)
)

// icdLike reports whether c is shaped like an ICD-10 code, any case, with
// or without its dot: a letter, a digit, a digit or letter, then up to
// four more after an optional dot. Hand-written, not a regexp: it runs for
// every code the rule looks at.
func icdLike(c string) bool {
	if len(c) < 3 || len(c) > 8 || !isLetter(c[0]) || !isDigit(c[1]) || !(isDigit(c[2]) || isLetter(c[2])) {
		return false
	}
	rest := c[3:]
	if len(rest) > 0 && rest[0] == '.' {
		rest = rest[1:]
	}
	if len(rest) > 4 {
		return false
	}
	for i := 0; i < len(rest); i++ {
		if !isDigit(rest[i]) && !isLetter(rest[i]) {
			return false
		}
	}
	return true
}

func isDigit(b byte) bool  { return b >= '0' && b <= '9' }
func isLetter(b byte) bool { return (b >= 'A' && b <= 'Z') || (b >= 'a' && b <= 'z') }

// IsaPrefix names a SNOMED implicit value set in a policy: "isa/363346000"
// is the concept and all its descendants.
const IsaPrefix = "isa/"

// IsaURL is the canonical URL of the implicit value set a policy entry
// "isa/<code>" names.
func IsaURL(code string) string { return "http://snomed.info/sct?fhir_vs=isa/" + code }

// Expansions are value-set expansions by canonical URL: the codes each
// value set contains.
type Expansions map[string][]string

func compileSet(entries []string, exp Expansions) (*codeSet, error) {
	s := &codeSet{codes: map[string]bool{}}
	for _, e := range entries {
		switch {
		case strings.HasPrefix(e, IsaPrefix):
			root := strings.TrimPrefix(e, IsaPrefix)
			codes, ok := exp[IsaURL(root)]
			if !ok {
				return nil, fmt.Errorf("%q: no expansion of %s (ship one in rules/valuesets or set BALINT_TERMINOLOGY_URL)", e, IsaURL(root))
			}
			s.codes[root] = true
			for _, c := range codes {
				s.codes[c] = true
			}
		case icdBlock.MatchString(e):
			m := icdBlock.FindStringSubmatch(e)
			if m[1] > m[2] {
				return nil, fmt.Errorf("%q: range runs backwards", e)
			}
			s.ranges = append(s.ranges, icdRange{m[1], m[2]})
		case icdCategory.MatchString(e):
			s.ranges = append(s.ranges, icdRange{e, e})
		default:
			s.codes[normalICD(e)] = true
			s.codes[e] = true
		}
	}
	return s, nil
}

// normalICD writes an ICD-10 code without its dot, upper case: "c50.9"
// and "C509" are one code. Other codes come back unchanged.
func normalICD(c string) string {
	c = strings.TrimSpace(c)
	if !icdLike(c) {
		return c
	}
	return strings.ReplaceAll(strings.ToUpper(c), ".", "")
}

// has reports whether code is in the set: exactly, or (for an ICD-10
// code) by its category falling in a range.
func (s *codeSet) has(code string) bool {
	if s.codes[code] {
		return true
	}
	if !icdLike(code) {
		return false
	}
	n := normalICD(code)
	if s.codes[n] {
		return true
	}
	cat := n[:3]
	for _, r := range s.ranges {
		if cat >= r.lo && cat <= r.hi {
			return true
		}
	}
	return false
}

// coded reports whether any coding of the concepts is in the set (codes
// only, never keywords), without building a list of them.
func (s *codeSet) coded(ccs ...r4.CodeableConcept) bool {
	for i := range ccs {
		for j := range ccs[i].Coding {
			if c := ccs[i].Coding[j].Code; c != nil && s.has(*c) {
				return true
			}
		}
	}
	return false
}

// concept reports whether any coding of cc is in the set or, when the set
// has keywords, whether its text or a coding's display names one.
func (s *codeSet) concept(cc *r4.CodeableConcept) bool {
	if cc == nil {
		return false
	}
	for i := range cc.Coding {
		if c := cc.Coding[i].Code; c != nil && s.has(*c) {
			return true
		}
	}
	if len(s.keywords) == 0 {
		return false
	}
	if s.names(fhir.String(cc.Text)) {
		return true
	}
	for i := range cc.Coding {
		if s.names(fhir.String(cc.Coding[i].Display)) {
			return true
		}
	}
	return false
}

// names reports whether text contains one of the keywords, in any case.
func (s *codeSet) names(text string) bool {
	if text == "" {
		return false
	}
	// Displays are nearly all ASCII, and lowering ASCII is byte by byte:
	// compared so, every display of a history is not copied lowered.
	ascii := isASCII(text)
	if !ascii {
		text = strings.ToLower(text)
	}
	for _, k := range s.keywords {
		if ascii && containsLowered(text, k) || !ascii && strings.Contains(text, k) {
			return true
		}
	}
	return false
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// containsLowered is strings.Contains(strings.ToLower(text), k) for ASCII
// text.
func containsLowered(text, k string) bool {
	for i := 0; i+len(k) <= len(text); i++ {
		j := 0
		for j < len(k) && lowerASCII(text[i+j]) == k[j] {
			j++
		}
		if j == len(k) {
			return true
		}
	}
	return false
}

func lowerASCII(b byte) byte {
	if b >= 'A' && b <= 'Z' {
		return b + 'a' - 'A'
	}
	return b
}

//go:embed valuesets/*.json
var shipped embed.FS

// ShippedExpansions are the value-set expansions shipped with Balint
// (rules/valuesets), used when no terminology server answers.
func ShippedExpansions() Expansions {
	exp, err := readExpansions(shipped)
	if err != nil {
		// The shipped files are tested; failing here is a build defect.
		panic("rules: shipped value sets: " + err.Error())
	}
	return exp
}

func readExpansions(fsys fs.FS) (Expansions, error) {
	files, err := fs.Glob(fsys, "valuesets/*.json")
	if err != nil {
		return nil, err
	}
	exp := Expansions{}
	for _, f := range files {
		data, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, err
		}
		url, codes, err := ParseExpansion(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		exp[url] = codes
	}
	return exp, nil
}

// ParseExpansion reads a FHIR ValueSet with an expansion (as $expand
// returns it) into its canonical URL and codes, nested contains included.
func ParseExpansion(data []byte) (string, []string, error) {
	type contains struct {
		Code     string     `json:"code"`
		Contains []contains `json:"contains"`
	}
	var vs struct {
		ResourceType string `json:"resourceType"`
		URL          string `json:"url"`
		Expansion    *struct {
			Contains []contains `json:"contains"`
		} `json:"expansion"`
	}
	if err := json.Unmarshal(data, &vs); err != nil {
		return "", nil, fmt.Errorf("value set: %w", err)
	}
	if vs.ResourceType != "ValueSet" || vs.Expansion == nil {
		return "", nil, fmt.Errorf("value set: not a ValueSet with an expansion (resourceType %q)", vs.ResourceType)
	}
	var codes []string
	var walk func([]contains)
	walk = func(cs []contains) {
		for _, c := range cs {
			if c.Code != "" {
				codes = append(codes, c.Code)
			}
			walk(c.Contains)
		}
	}
	walk(vs.Expansion.Contains)
	if len(codes) == 0 {
		return "", nil, fmt.Errorf("value set %s: the expansion has no codes", vs.URL)
	}
	return vs.URL, codes, nil
}
