package fhir

import (
	"bytes"
	"cmp"
	stdjson "encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"

	json "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/samply/golang-fhir-models/fhir-models/fhir"

	"github.com/balint-health/balint/jsonscan"
)

// Page is what a bundle says beyond its entries: the next page, if any.
type Page struct {
	Next    string
	Entries int
}

// decodeOptions are the JSON options for FHIR content. The v2 decoder
// (go-json-experiment, the mirror of Go 1.27's encoding/json/v2) reads a
// Bundle in one streaming pass and decodes each entry straight into samply's
// types, at about twice the speed of encoding/json (docs/performance.md).
// Member names match case-sensitively, as FHIR JSON requires. As with
// encoding/json, a name given twice takes its last value (checking would
// cost a set per object, and one bad entry could then break the stream of
// the whole Bundle) and invalid UTF-8 is replaced.
var decodeOptions = json.JoinOptions(
	jsontext.AllowInvalidUTF8(true),
	jsontext.AllowDuplicateNames(true),
	// samply holds decimals as encoding/json's Number, which v2 sees as a
	// plain string: keep the literal exactly as sent (a decimal's precision
	// matters to the range check).
	json.WithUnmarshalers(json.UnmarshalFromFunc(func(dec *jsontext.Decoder, n *stdjson.Number) error {
		if k := dec.PeekKind(); k != '0' {
			if err := dec.SkipValue(); err != nil {
				return err
			}
			return fmt.Errorf("JSON %s where a number expected", k)
		}
		v, err := dec.ReadValue()
		if err != nil {
			return err
		}
		*n = stdjson.Number(v)
		return nil
	})),
)

// AddJSON decodes one prefetch value or search page into the history: a
// searchset/collection Bundle entry by entry, or a bare resource. A bad
// entry is reported in h.Skipped and the rest kept; only a body that is not
// a JSON object at all is an error, and then h may hold part of it and is
// to be dropped.
func (h *History) AddJSON(key string, origin Origin, data []byte) (Page, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || bytes.Equal(data, []byte("null")) {
		return Page{}, nil
	}
	typ, err := resourceType(data)
	if err != nil {
		return Page{}, fmt.Errorf("%s: not a FHIR resource or Bundle: %w", key, plainError(err))
	}
	if typ == "" {
		return Page{}, fmt.Errorf("%s: not a FHIR resource (no resourceType)", key)
	}
	if typ != "Bundle" {
		if !jsontext.Value(data).IsValid(decodeOptions) {
			return Page{}, fmt.Errorf("%s: not a FHIR resource: malformed JSON", key)
		}
		h.Sources[key] = origin
		h.addResource(key, 0, data, "")
		return Page{Entries: 1}, nil
	}
	pg, err := h.addBundle(key, data)
	if err != nil {
		return Page{}, fmt.Errorf("%s: not a FHIR Bundle: %w", key, plainError(err))
	}
	h.Sources[key] = origin
	return pg, nil
}

// IsOperationOutcome reports whether data is a bare OperationOutcome: a
// CDS client's way of saying its prefetch query failed (CDS Hooks 2.0),
// which is not "no data".
func IsOperationOutcome(data []byte) bool {
	typ, err := resourceType(bytes.TrimSpace(data))
	return err == nil && typ == "OperationOutcome"
}

// addBundle reads one Bundle: its links and its entries, each entry's
// resource decoded as soon as it is read, by the fast decoder (fast.go)
// where it can and by the v2 decoder where it cannot. Nothing is copied
// in between. A Bundle it cannot read is an error, and then the one that
// addBundleStrict gives, so that its message is the same whichever read it.
func (h *History) addBundle(key string, data []byte) (Page, error) {
	d := fastDec{Scanner: jsonscan.Scanner{Data: data}}
	defer d.release()
	pg, ok := h.walkBundle(key, &d, len(data))
	if !ok || d.SkipSpace() != len(data) {
		_, err := NewHistory().addBundleStrict(key, data)
		if err == nil {
			// The two readings disagree: the Bundle is not to be trusted.
			err = errors.New("unreadable Bundle")
		}
		return Page{}, err
	}
	return pg, nil
}

