// Package memory bounds the memory of the hook calls in flight. Each call
// reserves an estimate of what it will hold (PerByte times the JSON it
// reads: its request body, then every byte of FHIR response) from one
// Gate sized to the process's memory limit, so that any number of
// concurrent worst-case calls fit it: a call that finds the gate full
// waits a moment, then is refused as busy (503 with Retry-After). The
// gate starts a collection that is nearly due when no call is in flight.
// GrowStack gives a call's goroutines their stack in one step.
package memory
