package fhir

import (
	"errors"
	"fmt"
	"maps"

	"github.com/samply/golang-fhir-models/fhir-models/fhir"
)

// Origin says where a part of a history came from.
type Origin string

const (
	FromPrefetch Origin = "prefetch"
	FromServer   Origin = "server"
	FromDemo     Origin = "demo"
)

// Skipped is one entry left out of a history, and why. Reason carries the
// decoder's message (field and code names, never resource content).
type Skipped struct {
	Key          string `json:"key"`
	Index        int    `json:"index"`
	ResourceType string `json:"resourceType"`
	ID           string `json:"id,omitempty"`
	Reason       string `json:"reason"`
}

// History is one patient's record as far as the rule needs it.
type History struct {
	Patient           *fhir.Patient
	Observations      []fhir.Observation
	DiagnosticReports []fhir.DiagnosticReport
	Encounters        []fhir.Encounter
	ServiceRequests   []fhir.ServiceRequest
	Conditions        []fhir.Condition
	Procedures        []fhir.Procedure

	Skipped []Skipped
	// Sources maps each prefetch key to where its resources came from.
	Sources map[string]Origin
	// EnteredInError counts resources dropped as entered-in-error.
	EnteredInError int

	seen map[string]bool
}

// NewHistory returns an empty history.
func NewHistory() *History {
	return &History{Sources: map[string]Origin{}, seen: map[string]bool{}}
}

// Merge moves o's resources into h (o is not to be used afterwards),
// keeping each resource once. The parts of a history are decoded apart, in
// parallel, then merged in a fixed order.
func (h *History) Merge(o *History) {
	if h.Patient == nil {
		h.Patient = o.Patient
	}
	h.Observations = mergeList(h, h.Observations, o.Observations, "Observation", func(r *fhir.Observation) *string { return r.Id })
	h.DiagnosticReports = mergeList(h, h.DiagnosticReports, o.DiagnosticReports, "DiagnosticReport", func(r *fhir.DiagnosticReport) *string { return r.Id })
	h.Encounters = mergeList(h, h.Encounters, o.Encounters, "Encounter", func(r *fhir.Encounter) *string { return r.Id })
	h.ServiceRequests = mergeList(h, h.ServiceRequests, o.ServiceRequests, "ServiceRequest", func(r *fhir.ServiceRequest) *string { return r.Id })
	h.Conditions = mergeList(h, h.Conditions, o.Conditions, "Condition", func(r *fhir.Condition) *string { return r.Id })
	h.Procedures = mergeList(h, h.Procedures, o.Procedures, "Procedure", func(r *fhir.Procedure) *string { return r.Id })
	maps.Copy(h.seen, o.seen)
	h.Skipped = append(h.Skipped, o.Skipped...)
	maps.Copy(h.Sources, o.Sources)
	h.EnteredInError += o.EnteredInError
}

func mergeList[T any](h *History, dst, src []T, typ string, id func(*T) *string) []T {
	if len(dst) == 0 {
		return src
	}
	for i := range src {
		if p := id(&src[i]); p != nil && h.seen[typ+"/"+*p] {
			continue
		}
		dst = append(dst, src[i])
	}
	return dst
}

// Len is the number of resources held.
func (h *History) Len() int {
	n := len(h.Observations) + len(h.DiagnosticReports) + len(h.Encounters) +
		len(h.ServiceRequests) + len(h.Conditions) + len(h.Procedures)
	if h.Patient != nil {
		n++
	}
	return n
}

// ErrUnavailable marks errors meaning the history cannot be had (server
// down, refused, too slow, not allowed). Callers answer it with 412.
var ErrUnavailable = errors.New("patient data unavailable")

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
