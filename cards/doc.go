// Package cards turns a rule decision into the CDS Hooks cards a clinician
// reads: the wording of the clinical basis, the evidence the card fired on,
// suggestions as draft FHIR resources (never a diagnosis), coded override
// reasons, and the link to the evidence page. It decides nothing itself.
package cards
