// Package client reads a patient's history from a FHIR R4 server: it
// renders nothing itself but runs the queries a hook's prefetch templates
// gave, follows Bundle paging within caps, retries what is safe to retry,
// refuses servers that are not allowlisted, and fills in what the CDS
// client did not prefetch. Every failure is a fhir.UnavailableError, of
// kind errs.Unavailable.
package client
