// Package cdshooks speaks HL7 CDS Hooks 2.0 as data: the wire types
// (discovery, request, cards, feedback), their validation with errors that
// name the field, and the prefetch template renderer. It knows neither the
// clinical rule nor HTTP: advice decides, http serves, auth verifies the
// caller.
package cdshooks
