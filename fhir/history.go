package fhir

import (
	"errors"
	"fmt"

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
