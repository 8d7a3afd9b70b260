// Package server assembles Balint's HTTP surface on echo: the CDS Hooks
// routes, the evidence page, the rule page, health, readiness and metrics,
// behind the request id, recovery, body limit, hook deadline, rate limit,
// CORS and request-log middleware. Logs name routes, never URLs, so no
// token or id in a path reaches them.
package server
