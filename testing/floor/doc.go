// Package floor holds the smallest Go structs that keep every field
// Balint's rule reads from a hook call with prefetch. Decoding a call into
// them with encoding/json is the floor the prefetch path is measured
// against (docs/performance.md): the benchmarks in app and the baseline
// server of scripts/load use it.
package floor