// ReadBundleAt reads the Bundle that begins at data[at], nested depth
// deep, exactly as AddJSON reads those bytes alone, and says where it
// ends: a prefetched Bundle can then be read before the hook call around
// it has been checked (client.ReadAhead). On true the bytes read are
// valid JSON that nests no deeper than jsonscan.MaxDepth from data's top.
// It reads only a compact Bundle (resourceType first); on false, h is to
// be dropped and the Bundle read by AddJSON, whose error is the one to
// report.
func (h *History) ReadBundleAt(key string, origin Origin, data []byte, at, depth int) (end int, pg Page, ok bool) {
	if firstType(data[at:]) != "Bundle" {
		return 0, Page{}, false
	}
	d := fastDec{Scanner: jsonscan.Scanner{Data: data, Pos: at, MaxDepth: jsonscan.MaxDepth - depth}}
	defer d.release()
	// The reservation is bounded by the Bundle's bytes, which are not
	// known before its end: by what is left of data, as AddJSON by all of
	// its bytes.
	if pg, ok = h.walkBundle(key, &d, len(data)-at); !ok {
		return 0, Page{}, false
	}
	h.Sources[key] = origin
	return d.Pos, pg, true
}

// walkBundle reads one Bundle object with d, from where d is; size bounds
// how many entries are reserved for.
func (h *History) walkBundle(key string, d *fastDec, size int) (Page, bool) {
	var pg Page
	data := d.Data
	want := typeOfKey(key)
	entries := false
	ok := d.Object(func(name string) bool {
		switch name {
		case "link":
			start, ok := d.Skip()
			if !ok {
				return false
			}
			next, ok := nextLink(data[start:d.Pos])
			if next != "" {
				pg.Next = next
			}
			return ok
		case "total":
			start, ok := d.Skip()
			if total, err := strconv.Atoi(string(data[start:d.Pos])); err == nil && ok && !entries {
				h.reserve(want, min(total, size/64))
			}
			return ok
		case "entry":
			entries = true
			return h.readEntries(key, d, want, &pg)
		default:
			_, ok := d.Skip()
			return ok
		}
	})
	return pg, ok
}

// nextLink is the next page a Bundle's link array names.
func nextLink(raw []byte) (string, bool) {
	var links []struct {
		Relation string `json:"relation"`
		URL      string `json:"url"`
	}
	if err := json.Unmarshal(raw, &links, decodeOptions); err != nil {
		return "", false
	}
	next := ""
	for _, l := range links {
		if l.Relation == "next" {
			next = l.URL
		}
	}
	return next, true
}

// readEntries reads a Bundle's entry array with d, as addEntries does with
// the v2 decoder; false when the Bundle cannot be read.
func (h *History) readEntries(key string, d *fastDec, want string, pg *Page) bool {
	if d.Peek() != '[' {
		return false
	}
	i := 0
	return d.Array(func() bool {
		defer func() { i++ }()
		if d.Peek() != '{' {
			if _, ok := d.Skip(); !ok {
				return false
			}
			h.skip(key, i, "", "", "entry has no FHIR resource")
			pg.Entries++
			return true
		}
		found := false
		ok := d.Object(func(name string) bool {
			if name != "resource" {
				_, ok := d.Skip()
				return ok
			}
			found = true
			counted, ok := h.readResource(key, i, d, want)
			if counted {
				pg.Entries++
			}
			return ok
		})
		if ok && !found {
			h.skip(key, i, "", "", "entry has no FHIR resource")
			pg.Entries++
		}
		return ok
	})
}

