// Package auth verifies the JWT an EHR signs on every CDS Hooks call (CDS
// Hooks 2.0, "Trusting CDS Clients"): keys from each issuer's configured
// JWKS only, allowed algorithms, audience, lifetime and one use per jti
// (in process, or in the database when replicas share it). It says who the
// caller is and which FHIR servers it may name; HTTP is not its business.
package auth
