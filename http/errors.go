package http

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/balint-health/balint/errs"
)

// ErrorBody is the JSON every error answers with.
type ErrorBody struct {
	Error string `json:"error"`
}

// statuses maps each errs kind to its status, with the message used when
// the error carries none fit to show. This table is the only place a kind
// meets a status code.
var statuses = []struct {
	kind    error
	status  int
	message string
}{
	{errs.Invalid, http.StatusBadRequest, "invalid request"},
	{errs.NotFound, http.StatusNotFound, "not found"},
	// Before Unavailable: a history refused half read for want of memory
	// is busy, not missing.
	{errs.Busy, http.StatusServiceUnavailable, "too many calls in flight; retry shortly"},
	{errs.Unavailable, http.StatusPreconditionFailed, "the patient's data could not be obtained"},
	{errs.Forbidden, http.StatusForbidden, "forbidden"},
	{context.DeadlineExceeded, http.StatusServiceUnavailable, "the hook could not be answered in time"},
}

// statusOf is the status and message for err; anything unnamed is our
// fault: 500, with nothing of the error shown.
func statusOf(err error) (int, string) {
	if err == nil {
		return http.StatusOK, ""
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		if he.Code == http.StatusRequestEntityTooLarge {
			return he.Code, "request body too large"
		}
		return he.Code, http.StatusText(he.Code)
	}
	for _, s := range statuses {
		if errors.Is(err, s.kind) {
			if msg, ok := errs.Message(err); ok {
				return s.status, msg
			}
			return s.status, s.message
		}
	}
	return http.StatusInternalServerError, "internal error"
}

func writeError(c echo.Context, err error) error {
	status, msg := statusOf(err)
	if errors.Is(err, errs.Busy) {
		c.Response().Header().Set("Retry-After", "1")
	}
	return c.JSON(status, ErrorBody{Error: msg})
}

// errorClass names an error for logs without its text, which may carry
// details of the request.
func errorClass(err error) string {
	switch status, _ := statusOf(err); {
	case errors.Is(err, errs.Busy):
		return "busy"
	case status == http.StatusServiceUnavailable:
		return "deadline"
	case status == http.StatusInternalServerError:
		return "internal"
	default:
		return http.StatusText(status)
	}
}

// errorHandler answers what a handler returned rather than wrote: echo's
// own errors (404, 405, 413) and our faults, which are logged.
func (s *Server) errorHandler(log *slog.Logger) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		status, msg := statusOf(err)
		if status == http.StatusInternalServerError {
			log.LogAttrs(c.Request().Context(), slog.LevelError, "unhandled error", slog.String("route", s.routeName(c)), slog.String("error", err.Error()))
		}
		_ = c.JSON(status, ErrorBody{Error: msg})
	}
}
