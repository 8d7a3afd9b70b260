// Package synth generates seeded, synthetic FHIR R4 patient histories:
// lab panels (DiagnosticReport + Observations with LOINC codes,
// interpretation and reference ranges), imaging and endoscopy reports,
// encounters with specialties, referrals and conditions. Knobs set whether
// the pattern is present, which exclusion applies, and the size. Tests, the
// embedded demo and benchmarks all draw from it; the same seed gives the
// same bytes.
package synth
