// Package outside gives tests the outside records (../shared/data beside
// the clone: Synthea patients, the HL7 R4 examples; see SOURCE.md there),
// read in place and never copied into the repository, and moves a record
// in time so that it ends the day before a test's clock.
package outside
