// Package evidence makes the page a card links to: the patient's
// investigations on a server-rendered SVG timeline (one row per body
// system, dots coloured by normality, the window and thresholds marked,
// encounters as ticks). The link carries a short-lived signed token naming
// a stored snapshot, never a patient id; no scripts, fonts or CDNs. The
// http package serves it.
package evidence
