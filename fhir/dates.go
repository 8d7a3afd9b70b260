package fhir

import (
	"time"

	r4 "github.com/samply/golang-fhir-models/fhir-models/fhir"
)

// When each kind of resource happened, as the rule dates it. The zero time
// means the record does not say.

// ObservationDate is effective[x], else issued.
func ObservationDate(o *r4.Observation) time.Time {
	for _, s := range []*string{o.EffectiveDateTime, o.EffectiveInstant} {
		if t, ok := Time(s); ok {
			return t
		}
	}
	if o.EffectivePeriod != nil {
		if t, ok := Time(o.EffectivePeriod.Start); ok {
			return t
		}
	}
	t, _ := Time(o.Issued)
	return t
}

// ReportDate is effective[x], else issued.
func ReportDate(dr *r4.DiagnosticReport) time.Time {
	if t, ok := Time(dr.EffectiveDateTime); ok {
		return t
	}
	if dr.EffectivePeriod != nil {
		if t, ok := Time(dr.EffectivePeriod.Start); ok {
			return t
		}
	}
	t, _ := Time(dr.Issued)
	return t
}

// ProcedureDate is performed[x].
func ProcedureDate(pr *r4.Procedure) time.Time {
	if t, ok := Time(pr.PerformedDateTime); ok {
		return t
	}
	if pr.PerformedPeriod != nil {
		t, _ := Time(pr.PerformedPeriod.Start)
		return t
	}
	return time.Time{}
}

// EncounterDate is the start of the period.
func EncounterDate(en *r4.Encounter) time.Time {
	if en.Period != nil {
		t, _ := Time(en.Period.Start)
		return t
	}
	return time.Time{}
}

// RequestDate is authoredOn, else occurrenceDateTime.
func RequestDate(sr *r4.ServiceRequest) time.Time {
	if t, ok := Time(sr.AuthoredOn); ok {
		return t
	}
	t, _ := Time(sr.OccurrenceDateTime)
	return t
}

// ConditionDate is onsetDateTime, else recordedDate.
func ConditionDate(c *r4.Condition) time.Time {
	if t, ok := Time(c.OnsetDateTime); ok {
		return t
	}
	t, _ := Time(c.RecordedDate)
	return t
}
