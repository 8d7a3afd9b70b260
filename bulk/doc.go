// Package bulk reads FHIR Bulk Data exports: a directory of NDJSON files,
// one resource type per file as $export writes them (gzip accepted), and
// the $export protocol that fetches one. Group hands the resources of each
// patient over one patient at a time, without holding the export in
// memory: a first pass partitions lines by patient into bucket files on
// disk, a second reads one bucket at a time (see Group for the bound).
package bulk
