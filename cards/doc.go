// Package cards turns a rule decision into what a clinician reads: the
// CDS Hooks cards in the clinical basis's wording (the evidence the card
// fired on, suggestions as draft FHIR resources, never a diagnosis, coded
// override reasons) and the /rule page, which takes its sentences from the
// same constants. It decides nothing itself.
package cards
