// Package rules decides, from one patient's history and a clock, whether
// the pattern of repeated normal investigations described in
// shared/docs/clinical-basis.md is present, and says why in reason codes
// that cards, logs, metrics and the evidence page share. Pure: values in,
// values out, no I/O; everything about time takes `now`.
//
// Statuses, as a clinician reads them: entered-in-error and cancelled
// results are absent (the history layer drops entered-in-error); a
// preliminary, partial or registered report is work still in progress: it
// never counts as normal, and if recent it is an open work-up that
// suppresses the card. Amended, corrected and appended results count as
// final. Unknown normality is never counted as normal.
package rules
