package fhir

import (
	"bytes"
	stdjson "encoding/json"
	"errors"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	json "github.com/go-json-experiment/json"
	r4 "github.com/samply/golang-fhir-models/fhir-models/fhir"
)

// Vendors send resources with elements samply's strict types refuse: a
// telecom rank as the string "1", gender "M", a name use "legal", a
// narrative status with a trailing space. A malformed element the rule
// does not read must not cost the resource (a Patient dropped for its
// telecom is a 412 for the whole call), so such an element is mended or
// dropped, and the resource kept; a malformed element the rule reads
// still skips it, because a guess there could change the decision.

// Repaired is one element mended or dropped so that its resource could be
// kept. Element is the path without array indexes ("telecom/rank");
// Reason says what was wrong with it, never its value.
type Repaired struct {
	Key          string `json:"key"`
	Index        int    `json:"index"`
	ResourceType string `json:"resourceType"`
	ID           string `json:"id,omitempty"`
	Element      string `json:"element"`
	Reason       string `json:"reason"`
	// Mended is true when the value was corrected (gender "M" to "male"),
	// false when the element was dropped.
	Mended bool `json:"mended,omitempty"`
}

// readElements are, per resource type, the top-level elements the rule
// reads (a name ending in "*" is a choice element: effective[x]). A
// malformed one skips the resource.
var readElements = map[string][]string{
	"Patient":          {"id", "resourceType", "birthDate"},
	"Observation":      {"id", "resourceType", "status", "code", "category", "effective*", "issued", "value*", "interpretation", "referenceRange", "component", "hasMember", "basedOn"},
	"DiagnosticReport": {"id", "resourceType", "status", "code", "category", "effective*", "issued", "result", "conclusionCode", "basedOn"},
	"Encounter":        {"id", "resourceType", "status", "type", "serviceType", "period", "participant", "basedOn"},
	"ServiceRequest":   {"id", "resourceType", "status", "category", "code", "performerType", "performer", "authoredOn", "occurrence*", "reasonCode", "reasonReference"},
	"Condition":        {"id", "resourceType", "clinicalStatus", "verificationStatus", "code", "onset*", "abatement*", "recordedDate"},
	"Procedure":        {"id", "resourceType", "status", "code", "category", "performed*", "report", "reasonCode", "reasonReference"},
	"PractitionerRole": {"id", "resourceType", "specialty"},
}

// ruleReads reports whether the rule reads the top-level element of typ.
func ruleReads(typ, element string) bool {
	for _, e := range readElements[typ] {
		if e == element || (strings.HasSuffix(e, "*") && strings.HasPrefix(element, strings.TrimSuffix(e, "*"))) {
			return true
		}
	}
	return false
}

// elements are, per resource type, the JSON names of its elements, read
// from samply's types: a closed set, fit for a metric label.
var elements = func() map[string]map[string]bool {
	out := map[string]map[string]bool{}
	for typ, v := range map[string]any{"Patient": r4.Patient{}, "Observation": r4.Observation{}, "DiagnosticReport": r4.DiagnosticReport{},
		"Encounter": r4.Encounter{}, "ServiceRequest": r4.ServiceRequest{}, "Condition": r4.Condition{}, "Procedure": r4.Procedure{},
		"PractitionerRole": r4.PractitionerRole{}} {
		set := map[string]bool{}
		t := reflect.TypeOf(v)
		for i := range t.NumField() {
			if name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ","); name != "" && name != "-" {
				set[name] = true
			}
		}
		out[typ] = set
	}
	return out
}()

// KnownElement is element when it names an element of typ, else "other".
func KnownElement(typ, element string) string {
	if elements[typ][element] {
		return element
	}
	return "other"
}

// mendedCodes correct the codes vendors send for an R4 code: HL7 v2's
// single letters for administrative gender.
var mendedCodes = map[string]map[string]string{
	"/gender": {"M": "male", "F": "female", "U": "unknown", "O": "other", "UN": "unknown"},
}

// maxMends bounds the elements mended in one resource, and perElement
// those within one top-level element before the whole element is dropped:
// a telecom list of a hundred bad ranks costs four attempts, not a
// hundred.
const (
	maxMends   = 64
	perElement = 4
)

var arrayIndex = regexp.MustCompile(`/\d+`)

