package fhir

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/samply/golang-fhir-models/fhir-models/fhir"
)

// Page is what a bundle says beyond its entries: the next page, if any.
type Page struct {
	Next    string
	Entries int
}

type rawBundle struct {
	ResourceType string `json:"resourceType"`
	Type         string `json:"type"`
	Link         []struct {
		Relation string `json:"relation"`
		URL      string `json:"url"`
	} `json:"link"`
	Entry []struct {
		Resource json.RawMessage `json:"resource"`
		Search   *struct {
			Mode string `json:"mode"`
		} `json:"search"`
	} `json:"entry"`
}

type peek struct {
	ResourceType string  `json:"resourceType"`
	ID           string  `json:"id"`
	Status       *string `json:"status"`
}

// statusRequired lists the types whose R4 status is 1..1. samply reads a
// missing status as the enum's zero value (e.g. "registered"), which would
// silently change meaning, so such entries are skipped instead.
var statusRequired = map[string]bool{
	"Observation": true, "DiagnosticReport": true, "Encounter": true,
	"ServiceRequest": true, "Procedure": true,
}

// AddJSON decodes one prefetch value or search page into the history: a
// searchset/collection Bundle entry by entry, or a bare resource. A bad
// entry is reported in h.Skipped and the rest kept; only a body that is not
// a JSON object at all is an error.
func (h *History) AddJSON(key string, origin Origin, data []byte) (Page, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || bytes.Equal(data, []byte("null")) {
		return Page{}, nil
	}
	// One pass reads a Bundle's links and entries, or tells a bare
	// resource (whose own fields it ignores).
	var b rawBundle
	if err := json.Unmarshal(data, &b); err != nil {
		return Page{}, fmt.Errorf("%s: not a FHIR resource or Bundle: %w", key, err)
	}
	if b.ResourceType == "" {
		return Page{}, fmt.Errorf("%s: not a FHIR resource (no resourceType)", key)
	}
	h.Sources[key] = origin
	if b.ResourceType != "Bundle" {
		h.addResource(key, 0, data)
		return Page{Entries: 1}, nil
	}
	var pg Page
	for _, l := range b.Link {
		if l.Relation == "next" {
			pg.Next = l.URL
		}
	}
	for i, e := range b.Entry {
		if e.Search != nil && e.Search.Mode == "outcome" {
			continue
		}
		pg.Entries++
		h.addResource(key, i, e.Resource)
	}
	return pg, nil
}

func (h *History) skip(key string, i int, typ, id, reason string) {
	h.Skipped = append(h.Skipped, Skipped{Key: key, Index: i, ResourceType: typ, ID: id, Reason: reason})
}

func (h *History) addResource(key string, i int, raw json.RawMessage) {
	var p peek
	if err := json.Unmarshal(raw, &p); err != nil || p.ResourceType == "" {
		h.skip(key, i, "", "", "entry has no FHIR resource")
		return
	}
	if statusRequired[p.ResourceType] && (p.Status == nil || *p.Status == "") {
		h.skip(key, i, p.ResourceType, p.ID, "status missing")
		return
	}
	if p.Status != nil && *p.Status == "entered-in-error" {
		h.EnteredInError++
		return
	}
	ref := p.ResourceType + "/" + p.ID
	if p.ID != "" && h.seen[ref] {
		return
	}
	var err error
	switch p.ResourceType {
	case "Patient":
		var r fhir.Patient
		if r, err = fhir.UnmarshalPatient(raw); err == nil {
			h.Patient = &r
		}
	case "Observation":
		var r fhir.Observation
		if r, err = fhir.UnmarshalObservation(raw); err == nil {
			h.Observations = append(h.Observations, r)
		}
	case "DiagnosticReport":
		var r fhir.DiagnosticReport
		if r, err = fhir.UnmarshalDiagnosticReport(raw); err == nil {
			h.DiagnosticReports = append(h.DiagnosticReports, r)
		}
	case "Encounter":
		var r fhir.Encounter
		if r, err = fhir.UnmarshalEncounter(raw); err == nil {
			h.Encounters = append(h.Encounters, r)
		}
	case "ServiceRequest":
		var r fhir.ServiceRequest
		if r, err = fhir.UnmarshalServiceRequest(raw); err == nil {
			h.ServiceRequests = append(h.ServiceRequests, r)
		}
	case "Condition":
		var r fhir.Condition
		if r, err = fhir.UnmarshalCondition(raw); err == nil {
			if isEnteredInError(r.VerificationStatus) {
				h.EnteredInError++
				return
			}
			h.Conditions = append(h.Conditions, r)
		}
	case "Procedure":
		var r fhir.Procedure
		if r, err = fhir.UnmarshalProcedure(raw); err == nil {
			h.Procedures = append(h.Procedures, r)
		}
	default:
		h.skip(key, i, p.ResourceType, p.ID, "resource type not used by the rule")
		return
	}
	if err != nil {
		h.skip(key, i, p.ResourceType, p.ID, safeReason(p.ResourceType, err))
		return
	}
	if p.ID != "" {
		h.seen[ref] = true
	}
}

var unknownCode = regexp.MustCompile(`^unknown (\w+) code`)

// safeReason describes a decode error by field, type and code system only:
// the messages of encoding/json and samply may quote the offending value,
// which is patient data.
func safeReason(typ string, err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("%s.%s: JSON %s where %s expected", typ, te.Field, te.Value, te.Type)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return "malformed JSON"
	}
	msg := err.Error()
	if m := unknownCode.FindStringSubmatch(msg); m != nil {
		return "unknown " + m[1] + " code"
	}
	if strings.Contains(msg, "invalid number literal") {
		return typ + ": invalid number literal"
	}
	return "not a valid R4 " + typ
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