// readResource decodes the resource d is at, as addStreamed does: by the
// fast decoder, and, where it gives up, again by the v2 decoder from the
// resource's own bytes.
func (h *History) readResource(key string, i int, d *fastDec, want string) (counted, ok bool) {
	start := d.SkipSpace()
	typ := firstType(d.Data[start:])
	// A resource written with spaces is read whole by addStreamed, not
	// streamed: where the fast decoder gives up on one, so does this.
	compact := typ != ""
	if !compact {
		typ = d.leadingType()
	}
	k, known := kindOf[typ]
	if !known {
		if _, ok := d.Skip(); !ok {
			return false, false
		}
		return h.addResource(key, i, d.Data[start:d.Pos], want), true
	}
	mark := d.Mark()
	got := k.part.decode(h, d.value)
	if got.err == nil {
		h.keep(key, i, typ, got)
		return true, true
	}
	got.undo()
	d.Reset(mark)
	if _, ok := d.Skip(); !ok {
		return false, false
	}
	raw := d.Data[start:d.Pos]
	if !compact {
		return h.addResource(key, i, raw, want), true
	}
	dec := jsontext.NewDecoder(bytes.NewBuffer(raw), decodeOptions)
	if err := h.decodeStreamed(key, i, dec, k, typ, raw); err != nil {
		return false, false
	}
	return true, true
}

// addBundleStrict streams one Bundle with the v2 decoder alone. It is the
// reading addBundle must agree with (FuzzFastDecode), and gives the error
// for a Bundle that cannot be read.
func (h *History) addBundleStrict(key string, data []byte) (Page, error) {
	var pg Page
	want := typeOfKey(key)
	entries := false
	dec := jsontext.NewDecoder(bytes.NewBuffer(data), decodeOptions)
	if _, err := dec.ReadToken(); err != nil { // '{', checked by resourceType
		return pg, err
	}
	for dec.PeekKind() != '}' {
		name, err := dec.ReadToken()
		if err != nil {
			return pg, err
		}
		switch name.String() {
		case "link":
			raw, err := dec.ReadValue()
			next, ok := nextLink(raw)
			if err != nil || !ok {
				return pg, errors.New("link: must be an array of links")
			}
			if next != "" {
				pg.Next = next
			}
		case "total":
			v, err := dec.ReadValue()
			if err != nil {
				return pg, err
			}
			if total, err := strconv.Atoi(string(v)); err == nil && !entries {
				// Room for the whole part at once instead of growing a list
				// of large structs step by step; a total larger than the
				// bytes could hold is not believed.
				h.reserve(want, min(total, len(data)/64))
			}
		case "entry":
			entries = true
			if err := h.addEntries(key, dec, want, &pg, data); err != nil {
				return pg, err
			}
		default:
			if err := dec.SkipValue(); err != nil {
				return pg, err
			}
		}
	}
	if _, err := dec.ReadToken(); err != nil {
		return pg, err
	}
	// Anything but space after the Bundle, valid JSON or not, is a page
	// that is not what it claims to be.
	if _, err := dec.ReadToken(); err != io.EOF {
		return pg, errors.New("trailing data after the Bundle")
	}
	return pg, nil
}

func (h *History) addEntries(key string, dec *jsontext.Decoder, want string, pg *Page, data []byte) error {
	if k := dec.PeekKind(); k != '[' {
		return fmt.Errorf("entry: JSON %s where an array expected", k)
	}
	if _, err := dec.ReadToken(); err != nil {
		return err
	}
	for i := 0; dec.PeekKind() != ']'; i++ {
		if k := dec.PeekKind(); k != '{' {
			if k == 0 {
				_, err := dec.ReadToken()
				return err
			}
			if err := dec.SkipValue(); err != nil {
				return err
			}
			h.skip(key, i, "", "", "entry has no FHIR resource")
			pg.Entries++
			continue
		}
		dec.ReadToken()
		found := false
		for dec.PeekKind() != '}' {
			name, err := dec.ReadToken()
			if err != nil {
				return err
			}
			if name.String() != "resource" {
				if err := dec.SkipValue(); err != nil {
					return err
				}
				continue
			}
			found = true
			counted, err := h.addStreamed(key, i, dec, want, data)
			if err != nil {
				return err
			}
			if counted {
				pg.Entries++
			}
		}
		if _, err := dec.ReadToken(); err != nil {
			return err
		}
		if !found {
			h.skip(key, i, "", "", "entry has no FHIR resource")
			pg.Entries++
		}
	}
	_, err := dec.ReadToken()
	return err
}

