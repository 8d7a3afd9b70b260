package cards

import (
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxRecordText is the longest piece of record text a card quotes.
const maxRecordText = 120

// unsayable matches the words a card must never use (clinical basis, "How
// the card speaks"). Record text is written by others, so a test or
// specialty name could carry one; such a name is not quoted.
var unsayable = regexp.MustCompile(`(?i)\b(mus|somati[sz]\w*|frequent attenders?|heart-?sink\w*|medically unexplained)\b`)

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
