package cards

import (
	_ "embed"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxRecordText is the longest piece of record text a card quotes.
const maxRecordText = 120

// unsayableList is the words a card must never use, kept as data so that
// the product's code carries none of them.
//
//go:embed unsayable.txt
var unsayableList string

// unsayable matches those words. Record text is written by others, so a
// test or specialty name could carry one; such a name is not quoted.
var unsayable = wholeWords(unsayableList)

// wholeWords compiles a list of alternatives, one per line (# comments and
// blank lines skipped), into one case-blind whole-word pattern.
func wholeWords(list string) *regexp.Regexp {
	var alts []string
	for line := range strings.Lines(list) {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			alts = append(alts, line)
		}
	}
	return regexp.MustCompile(`(?i)\b(` + strings.Join(alts, "|") + `)\b`)
}

// markdownSpecial are the characters that could change a card's markdown
// (emphasis, links, lists, tables, headings, images, raw HTML).
var markdownSpecial = strings.NewReplacer(
	`\`, `\\`, "*", `\*`, "_", `\_`, "`", "\\`", "[", `\[`, "]", `\]`, "#", `\#`, "|", `\|`, "!", `\!`,
	"<", "&lt;", ">", "&gt;", "&", "&amp;",
)

// RecordText is text from the record as a card may show it: on one line,
// without control characters, HTML or markdown that changes the card, at
// most 120 characters; fallback (a code) when it is empty or uses a word a
// card must never use.
func RecordText(s, fallback string) string {
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }), " ")
	if s == "" || unsayable.MatchString(s) {
		s = fallback
	}
	if utf8.RuneCountInString(s) > maxRecordText {
		s = string([]rune(s)[:maxRecordText-1]) + "…"
	}
	return markdownSpecial.Replace(s)
}
