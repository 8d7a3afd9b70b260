package fhir

import (
	"slices"
	"strings"
	"sync"

	r4 "github.com/samply/golang-fhir-models/fhir-models/fhir"
)

// Kind is one part of a history: a prefetch key, the resource type it
// holds and the query that fetches it. This table is the one list of the
// resource types Balint reads: prefetch templates, decoders, merging,
// indexing and per-type metrics all come from it.
type Kind struct {
	Key          string
	ResourceType string
	// Query is the prefetch template, relative to fhirServer. Searches
	// name the patient by subject=Patient/id rather than patient=id: both
	// are standard R4, and subject is a plain reference match that every
	// server indexes (Medplum's router resolves patient= resource by
	// resource). {{balint.since}} bounds them to the rule's longest window.
	// Empty for a kind that is never searched alone: it arrives included
	// (_include) in another kind's search.
	Query string
	part  part
}

// Kinds lists every part of a history, in a fixed order.
var Kinds = []Kind{
	{"patient", "Patient", "Patient/{{context.patientId}}", patientPart{}},
	{"observations", "Observation", "Observation?subject=Patient/{{context.patientId}}&date=ge{{balint.since}}",
		list[r4.Observation, plainObservation]{
			field: func(h *History) *[]r4.Observation { return &h.Observations },
			plain: func(r *r4.Observation) *plainObservation { return (*plainObservation)(r) },
			id:    func(r *r4.Observation) *string { return r.Id },
			state: func(r *r4.Observation) string { return code(r.Status) },
			init:  r4.Observation{Status: noStatus}}},
	{"reports", "DiagnosticReport", "DiagnosticReport?subject=Patient/{{context.patientId}}&date=ge{{balint.since}}",
		list[r4.DiagnosticReport, plainDiagnosticReport]{
			field: func(h *History) *[]r4.DiagnosticReport { return &h.DiagnosticReports },
			plain: func(r *r4.DiagnosticReport) *plainDiagnosticReport { return (*plainDiagnosticReport)(r) },
			id:    func(r *r4.DiagnosticReport) *string { return r.Id },
			state: func(r *r4.DiagnosticReport) string { return code(r.Status) },
			init:  r4.DiagnosticReport{Status: noStatus}}},
	{"encounters", "Encounter", "Encounter?subject=Patient/{{context.patientId}}&date=ge{{balint.since}}&_include=Encounter:participant",
		list[r4.Encounter, plainEncounter]{
			field: func(h *History) *[]r4.Encounter { return &h.Encounters },
			plain: func(r *r4.Encounter) *plainEncounter { return (*plainEncounter)(r) },
			id:    func(r *r4.Encounter) *string { return r.Id },
			state: func(r *r4.Encounter) string { return code(r.Status) },
			init:  r4.Encounter{Status: noStatus}}},
	{"requests", "ServiceRequest", "ServiceRequest?subject=Patient/{{context.patientId}}&authored=ge{{balint.since}}&_include=ServiceRequest:performer",
		list[r4.ServiceRequest, plainServiceRequest]{
			field: func(h *History) *[]r4.ServiceRequest { return &h.ServiceRequests },
			plain: func(r *r4.ServiceRequest) *plainServiceRequest { return (*plainServiceRequest)(r) },
			id:    func(r *r4.ServiceRequest) *string { return r.Id },
			state: func(r *r4.ServiceRequest) string { return code(r.Status) },
			init:  r4.ServiceRequest{Status: noStatus}}},
	{"conditions", "Condition", "Condition?subject=Patient/{{context.patientId}}",
		list[r4.Condition, plainCondition]{
			field: func(h *History) *[]r4.Condition { return &h.Conditions },
			plain: func(r *r4.Condition) *plainCondition { return (*plainCondition)(r) },
			id:    func(r *r4.Condition) *string { return r.Id },
			state: func(r *r4.Condition) string {
				// Condition has no 1..1 status; verificationStatus says
				// whether it was entered in error.
				if isEnteredInError(r.VerificationStatus) {
					return "entered-in-error"
				}
				return "-"
			}}},
	{"procedures", "Procedure", "Procedure?subject=Patient/{{context.patientId}}&date=ge{{balint.since}}",
		list[r4.Procedure, plainProcedure]{
			field: func(h *History) *[]r4.Procedure { return &h.Procedures },
			plain: func(r *r4.Procedure) *plainProcedure { return (*plainProcedure)(r) },
			id:    func(r *r4.Procedure) *string { return r.Id },
			state: func(r *r4.Procedure) string { return code(r.Status) },
			init:  r4.Procedure{Status: noStatus}}},
	{"practitionerRoles", "PractitionerRole", "",
		list[r4.PractitionerRole, plainPractitionerRole]{
			field: func(h *History) *[]r4.PractitionerRole { return &h.PractitionerRoles },
			plain: func(r *r4.PractitionerRole) *plainPractitionerRole { return (*plainPractitionerRole)(r) },
			id:    func(r *r4.PractitionerRole) *string { return r.Id },
			state: func(*r4.PractitionerRole) string { return "-" }}},
}

