package http

import (
	"io"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/balint-health/balint/advice"
	"github.com/balint-health/balint/cdshooks"
	"github.com/balint-health/balint/errs"
)

func (s *Server) discovery(c echo.Context) error {
	return c.JSON(http.StatusOK, s.d.Advisor.Discovery())
}

// invoke answers a hook call: the protocol's checks, then the use case.
func (s *Server) invoke(c echo.Context) error {
	start := time.Now()
	id, hook, body, err := s.serviceAndBody(c)
	if err != nil {
		return writeError(c, err)
	}
	req, hc, err := cdshooks.DecodeRequest(body, hook, s.templates)
	if err != nil {
		return writeError(c, err)
	}
	call := &advice.Call{ServiceID: id, Request: req, Context: hc}
	if cl := claimsOf(c); cl != nil {
		// An issuer may only have Balint call the FHIR servers configured
		// for it; with a complete prefetch nothing is called, so the call
		// is answered, and a fetch that is needed fails as 412.
		call.ServerNotAllowed = !cl.AllowsServer(req.FHIRServer)
		call.Issuer, call.Tenant = cl.Issuer, cl.Tenant
	}
	resp, err := s.d.Advisor.Answer(c.Request().Context(), call)
	if err != nil {
		s.d.Logger.LogAttrs(c.Request().Context(), slog.LevelWarn, "hook failed",
			slog.String("service", id), slog.String("hook", req.Hook),
			slog.String("hookInstance", req.HookInstance), slog.String("error", errorClass(err)),
			slog.Duration("duration", time.Since(start)))
		return writeError(c, err)
	}
	return c.JSON(http.StatusOK, resp)
}

func (s *Server) feedback(c echo.Context) error {
	id, _, body, err := s.serviceAndBody(c)
	if err != nil {
		return writeError(c, err)
	}
	fr, err := cdshooks.DecodeFeedback(body)
	if err != nil {
		return writeError(c, err)
	}
	caller := ""
	if cl := claimsOf(c); cl != nil {
		caller = advice.Caller(cl.Issuer, cl.Tenant)
	}
	if err := s.d.Advisor.Feedback(c.Request().Context(), id, caller, fr.Feedback); err != nil {
		return writeError(c, err)
	}
	return c.NoContent(http.StatusOK)
}

var errNoService = errs.New(errs.NotFound, "no CDS service with this id")

// serviceAndBody finds the addressed service, then reads the body: an
// unknown service is answered before its body is read.
func (s *Server) serviceAndBody(c echo.Context) (id, hook string, body []byte, err error) {
	id = c.Param("id")
	hook, ok := s.d.Advisor.Hook(id)
	if !ok {
		return id, "", nil, errNoService
	}
	body, err = readBody(c)
	return id, hook, body, err
}

// readBody reads a body within the body limit; a body that cannot be read
// is invalid, one over the limit the limit's 413.
func readBody(c echo.Context) ([]byte, error) {
	body, err := readAll(c.Request().Body, c.Request().ContentLength)
	if err != nil {
		if _, ok := err.(*echo.HTTPError); ok {
			return nil, err
		}
		return nil, errs.New(errs.Invalid, "request body could not be read")
	}
	return body, nil
}

// readAll reads a body into one buffer of the announced size (the body
// limit has already refused a larger announcement), instead of growing one
// step by step: a hook body is megabytes, and every doubling is a copy and
// transient garbage.
func readAll(r io.Reader, announced int64) ([]byte, error) {
	b := make([]byte, 0, max(announced, 512)+1)
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
		if len(b) == cap(b) {
			b = slices.Grow(b, len(b))
		}
	}
}