// addStreamed decodes the resource the decoder is at. One that names its
// type first, as servers write them, is decoded straight from the stream in
// a single pass; any other is read whole first and handled by addResource.
// Only a syntax error, which leaves the stream unreadable, is returned.
// data is what dec reads, for mending a resource that failed.
func (h *History) addStreamed(key string, i int, dec *jsontext.Decoder, want string, data []byte) (bool, error) {
	typ := firstType(bytes.TrimLeft(dec.UnreadBuffer(), " \t\r\n:"))
	k, ok := kindOf[typ]
	if !ok {
		// The value aliases the decoder's buffer until its next read,
		// which comes after addResource has copied what it keeps.
		raw, err := dec.ReadValue()
		if err != nil {
			return false, err
		}
		return h.addResource(key, i, raw, want), nil
	}
	return true, h.decodeStreamed(key, i, dec, k, typ, data)
}

// decodeStreamed decodes a resource of kind k from dec, which reads data.
// Only a syntax error, which leaves the stream unreadable, is returned.
func (h *History) decodeStreamed(key string, i int, dec *jsontext.Decoder, k *Kind, typ string, data []byte) error {
	// One variable the closure shares, not three: each shared variable is
	// an allocation per resource.
	var failed struct {
		fatal      error
		start, end int64
	}
	d := k.part.decode(h, func(v any) error {
		depth, off := dec.StackDepth(), dec.InputOffset()
		err := json.UnmarshalDecode(dec, v, decodeOptions)
		if err != nil {
			failed.fatal = resync(dec, depth, off)
			failed.start, failed.end = off, dec.InputOffset()
		}
		return err
	})
	if failed.fatal != nil {
		d.undo()
		return failed.fatal
	}
	if d.err == nil && d.typ != typ {
		d.err = errors.New("resourceType given twice")
	}
	var raw []byte
	if start, end := failed.start, failed.end; d.err != nil && start >= 0 && end <= int64(len(data)) && start < end {
		raw = bytes.Trim(data[start:end], " \t\r\n:,")
	}
	h.keepOrMend(key, i, typ, d, raw)
	return nil
}

// keepOrMend keeps a decoded resource, or, when it failed on one element,
// mends it from its JSON raw (repair.go).
func (h *History) keepOrMend(key string, i int, typ string, d decoded, raw []byte) {
	if d.err != nil && raw != nil && pointerIn(d.err) != "" {
		d.undo()
		h.mend(key, i, typ, raw, d.err)
		return
	}
	h.keep(key, i, typ, d)
}

// resync moves the decoder past the value a failed unmarshal started on,
// back to the depth it began at, so the next entry can be read.
func resync(dec *jsontext.Decoder, depth int, off int64) error {
	if dec.StackDepth() == depth && dec.InputOffset() == off {
		return dec.SkipValue() // nothing of it was read
	}
	for dec.StackDepth() > depth {
		switch dec.PeekKind() {
		case '}', ']':
			if _, err := dec.ReadToken(); err != nil {
				return err
			}
		case 0:
			_, err := dec.ReadToken()
			return cmp.Or(err, io.ErrUnexpectedEOF)
		default:
			if err := dec.SkipValue(); err != nil {
				return err
			}
		}
	}
	return nil
}

func (h *History) reserve(typ string, n int) {
	if k := kindOf[typ]; k != nil && n > 0 {
		k.part.grow(h, n)
		if len(h.seen) == 1 && len(h.seen[0]) == 0 {
			h.seen[0] = make(map[resourceKey]bool, n)
		}
	}
}

// firstType is the resourceType of a compact JSON object that names it
// first, as FHIR servers write it; "" otherwise.
func firstType(data []byte) string {
	const prefix = `{"resourceType":"`
	if bytes.HasPrefix(data, []byte(prefix)) {
		rest := data[len(prefix):]
		if end := bytes.IndexByte(rest, '"'); end > 0 && bytes.IndexByte(rest[:end], '\\') < 0 {
			if k, ok := kindOf[string(rest[:end])]; ok {
				return k.ResourceType // no allocation for the types read
			}
			return string(rest[:end])
		}
	}
	return ""
}

