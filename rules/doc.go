// Package rules decides, from one patient's history and a clock, whether
// the pattern of repeated normal investigations described in
// shared/docs/clinical-basis.md is present, and says why in reason codes
// that cards, logs, metrics and the evidence page share. Pure: values in,
// values out, no I/O; everything about time takes `now`, and windows are
// fixed durations (a month is 30.4375 days) so moving every date and `now`
// together never changes a decision.
//
// Statuses, as a clinician reads them: entered-in-error and cancelled
// results are absent (the history layer drops entered-in-error); a
// preliminary, partial or registered report is work still in progress: it
// never counts as normal, and if recent it is an open work-up that
// suppresses the card. Amended, corrected and appended results count as
// final. Unknown normality is never counted as normal.
//
// Monitoring: a result whose order (basedOn) gives as its reason an active
// Condition, by reference or by code, is monitoring of a known condition and
// does not count; nor does an open order placed for one suppress the card.
// Specialties come from referral ServiceRequests (performerType) and
// specialist Encounters (serviceType); PractitionerRole is not read.
package rules
