package app

import (
	"encoding/json"
)

// The floor: encoding/json decoding a hook body into the smallest structs
// that hold every field the rule reads. Nothing that decodes the same bytes
// with encoding/json can be faster; BenchmarkHookDecode and the whole-hook
// benchmark in app are measured against it (docs/performance.md).
type (
	floorCoding struct {
		System  string `json:"system"`
		Code    string `json:"code"`
		Display string `json:"display"`
	}
	floorConcept struct {
		Coding []floorCoding `json:"coding"`
		Text   string        `json:"text"`
	}
	floorRef struct {
		Reference string `json:"reference"`
	}
	floorQuantity struct {
		Value  json.Number `json:"value"`
		Unit   string      `json:"unit"`
		System string      `json:"system"`
		Code   string      `json:"code"`
	}
	floorPeriod struct {
		Start string `json:"start"`
		End   string `json:"end"`
	}
	floorResource struct {
		ResourceType string `json:"resourceType"`
		ID           string `json:"id"`
		Status       string `json:"status"`
		Subject      floorRef
		Category     []floorConcept `json:"category"`
		Code         *floorConcept  `json:"code"`
		// Observation, DiagnosticReport
		EffectiveDateTime string         `json:"effectiveDateTime"`
		EffectiveInstant  string         `json:"effectiveInstant"`
		EffectivePeriod   *floorPeriod   `json:"effectivePeriod"`
		Issued            string         `json:"issued"`
		ValueQuantity     *floorQuantity `json:"valueQuantity"`
		Interpretation    []floorConcept `json:"interpretation"`
		ReferenceRange    []struct {
			Low  *floorQuantity `json:"low"`
			High *floorQuantity `json:"high"`
		} `json:"referenceRange"`
		HasMember      []floorRef     `json:"hasMember"`
		BasedOn        []floorRef     `json:"basedOn"`
		Result         []floorRef     `json:"result"`
		ConclusionCode []floorConcept `json:"conclusionCode"`
		// ServiceRequest
		PerformerType      *floorConcept  `json:"performerType"`
		ReasonCode         []floorConcept `json:"reasonCode"`
		ReasonReference    []floorRef     `json:"reasonReference"`
		AuthoredOn         string         `json:"authoredOn"`
		OccurrenceDateTime string         `json:"occurrenceDateTime"`
		// Encounter
		ServiceType *floorConcept  `json:"serviceType"`
		Type        []floorConcept `json:"type"`
		Period      *floorPeriod   `json:"period"`
		// Condition
		ClinicalStatus     *floorConcept `json:"clinicalStatus"`
		VerificationStatus *floorConcept `json:"verificationStatus"`
		OnsetDateTime      string        `json:"onsetDateTime"`
		RecordedDate       string        `json:"recordedDate"`
		// Procedure
		PerformedDateTime string       `json:"performedDateTime"`
		PerformedPeriod   *floorPeriod `json:"performedPeriod"`
		Report            []floorRef   `json:"report"`
		// Patient
		BirthDate string `json:"birthDate"`
		Gender    string `json:"gender"`
	}
	floorValue struct {
		floorResource
		Type  string `json:"type"` // the Bundle's, which shadows Encounter.type
		Entry []struct {
			Resource floorResource `json:"resource"`
		} `json:"entry"`
	}
	floorHook struct {
		Hook         string `json:"hook"`
		HookInstance string `json:"hookInstance"`
		Context      struct {
			UserID    string `json:"userId"`
			PatientID string `json:"patientId"`
		} `json:"context"`
		Prefetch map[string]floorValue `json:"prefetch"`
	}
)
