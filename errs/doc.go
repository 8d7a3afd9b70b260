// Package errs names Balint's errors by what they mean to a caller, not by
// how they are answered: the data could not be had, the input is invalid,
// the thing asked for does not exist, access is refused. Packages wrap these
// kinds with %w; only the HTTP package maps them to status codes, in one
// table (as pkgsite's derrors does).
package errs