// kindOf and kindByKey find a kind by resource type and by key.
var kindOf, kindByKey = func() (map[string]*Kind, map[string]*Kind) {
	byType, byKey := map[string]*Kind{}, map[string]*Kind{}
	for i := range Kinds {
		byType[Kinds[i].ResourceType] = &Kinds[i]
		byKey[Kinds[i].Key] = &Kinds[i]
	}
	return byType, byKey
}()

// KnownType is typ when Balint reads that resource type, else "other":
// a closed set, fit for a metric label.
func KnownType(typ string) string {
	if Reads(typ) {
		return typ
	}
	return "other"
}

// Reads says whether Balint reads resources of this type.
func Reads(typ string) bool {
	_, ok := kindOf[typ]
	return ok
}

// typeOfKey is the resource type a part of the history holds, "" for a key
// Balint does not know.
func typeOfKey(key string) string {
	if k := kindByKey[key]; k != nil {
		return k.ResourceType
	}
	return ""
}

// Templates are the prefetch templates of every kind, by key.
func Templates() map[string]string {
	m := make(map[string]string, len(Kinds))
	for _, k := range Kinds {
		if k.Query != "" {
			m[k.Key] = k.Query
		}
	}
	return m
}

// Count is how many resources of this kind h holds.
func (k Kind) Count(h *History) int { return k.part.count(h) }

// part is how a History holds one kind.
type part interface {
	count(h *History) int
	grow(h *History, n int)
	merge(h, o *History, typ string)
	decode(h *History, unmarshal func(any) error) decoded
	index(h *History, add func(id *string, r any))
	// compileFast compiles the fast decoder's plan for the kind (fast.go).
	compileFast()
}

// list is a kind held as a slice of samply structs. P is the same struct
// without its methods, which the decoder embeds.
type list[T, P any] struct {
	field func(*History) *[]T
	plain func(*T) *P
	id    func(*T) *string
	// state is the resource's status code ("" when missing, "-" for a
	// type without a required status).
	state func(*T) string
	init  T
}

func (l list[T, P]) count(h *History) int { return len(*l.field(h)) }

func (list[T, P]) compileFast() { registerFast[P]() }

func (l list[T, P]) grow(h *History, n int) { f := l.field(h); *f = slices.Grow(*f, n) }

func (l list[T, P]) merge(h, o *History, typ string) {
	dst, src := l.field(h), *l.field(o)
	if len(*dst) == 0 {
		*dst = src
		return
	}
	for i := range src {
		if p := l.id(&src[i]); p != nil && h.seen.has(resourceKey{typ, *p}) {
			continue
		}
		*dst = append(*dst, src[i])
	}
}

func (l list[T, P]) decode(h *History, unmarshal func(any) error) decoded {
	r, typ, undo, err := decodeInto(unmarshal, l.field(h), l.init, l.plain)
	return decoded{typ, l.id(r), l.state(r), undo, err}
}

func (l list[T, P]) index(h *History, add func(*string, any)) {
	s := *l.field(h)
	for i := range s {
		add(l.id(&s[i]), &s[i])
	}
}

// patientPart is the one Patient of a history.
type patientPart struct{}

func (patientPart) count(h *History) int {
	if h.Patient != nil {
		return 1
	}
	return 0
}

func (patientPart) grow(*History, int) {}

func (patientPart) compileFast() { registerFast[plainPatient]() }

func (patientPart) merge(h, o *History, _ string) {
	if h.Patient == nil {
		h.Patient = o.Patient
	}
}

func (patientPart) decode(h *History, unmarshal func(any) error) decoded {
	r := new(r4.Patient)
	w := typed[plainPatient]{R: (*plainPatient)(r)}
	err := unmarshal(&w)
	old := h.Patient
	h.Patient = r
	return decoded{w.ResourceType, r.Id, "-", func() { h.Patient = old }, err}
}

