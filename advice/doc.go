// Package advice is Balint's use case: it answers a CDS hook call with
// advice. advice.go is the front door (Discovery, Answer, Feedback); behind
// it a call loads the patient's history, runs the rule, builds the cards,
// records what was issued, and turns feedback into snoozes. It speaks in
// errs kinds and cdshooks values; HTTP is the http package's business.
package advice
