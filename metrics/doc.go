// Package metrics defines Balint's Prometheus metrics in one place, on a
// registry of their own so tests and several servers in one process do not
// collide. Labels carry service ids, status codes, resource types and
// reason codes, each from a closed set: never patient data.
package metrics
