// Package rules decides, from one patient's history, a clock and the site's
// time zone, whether the pattern of repeated normal investigations
// described in docs/clinical-basis.md is present, and says why in
// reason codes that cards, logs, metrics and the evidence page share. Pure:
// values in, values out, no I/O. Windows are fixed durations (a month is
// 30.4375 days), so moving every date and now together never changes a
// decision; date-only values are calendar days of the site's zone.
//
// When in doubt, silent: an open order, procedure or report (whatever its
// reason), an unrepeated abnormal result (whatever its reason; only
// monitoring of a chronic condition on the policy's list is set aside), an
// exclusion named only in text, an undated care episode, an entry that
// could not be read: each resolves toward not firing, and unknown normality
// never counts as normal. docs/hazard-log.md lists each such decision with
// the scenario (testdata/scenarios) that shows it.
package rules
