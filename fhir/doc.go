// Package fhir holds a patient's history as the rule reads it: the R4
// resources (samply models) decoded entry by entry from search or prefetch
// bundles (fast.go, else the v2 JSON decoder), with every skipped entry
// reported and every part's origin kept. kinds.go is the one table of the
// resource types read; datatypes.go and dates.go read FHIR dates, codings,
// quantities and references. It does no I/O: fhir/client fetches bundles,
// fhir/demo serves the demo patients.
package fhir
