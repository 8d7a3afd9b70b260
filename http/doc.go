// Package http is Balint's HTTP surface on echo, and the only package that
// imports echo. routes.go holds the route table: every handler, its
// middleware, and the name that logs, metric labels and span names use.
// errors.go maps errs kinds to status codes in one table. The use case
// (advice) and the protocol (cdshooks) know nothing of HTTP.
package http
