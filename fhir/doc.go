// Package fhir holds a patient's history as the rule reads it: the R4
// resources (samply models) decoded entry by entry from search or prefetch
// bundles, with every skipped entry reported and every part's origin kept.
// It does no I/O; fhir/client fetches bundles from a FHIR server and
// fhir/demo serves the embedded demo patients.
package fhir
