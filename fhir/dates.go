package fhir

import (
	"time"

	r4 "github.com/samply/golang-fhir-models/fhir-models/fhir"
)

// When each kind of resource happened, as the rule dates it: the first of
// its date elements, in the order below, that reads as a time in the
// site's zone loc (see Time). The zero time means the record does not say.

// ObservationDate is effective[x], else issued.
func ObservationDate(o *r4.Observation, loc *time.Location) time.Time {
	return firstTime(loc, o.EffectiveDateTime, o.EffectiveInstant, periodStart(o.EffectivePeriod), o.Issued)
}

// ReportDate is effective[x], else issued.
func ReportDate(dr *r4.DiagnosticReport, loc *time.Location) time.Time {
	return firstTime(loc, dr.EffectiveDateTime, periodStart(dr.EffectivePeriod), dr.Issued)
}

// ProcedureDate is performed[x].
func ProcedureDate(pr *r4.Procedure, loc *time.Location) time.Time {
	return firstTime(loc, pr.PerformedDateTime, periodStart(pr.PerformedPeriod))
}

// EncounterDate is the start of the period.
func EncounterDate(en *r4.Encounter, loc *time.Location) time.Time {
	return firstTime(loc, periodStart(en.Period))
}

// RequestDate is authoredOn, else occurrenceDateTime.
func RequestDate(sr *r4.ServiceRequest, loc *time.Location) time.Time {
	return firstTime(loc, sr.AuthoredOn, sr.OccurrenceDateTime)
}

// ConditionDate is when the condition began: onset[x], else recordedDate.
func ConditionDate(c *r4.Condition, loc *time.Location) time.Time {
	return firstTime(loc, c.OnsetDateTime, periodStart(c.OnsetPeriod), c.RecordedDate)
}

// ConditionEnd is when the condition abated: abatementDateTime or the end
// of abatementPeriod; the zero time when the record does not date it.
func ConditionEnd(c *r4.Condition, loc *time.Location) time.Time {
	var end *string
	if c.AbatementPeriod != nil {
		end = c.AbatementPeriod.End
	}
	return firstTime(loc, c.AbatementDateTime, end)
}

func firstTime(loc *time.Location, values ...*string) time.Time {
	for _, v := range values {
		if t, ok := Time(v, loc); ok {
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
