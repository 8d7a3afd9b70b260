package fhir

import (
	"fmt"
	"maps"

	"github.com/samply/golang-fhir-models/fhir-models/fhir"

	"github.com/balint-health/balint/errs"
)

// Origin says where a part of a history came from.
type Origin string

const (
	FromPrefetch Origin = "prefetch"
	FromServer   Origin = "server"
	FromDemo     Origin = "demo"
	// FromExport is a FHIR Bulk Data export (balint scan).
	FromExport Origin = "export"
)

// ReasonUnusedType is why an entry of a resource type the rule does not
// read was left out: not a doubt about the record, unlike every other
// reason.
const ReasonUnusedType = "resource type not used by the rule"

// Skipped is one entry left out of a history, and why. Reason carries the
// decoder's message (field and code names, never resource content).
type Skipped struct {
	Key          string `json:"key"`
	Index        int    `json:"index"`
	ResourceType string `json:"resourceType"`
	ID           string `json:"id,omitempty"`
	Reason       string `json:"reason"`
}

// History is one patient's record as far as the rule needs it. It is
// read, never written to, once decoded: its resources share the strings
// and values their pointers point to where they are the same.
type History struct {
	Patient           *fhir.Patient
	Observations      []fhir.Observation
	DiagnosticReports []fhir.DiagnosticReport
	Encounters        []fhir.Encounter
	ServiceRequests   []fhir.ServiceRequest
	Conditions        []fhir.Condition
	Procedures        []fhir.Procedure
	// PractitionerRoles arrive included with encounters and requests
	// (_include), for their specialty.
	PractitionerRoles []fhir.PractitionerRole

	Skipped []Skipped
	// Repaired are the elements mended or dropped so their resources
	// could be kept (repair.go).
	Repaired []Repaired
	// Sources maps each prefetch key to where its resources came from.
	Sources map[string]Origin
	// EnteredInError counts resources dropped as entered-in-error.
	EnteredInError int

	seen seenSet
}

// resourceKey names one resource: its type and id.
type resourceKey struct{ typ, id string }

// NewHistory returns an empty history.
func NewHistory() *History {
	return &History{Sources: map[string]Origin{}, seen: seenSet{{}}}
}

// seenSet is the resources a history holds, by type and id: the sets of
// the parts merged into it, kept side by side, so that merging a large
// part copies none of them.
type seenSet []map[resourceKey]bool

func (s seenSet) has(k resourceKey) bool {
	for _, m := range s {
		if m[k] {
			return true
		}
	}
	return false
}

// add adds k to the history's own set, the first.
func (s seenSet) add(k resourceKey) { s[0][k] = true }

// Merge moves o's resources into h (o is not to be used afterwards),
// keeping each resource once. The parts of a history are decoded apart, in
// parallel, then merged in a fixed order.
func (h *History) Merge(o *History) {
	for _, k := range Kinds {
		k.part.merge(h, o, k.ResourceType)
	}
	h.seen = append(h.seen, o.seen...)
	h.Skipped = append(h.Skipped, o.Skipped...)
	h.Repaired = append(h.Repaired, o.Repaired...)
	maps.Copy(h.Sources, o.Sources)
	h.EnteredInError += o.EnteredInError
}

// Len is the number of resources held.
func (h *History) Len() int {
	n := 0
	for _, k := range Kinds {
		n += k.part.count(h)
	}
	return n
}

// ErrUnavailable marks errors meaning the history cannot be had (server
// down, refused, too slow, not allowed).
var ErrUnavailable = errs.Unavailable

// UnavailableError names the prefetch key (query) whose data could not be
// obtained. Its message holds no token and no patient data.
type UnavailableError struct {
	Key    string
	Reason string
	Err    error
}

func (e *UnavailableError) Error() string {
	return fmt.Sprintf("data for %q could not be obtained: %s", e.Key, e.Reason)
}

func (e *UnavailableError) Unwrap() []error { return []error{ErrUnavailable, e.Err} }

// Public says the message may be shown to the caller: it names the key and
// the failure, never a token or patient data.
func (e *UnavailableError) Public() string { return e.Error() }