// resourceType reads the resourceType of a JSON object wherever it is, at
// the cost of a scan of the top level.
func resourceType(data []byte) (string, error) {
	if t := firstType(data); t != "" {
		return t, nil
	}
	dec := jsontext.NewDecoder(bytes.NewBuffer(data), decodeOptions)
	if k := dec.PeekKind(); k != '{' {
		if k == 0 {
			_, err := dec.ReadToken()
			return "", err
		}
		return "", fmt.Errorf("JSON %s where an object expected", k)
	}
	dec.ReadToken()
	for dec.PeekKind() != '}' {
		name, err := dec.ReadToken()
		if err != nil {
			return "", err
		}
		if name.String() == "resourceType" {
			v, err := dec.ReadToken()
			if err != nil || v.Kind() != '"' {
				return "", errors.New("resourceType: must be a string")
			}
			return v.String(), nil
		}
		if err := dec.SkipValue(); err != nil {
			return "", err
		}
	}
	return "", nil
}

func (h *History) skip(key string, i int, typ, id, reason string) {
	h.Skipped = append(h.Skipped, Skipped{Key: key, Index: i, ResourceType: typ, ID: id, Reason: reason})
}

// noStatus marks a status the JSON did not set: samply's enums start at 0,
// which is a real code (e.g. "registered"), so a missing 1..1 status would
// otherwise change meaning silently.
const noStatus = -1

// decoded is what addResource needs of one decoded resource.
type decoded struct {
	typ    string  // the resourceType the JSON named, "" if none was read
	id     *string //
	status string  // its FHIR code; "" when missing, "-" for types without one
	undo   func()  // takes the resource back off the history
	err    error
}

// typed reads a resource and its resourceType (which samply's structs
// lack) in one pass. P is a samply type without its methods: the decoder
// embeds only plain structs.
type typed[P any] struct {
	ResourceType string `json:"resourceType"`
	R            *P     `json:",embed"`
}

type (
	plainPatient          fhir.Patient
	plainObservation      fhir.Observation
	plainDiagnosticReport fhir.DiagnosticReport
	plainEncounter        fhir.Encounter
	plainServiceRequest   fhir.ServiceRequest
	plainProcedure        fhir.Procedure
	plainCondition        fhir.Condition
	plainPractitionerRole fhir.PractitionerRole
)

// decodeInto decodes raw into a new last element of list, and returns it
// with the resourceType read and the way to take it back off.
func decodeInto[T, P any](unmarshal func(any) error, list *[]T, init T, plain func(*T) *P) (*T, string, func(), error) {
	if len(*list) == cap(*list) {
		// Double: append grows large slices by a quarter, copying these
		// large structs over and over.
		*list = slices.Grow(*list, max(len(*list), 16))
	}
	*list = append(*list, init)
	n := len(*list)
	r := &(*list)[n-1]
	w := typed[P]{R: plain(r)}
	err := unmarshal(&w)
	return r, w.ResourceType, func() {
		var zero T
		(*list)[n-1] = zero // let go of what it points to
		*list = (*list)[:n-1]
	}, err
}

// addResource decodes one resource into the history and reports whether it
// counts as an entry (an OperationOutcome of a search does not). want is
// the type the part holds (from its key), tried first: the resource is then
// read in a single pass, and only one of another type costs a second.
func (h *History) addResource(key string, i int, raw []byte, want string) bool {
	typ := firstType(raw)
	if typ == "" {
		typ = want
	}
	if typ == "" {
		var err error
		if typ, err = resourceType(raw); err != nil || typ == "" {
			h.skip(key, i, "", "", "entry has no FHIR resource")
			return true
		}
	}
	for range 2 {
		if typ == "OperationOutcome" {
			// A search's warnings, not part of the history.
			return false
		}
		k, ok := kindOf[typ]
		if !ok {
			h.skip(key, i, typ, idOf(raw), ReasonUnusedType)
			return true
		}
		d := k.part.decode(h, func(v any) error { return json.Unmarshal(raw, v, decodeOptions) })
		if d.typ != typ {
			// Perhaps not the type guessed; find out which it is.
			actual := d.typ
			if d.err != nil || actual == "" {
				actual, _ = resourceType(raw)
			}
			if actual != typ {
				d.undo()
				if actual == "" {
					h.skip(key, i, "", "", "entry has no FHIR resource")
					return true
				}
				typ = actual
				continue
			}
		}
		h.keepOrMend(key, i, typ, d, raw)
		return true
	}
	return true
}

