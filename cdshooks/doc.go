// Package cdshooks speaks HL7 CDS Hooks 2.0: the wire types (discovery,
// request, cards, feedback), their validation with precise errors, the
// prefetch template renderer, and the echo handlers that route a hook call
// to a Service. It knows nothing of the clinical rule; a Service does the
// deciding and the handlers do the protocol.
package cdshooks
