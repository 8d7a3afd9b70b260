// Package services is Balint's CDS services: it wires a hook call through
// the history loader, the rule and the card builder, stores issued cards
// and feedback (with the snoozes feedback creates), and logs and counts
// decisions by reason code without patient data.
package services
