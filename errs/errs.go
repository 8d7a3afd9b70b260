package errs

import (
	"errors"
	"fmt"
)

// The kinds. A caller branches on them with errors.Is.
var (
	// Invalid: the input is malformed or breaks the protocol; the message
	// names the field.
	Invalid = errors.New("invalid")
	// NotFound: what the input names does not exist (or is not the
	// caller's to see, which must look the same).
	NotFound = errors.New("not found")
	// Unavailable: the patient's data could not be obtained (server down,
	// too slow, refused, not allowed).
	Unavailable = errors.New("patient data unavailable")
	// Busy: the calls in flight leave no room for this one now; the
	// caller may retry shortly.
	Busy = errors.New("busy")
	// Forbidden: a signed link is expired, tampered with or unknown.
	Forbidden = errors.New("forbidden")
)

// Error is an error of one kind whose message is fit to show the caller:
// it names fields and keys, never a token or patient data.
type Error struct {
	Kind error
	Msg  string
	Err  error
}

func (e *Error) Error() string { return e.Msg }

// Unwrap lets errors.Is find the kind and the cause.
func (e *Error) Unwrap() []error { return []error{e.Kind, e.Err} }

// New returns an error of kind with a message for the caller.
func New(kind error, format string, args ...any) error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

// Message is the text a caller may be shown for err: the message of the
// outermost Error, or of a typed error that declares itself safe.
func Message(err error) (string, bool) {
	var pub interface{ Public() string }
	if errors.As(err, &pub) {
		return pub.Public(), true
	}
	return "", false
}

// Public implements the interface Message looks for.
func (e *Error) Public() string { return e.Msg }
