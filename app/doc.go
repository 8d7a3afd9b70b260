// Package app builds a whole Balint instance from its configuration: the
// store, policy, history loader, authenticator, services, evidence pages
// and HTTP surface. cmd/balint runs it; integration tests start it
// in-process with their own clock.
package app