// mend decodes raw, a resource of type typ that failed with err, again
// after mending or dropping, one at a time, each malformed element the rule
// does not read. It reports whether the resource was kept; if not, it was
// recorded as skipped with the reason that stopped it.
func (h *History) mend(key string, i int, typ string, raw []byte, err error) {
	k := kindOf[typ]
	var done []Repaired
	tries := map[string]int{}
	for range maxMends {
		ptr := pointerIn(err)
		if ptr == "" {
			h.skip(key, i, typ, idOf(raw), safeReason(typ, err))
			return
		}
		top, _, _ := strings.Cut(strings.TrimPrefix(ptr, "/"), "/")
		if ruleReads(typ, top) {
			h.skip(key, i, typ, idOf(raw), safeReason(typ, err))
			return
		}
		if tries[top]++; tries[top] > perElement {
			ptr = "/" + top
		}
		// Numbers stay as written (a decimal's precision matters to a
		// range check), not float64.
		var doc any
		dec := stdjson.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if dec.Decode(&doc) != nil {
			h.skip(key, i, typ, idOf(raw), safeReason(typ, err))
			return
		}
		mended := mendAt(doc, ptr)
		if !mended && !dropAt(doc, ptr) {
			h.skip(key, i, typ, idOf(raw), safeReason(typ, err))
			return
		}
		done = append(done, Repaired{Key: key, Index: i, ResourceType: typ, ID: idOf(raw),
			Element: strings.TrimPrefix(arrayIndex.ReplaceAllString(ptr, ""), "/"), Reason: safeReason(typ, err), Mended: mended})
		if raw, err = stdjson.Marshal(doc); err != nil {
			h.skip(key, i, typ, idOf(raw), "not a valid R4 "+typ)
			return
		}
		d := k.part.decode(h, func(v any) error { return json.Unmarshal(raw, v, decodeOptions) })
		if d.err == nil {
			if h.keep(key, i, typ, d) {
				h.Repaired = append(h.Repaired, done...)
			}
			return
		}
		d.undo()
		err = d.err
	}
	h.skip(key, i, typ, idOf(raw), "more than "+strconv.Itoa(maxMends)+" malformed elements")
}

// pointerIn is the JSON pointer of a decode error within its resource, ""
// when the error has none.
func pointerIn(err error) string {
	var se *json.SemanticError
	if !errors.As(err, &se) || se.JSONPointer == "" {
		return ""
	}
	return entryPointer.ReplaceAllString(string(se.JSONPointer), "")
}

// walk returns the parent of the value at ptr and the last segment.
func walk(doc any, ptr string) (any, string, bool) {
	segs := strings.Split(strings.TrimPrefix(ptr, "/"), "/")
	cur := doc
	for _, s := range segs[:len(segs)-1] {
		switch c := cur.(type) {
		case map[string]any:
			cur = c[unescape(s)]
		case []any:
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 || n >= len(c) {
				return nil, "", false
			}
			cur = c[n]
		default:
			return nil, "", false
		}
	}
	return cur, unescape(segs[len(segs)-1]), true
}

func unescape(s string) string { return strings.NewReplacer("~1", "/", "~0", "~").Replace(s) }

// mendAt corrects a known miscoding in place.
func mendAt(doc any, ptr string) bool {
	fix, ok := mendedCodes[arrayIndex.ReplaceAllString(ptr, "")]
	if !ok {
		return false
	}
	parent, last, ok := walk(doc, ptr)
	m, isMap := parent.(map[string]any)
	if !ok || !isMap {
		return false
	}
	s, _ := m[last].(string)
	to, ok := fix[strings.ToUpper(strings.TrimSpace(s))]
	if ok {
		m[last] = to
	}
	return ok
}

// dropAt removes the element at ptr: a member of an object, or an item of
// an array.
func dropAt(doc any, ptr string) bool {
	_, ok := remove(doc, strings.Split(strings.TrimPrefix(ptr, "/"), "/"))
	return ok
}

// remove deletes the value at the path segs below v, returning v as it now
// is (an array shrinks, so its holder must take the new slice).
func remove(v any, segs []string) (any, bool) {
	switch c := v.(type) {
	case map[string]any:
		name := unescape(segs[0])
		if _, ok := c[name]; !ok {
			return v, false
		}
		if len(segs) == 1 {
			delete(c, name)
			return c, true
		}
		nv, ok := remove(c[name], segs[1:])
		c[name] = nv
		return c, ok
	case []any:
		n, err := strconv.Atoi(segs[0])
		if err != nil || n < 0 || n >= len(c) {
			return v, false
		}
		if len(segs) == 1 {
			return append(c[:n:n], c[n+1:]...), true
		}
		nv, ok := remove(c[n], segs[1:])
		c[n] = nv
		return c, ok
	}
	return v, false
}
