package floor

import "encoding/json"

type (
	coding struct {
		System  string `json:"system"`
		Code    string `json:"code"`
		Display string `json:"display"`
	}
	concept struct {
		Coding []coding `json:"coding"`
		Text   string   `json:"text"`
	}
	ref struct {
		Reference string `json:"reference"`
	}
	quantity struct {
		Value  json.Number `json:"value"`
		Unit   string      `json:"unit"`
		System string      `json:"system"`
		Code   string      `json:"code"`
	}
	period struct {
		Start string `json:"start"`
		End   string `json:"end"`
	}
	resource struct {
		ResourceType string `json:"resourceType"`
		ID           string `json:"id"`
		Status       string `json:"status"`
		Subject      ref
		Category     []concept `json:"category"`
		Code         *concept  `json:"code"`
		// Observation, DiagnosticReport
		EffectiveDateTime string    `json:"effectiveDateTime"`
		EffectiveInstant  string    `json:"effectiveInstant"`
		EffectivePeriod   *period   `json:"effectivePeriod"`
		Issued            string    `json:"issued"`
		ValueQuantity     *quantity `json:"valueQuantity"`
		Interpretation    []concept `json:"interpretation"`
		ReferenceRange    []struct {
			Low  *quantity `json:"low"`
			High *quantity `json:"high"`
		} `json:"referenceRange"`
		HasMember      []ref     `json:"hasMember"`
		BasedOn        []ref     `json:"basedOn"`
		Result         []ref     `json:"result"`
		ConclusionCode []concept `json:"conclusionCode"`
		// ServiceRequest
		PerformerType      *concept  `json:"performerType"`
		ReasonCode         []concept `json:"reasonCode"`
		ReasonReference    []ref     `json:"reasonReference"`
		AuthoredOn         string    `json:"authoredOn"`
		OccurrenceDateTime string    `json:"occurrenceDateTime"`
		// Encounter
		ServiceType *concept  `json:"serviceType"`
		Type        []concept `json:"type"`
		Period      *period   `json:"period"`
		// Condition
		ClinicalStatus     *concept `json:"clinicalStatus"`
		VerificationStatus *concept `json:"verificationStatus"`
		OnsetDateTime      string   `json:"onsetDateTime"`
		RecordedDate       string   `json:"recordedDate"`
		// Procedure
		PerformedDateTime string  `json:"performedDateTime"`
		PerformedPeriod   *period `json:"performedPeriod"`
		Report            []ref   `json:"report"`
		// Patient
		BirthDate string `json:"birthDate"`
		Gender    string `json:"gender"`
	}
	value struct {
		resource
		Type  string `json:"type"` // the Bundle's, which shadows Encounter.type
		Entry []struct {
			Resource resource `json:"resource"`
		} `json:"entry"`
	}
	Hook struct {
		Hook         string `json:"hook"`
		HookInstance string `json:"hookInstance"`
		Context      struct {
			UserID    string `json:"userId"`
			PatientID string `json:"patientId"`
		} `json:"context"`
		Prefetch map[string]value `json:"prefetch"`
	}
)

// Resource decodes one resource (a line of a Bulk Data export) into the
// smallest struct that keeps what the rule reads: the floor balint scan is
// measured against (scripts/scan-bench).
func Resource(line []byte) error {
	var r resource
	return json.Unmarshal(line, &r)
}
