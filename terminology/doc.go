// Package terminology expands the policy's value sets (SNOMED descendants
// of a concept, say) on a FHIR terminology server with ValueSet/$expand,
// at start and then daily, and keeps each expansion in the store. When the
// server cannot be reached, the last kept expansion is used, and failing
// that the one shipped with Balint (rules/valuesets).
package terminology
