package jsonscan

import (
	"bytes"
	"strings"
	"testing"

	json "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// v2 is the syntax the scanner must agree with: the v2 decoder's, with the
// options Balint reads FHIR and hook calls with.
var v2 = json.JoinOptions(jsontext.AllowInvalidUTF8(true), jsontext.AllowDuplicateNames(true))

// agrees fails unless Skip accepts data exactly when the v2 decoder does.
func agrees(t *testing.T, data []byte) {
	t.Helper()
	s := Scanner{Data: data}
	_, ok := s.Skip()
	ok = ok && s.SkipSpace() == len(data)
	if want := jsontext.Value(data).IsValid(v2); ok != want {
		t.Fatalf("%q: scanner accepts %v, v2 decoder %v", data, ok, want)
	}
}

func TestSkipAgreesWithTheV2Decoder(t *testing.T) {
	for _, c := range []string{
		`{}`, `[]`, ` { "a" : [ 1 , -2.5e+3 , true , false , null , "x" ] } `, `{"a":{"b":{"c":[[]]}}}`,
		`{"a":1,"a":2}`, `"\u00e9\ud83d\ude00"`, `"\ud800"`, `"\udc00\ud800"`, "\"\xff\xfe\"", "{\"\xff\":1}",
		`"\/\b\f\n\r\t\"\\"`, `0`, `-0`, `-0.0e-0`, `1E5`,
		// refused
		``, ` `, `{`, `}`, `[1,]`, `{"a":1,}`, `{"a" 1}`, `{a:1}`, `{"a":1 "b":2}`, `01`, `1.`, `.5`, `-`, `1e`, `+1`,
		`tru`, `nul`, `True`, `"\x"`, `"\u12"`, `"\u12G4"`, "\"a\x01\"", "\"\t\"", `"abc`, `[1 2]`, `{"a":1}}`, `[]]`,
		`NaN`, `Infinity`, `'a'`, `{"a":[}`, `[{]}`, `1 2`, `{} {}`,
	} {
		agrees(t, []byte(c))
	}
	for _, n := range []int{MaxDepth - 1, MaxDepth, MaxDepth + 1} {
		agrees(t, []byte(strings.Repeat("[", n)+"{}"+strings.Repeat("]", n)))
		agrees(t, []byte(strings.Repeat("[", n)+strings.Repeat("]", n)))
		agrees(t, []byte(strings.Repeat(`{"a":`, n)+"1"+strings.Repeat("}", n)))
	}
}

// extentAgrees fails if Extent, on an object or array the v2 decoder
// accepts, ends it anywhere but where Skip does, or refuses it within its
// limit and nesting.
func extentAgrees(t *testing.T, data []byte) {
	t.Helper()
	trimmed := bytes.TrimSpace(data)
	if !jsontext.Value(data).IsValid(v2) || len(trimmed) == 0 || trimmed[0] != '{' && trimmed[0] != '[' {
		return
	}
	skip := Scanner{Data: data}
	_, ok := skip.Skip()
	s := Scanner{Data: data}
	start, end, found := s.Extent(len(data))
	if !ok || !found || end != skip.Pos || start != len(data)-len(bytes.TrimLeft(data, " \t\r\n")) || s.Pos != 0 {
		t.Fatalf("%q: extent [%d:%d] %v (moved to %d), Skip ends at %d %v", data, start, end, found, s.Pos, skip.Pos, ok)
	}
}

// TestExtent: Extent ends an object or array where its brackets do,
// strings with brackets, quotes and backslashes inside included, and
// refuses anything else, anything longer than its limit and anything
// nested deeper than the scanner may go.
func TestExtent(t *testing.T) {
	for _, tc := range []struct {
		data   string
		limit  int
		max    int // the scanner's MaxDepth; 0 the default
		end    int
		within bool
	}{
		{`{"a":1}`, 100, 0, 7, true},
		{` [1,2] ,`, 100, 0, 6, true},
		{`{"a":"}]\"{"}x`, 100, 0, 13, true},
		{`{"a":"\\"}x`, 100, 0, 10, true},
		{`[[[]]]`, 100, 3, 6, true},
		{`[[[]]]`, 100, 2, 0, false},
		{`{"a":[1,2,3]}`, 12, 0, 0, false},
		{`{"a":[1,2,3]}`, 13, 0, 13, true},
		{`"a"`, 100, 0, 0, false},
		{`1`, 100, 0, 0, false},
		{`{"a":1`, 100, 0, 0, false},
		{``, 100, 0, 0, false},
	} {
		s := Scanner{Data: []byte(tc.data), MaxDepth: tc.max}
		_, end, ok := s.Extent(tc.limit)
		if ok != tc.within || ok && end != tc.end || s.Pos != 0 {
			t.Errorf("%q limit %d depth %d: end %d %v (moved to %d), want %d %v", tc.data, tc.limit, tc.max, end, ok, s.Pos, tc.end, tc.within)
		}
	}
	for _, c := range []string{`{}`, `[]`, ` { "a" : [ 1 , "x]" , {"b":"\"}"} ] } `, `{"a":{"b":{"c":[[]]}}}`, `["\u005d"]`} {
		extentAgrees(t, []byte(c))
	}
	// Strings are passed over eight bytes at a time: a quote, an escaped
	// quote or a backslash at each place in a word.
	for n := range 20 {
		x := strings.Repeat("x", n)
		for _, c := range []string{`["` + x + `"]`, `["` + x + `\"]"]`, `["` + x + `\\"]`, `{"` + x + `":"` + x + `\\\"}"}`} {
			extentAgrees(t, []byte(c))
		}
	}
}

// TestStringsAsTheV2DecoderReadsThem: what String gives is what the v2
// decoder reads; in strict mode a string it would change is refused.
func TestStringsAsTheV2DecoderReadsThem(t *testing.T) {
	for _, c := range []struct {
		in     string
		strict bool // accepted in strict mode
	}{
		{`"plain ASCII, long enough to be read eight bytes at a time"`, true},
		{`"caf\u00e9 \"quoted\" back\\slash \/ tab\t nl\n"`, true},
		{`"\ud83d\ude00 and é"`, true},
		{"\"bad \xff byte\"", false},
		{`"lone \ud800 surrogate"`, false},
		{`"reversed \udc00\ud800"`, false},
	} {
		s := Scanner{Data: []byte(c.in)}
		got, ok := s.String(nil)
		if !ok {
			t.Fatalf("%s: refused", c.in)
		}
		var want string
		if err := json.Unmarshal([]byte(c.in), &want, v2); err != nil {
			t.Fatal(err)
		}
		if c.strict && string(got) != want {
			t.Errorf("%s: read %q, the v2 decoder %q", c.in, got, want)
		}
		strict := Scanner{Data: []byte(c.in), Strict: true}
		if _, ok := strict.String(nil); ok != c.strict {
			t.Errorf("%s: strict mode accepts %v, want %v", c.in, ok, c.strict)
		}
	}
}

func TestObjectNames(t *testing.T) {
	data := []byte(`{"a":1, "b\u0063":[2], "a":{"x":3}}`)
	var names []string
	s := Scanner{Data: data}
	ok := s.Object(func(name string) bool {
		names = append(names, name)
		_, ok := s.Skip()
		return ok
	})
	if !ok || strings.Join(names, ",") != "a,bc,a" {
		t.Fatalf("%v %q", ok, names)
	}
	strict := Scanner{Data: data, Strict: true}
	if strict.Object(func(string) bool { _, ok := strict.Skip(); return ok }) {
		t.Fatal("strict mode read an escaped name")
	}
}

// Run with: go test ./jsonscan -run '^$' -fuzz '^FuzzSkip$' -fuzztime 60s
func FuzzSkip(f *testing.F) {
	for _, c := range []string{`{"a":[1,{"b":"c\u00e9"}],"d":null}`, `[true,false,-1.5e3]`, "\"\xff\"", `"\ud800"`} {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		agrees(t, data)
		extentAgrees(t, data)
		if jsontext.Value(data).IsValid(v2) && bytes.HasPrefix(bytes.TrimSpace(data), []byte(`"`)) {
			s := Scanner{Data: data, Strict: true}
			got, ok := s.String(nil)
			var want string
			if ok && json.Unmarshal(data, &want, v2) == nil && string(got) != want {
				t.Fatalf("%q: strict read %q, the v2 decoder %q", data, got, want)
			}
		}
	})
}