// keep keeps a decoded resource or takes it back off, recording why, and
// reports whether it was kept.
func (h *History) keep(key string, i int, typ string, d decoded) bool {
	var id string
	if d.id != nil {
		id = *d.id
	}
	ref := resourceKey{typ, id}
	switch {
	case d.err != nil:
		h.skip(key, i, typ, id, safeReason(typ, d.err))
	case d.status == "":
		h.skip(key, i, typ, id, "status missing")
	case d.status == "entered-in-error":
		h.EnteredInError++
	case id != "" && h.seen.has(ref):
		// The same resource twice (pages overlapping, or prefetch and
		// server both): kept once.
	default:
		if id != "" {
			h.seen.add(ref)
		}
		return true
	}
	d.undo()
	return false
}

// code is a samply status as its FHIR code, "" when it was not set.
func code[T interface {
	~int
	Code() string
}](v T) string {
	if v == noStatus {
		return ""
	}
	return v.Code()
}

// idOf reads only the id of a resource whose type Balint does not decode.
func idOf(raw []byte) string {
	var p struct {
		ID string `json:"id"`
	}
	json.Unmarshal(raw, &p, decodeOptions)
	return p.ID
}

// entryPointer is where a resource sits in a streamed Bundle; reasons
// name fields from the resource down.
var entryPointer = regexp.MustCompile(`^/entry/\d+/resource`)

var unknownCode = regexp.MustCompile(`^unknown (\w+) code`)

// safeReason describes a decode error by field, type and code system only:
// decoder messages may quote the offending value, which is patient data.
func safeReason(typ string, err error) string {
	var se *json.SemanticError
	if errors.As(err, &se) {
		at := typ + entryPointer.ReplaceAllString(string(se.JSONPointer), "")
		if se.Err != nil {
			if m := unknownCode.FindStringSubmatch(se.Err.Error()); m != nil {
				return at + ": unknown " + m[1] + " code"
			}
			if strings.HasPrefix(se.Err.Error(), "JSON ") && strings.HasSuffix(se.Err.Error(), " expected") {
				return at + ": " + se.Err.Error()
			}
		}
		if se.GoType != nil && se.JSONKind != 0 {
			return fmt.Sprintf("%s: JSON %s where %s expected", at, se.JSONKind, goKind(se.GoType.Kind().String()))
		}
		return "not a valid R4 " + typ + " at " + at
	}
	var syn *jsontext.SyntacticError
	if errors.As(err, &syn) {
		return "malformed JSON"
	}
	return "not a valid R4 " + typ
}

// plainError keeps a syntax error's position and drops its text, which may
// quote the input.
func plainError(err error) error {
	var syn *jsontext.SyntacticError
	if errors.As(err, &syn) {
		return fmt.Errorf("malformed JSON at byte %d", syn.ByteOffset)
	}
	var se *json.SemanticError
	if errors.As(err, &se) {
		return fmt.Errorf("unexpected JSON at %s", se.JSONPointer)
	}
	return err
}

func goKind(k string) string {
	switch k {
	case "struct", "map":
		return "an object"
	case "slice", "array":
		return "an array"
	case "int", "int64", "float64", "uint", "uint64":
		return "a number"
	case "bool":
		return "a boolean"
	default:
		return "a " + k
	}
}

func isEnteredInError(cc *fhir.CodeableConcept) bool {
	if cc == nil {
		return false
	}
	for _, c := range cc.Coding {
		if c.Code != nil && *c.Code == "entered-in-error" {
			return true
		}
	}
	return false
}
