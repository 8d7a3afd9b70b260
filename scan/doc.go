// Package scan finds, across a practice's whole list, the patients the
// rule would suggest a review for: it evaluates every patient of a FHIR
// Bulk Data export (bulk.Group) with the same rule the hooks run, and
// writes the patients who meet it (NDJSON, CSV, a FHIR Group), every
// decision by codes, and a summary by age band and sex for bias audits.
// Shards of one export are joined by Merge into the result of one run.
package scan