func (patientPart) index(h *History, add func(*string, any)) {
	if h.Patient != nil {
		add(h.Patient.Id, h.Patient)
	}
}

// Index finds a history's resources by literal reference ("Observation/1").
// It is safe for concurrent use: the rule reads large histories on every
// core.
type Index struct {
	// byRef is keyed by type and id, the two halves of "Type/id", so that
	// indexing a history builds no string per resource.
	byRef map[resourceKey]any
	uuids *uuidIndex
}

// uuidIndex is what a transaction bundle's "urn:uuid:<id>" references need:
// learned once, on the first such reference, so records that never use
// them never pay.
type uuidIndex struct {
	once sync.Once
	// byID holds the resources of each id; ids are unique across types
	// in the records seen, but nothing in FHIR makes them so.
	byID      map[string][]any
	canonical map[string]string // "<id>" to "Type/id"
}

// NewIndex indexes every resource of h by "Type/id".
func NewIndex(h *History) Index {
	ix := Index{byRef: make(map[resourceKey]any, h.Len()), uuids: &uuidIndex{}}
	for _, k := range Kinds {
		k.part.index(h, func(id *string, r any) { ix.byRef[resourceKey{k.ResourceType, String(id)}] = r })
	}
	return ix
}

// keyOf is the key of a literal "Type/id" (false for any other reference).
// FHIR's types have no "/" in their names, so the first one divides them.
func keyOf(ref string) (resourceKey, bool) {
	typ, id, ok := strings.Cut(ref, "/")
	return resourceKey{typ, id}, ok
}

// get is the resource a literal "Type/id" names.
func (ix Index) get(ref string) (any, bool) {
	k, ok := keyOf(ref)
	if !ok {
		return nil, false
	}
	r, ok := ix.byRef[k]
	return r, ok
}

// Lookup returns the resource of type T that ref names, or nil. An
// absolute reference ("https://ehr/fhir/Observation/1/_history/2") finds
// the resource by its type and id; a transaction bundle's "urn:uuid:<id>"
// (Synthea's, among others) by its id.
func Lookup[T any](ix Index, ref string) *T {
	r, ok := ix.get(ref)
	if !ok {
		if id, ok := strings.CutPrefix(ref, "urn:uuid:"); ok {
			for _, c := range ix.aliases().byID[id] {
				if t, ok := c.(*T); ok {
					return t
				}
			}
		} else {
			r, _ = ix.get(LocalRef(ref))
		}
	}
	t, _ := r.(*T)
	return t
}

// aliases learns, once, the resources of each id and the "Type/id" each
// id stands for. An id two types share stands for the first of them by
// name, so that the reading never depends on the map's order.
func (ix Index) aliases() *uuidIndex {
	u := ix.uuids
	u.once.Do(func() {
		u.byID = make(map[string][]any, len(ix.byRef))
		u.canonical = make(map[string]string, len(ix.byRef))
		for k, r := range ix.byRef {
			if k.id != "" {
				u.byID[k.id] = append(u.byID[k.id], r)
				if ref := k.typ + "/" + k.id; u.canonical[k.id] == "" || ref < u.canonical[k.id] {
					u.canonical[k.id] = ref
				}
			}
		}
	})
	return u
}

// Canonical is the "Type/id" of the resource ref names: relative,
// absolute, versioned and a bundle's "urn:uuid:" references to one
// resource all give the same key, so that comparing references compares
// resources. A uuid that names nothing in the history stays as it is.
func (ix Index) Canonical(ref string) string {
	id, isUUID := strings.CutPrefix(ref, "urn:uuid:")
	if !isUUID {
		return LocalRef(ref)
	}
	if c, ok := ix.aliases().canonical[id]; ok {
		return c
	}
	return ref
}

// LocalRef is an absolute or versioned reference as "Type/id".
func LocalRef(ref string) string {
	ref, _, _ = strings.Cut(ref, "/_history/")
	trimmed := strings.TrimSuffix(ref, "/")
	last := strings.LastIndexByte(trimmed, '/')
	if last < 0 {
		return ref
	}
	// The last two segments, as a slice of ref: the rule keys every
	// reference it compares, and building the key would allocate.
	return trimmed[strings.LastIndexByte(trimmed[:last], '/')+1:]
}

func init() {
	for _, k := range Kinds {
		k.part.compileFast()
	}
}
