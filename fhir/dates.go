package fhir

import (
	"time"

	r4 "github.com/samply/golang-fhir-models/fhir-models/fhir"
)

// When each kind of resource happened, as the rule dates it: the first of
// its date elements, in the order below, that reads as a time. The zero
// time means the record does not say.

// ObservationDate is effective[x], else issued.
func ObservationDate(o *r4.Observation) time.Time {
	return firstTime(o.EffectiveDateTime, o.EffectiveInstant, periodStart(o.EffectivePeriod), o.Issued)
}

// ReportDate is effective[x], else issued.
func ReportDate(dr *r4.DiagnosticReport) time.Time {
	return firstTime(dr.EffectiveDateTime, periodStart(dr.EffectivePeriod), dr.Issued)
}

// ProcedureDate is performed[x].
func ProcedureDate(pr *r4.Procedure) time.Time {
	return firstTime(pr.PerformedDateTime, periodStart(pr.PerformedPeriod))
}

// EncounterDate is the start of the period.
func EncounterDate(en *r4.Encounter) time.Time { return firstTime(periodStart(en.Period)) }

// RequestDate is authoredOn, else occurrenceDateTime.
func RequestDate(sr *r4.ServiceRequest) time.Time {
	return firstTime(sr.AuthoredOn, sr.OccurrenceDateTime)
}

// ConditionDate is onsetDateTime, else recordedDate.
func ConditionDate(c *r4.Condition) time.Time { return firstTime(c.OnsetDateTime, c.RecordedDate) }

func firstTime(values ...*string) time.Time {
	for _, v := range values {
		if t, ok := Time(v); ok {
			return t
		}
	}
	return time.Time{}
}

func periodStart(p *r4.Period) *string {
	if p == nil {
		return nil
	}
	return p.Start
}
