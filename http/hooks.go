package http

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/balint-health/balint/advice"
	"github.com/balint-health/balint/cdshooks"
	"github.com/balint-health/balint/errs"
	"github.com/balint-health/balint/fhir/client"
	"github.com/balint-health/balint/memory"
)

func (s *Server) discovery(c echo.Context) error {
	return c.JSON(http.StatusOK, s.d.Advisor.Discovery())
}

// invoke answers a hook call: the protocol's checks, then the use case.
func (s *Server) invoke(c echo.Context) error {
	start := time.Now()
	id, hook, in, err := s.serviceAndBody(c)
	if err != nil {
		return writeError(c, err)
	}
	// The prefetched Bundles are read while the call is checked; what is
	// read is the call's memory until it is done.
	ahead := client.ReadAhead(in.data)
	req, hc, err := cdshooks.DecodeRequest(in.data, hook, s.templates, ahead.ValidAt)
	in.decoded()
	if err != nil {
		go func() {
			ahead.Wait()
			in.release()
		}()
		return writeError(c, err)
	}
	call := &advice.Call{ServiceID: id, Request: req, Context: hc, Ahead: ahead}
	if cl := claimsOf(c); cl != nil {
		// An issuer may only have Balint call the FHIR servers configured
		// for it; with a complete prefetch nothing is called, so the call
		// is answered, and a fetch that is needed fails as 412.
		call.ServerNotAllowed = !cl.AllowsServer(req.FHIRServer)
		call.Issuer, call.Tenant = cl.Issuer, cl.Tenant
	}
	resp, err := s.answer(c.Request().Context(), in, call)
	if err != nil {
		s.d.Logger.LogAttrs(c.Request().Context(), slog.LevelWarn, "hook failed",
			slog.String("service", id), slog.String("hook", req.Hook),
			slog.String("hookInstance", req.HookInstance), slog.String("error", errorClass(err)),
			slog.Duration("duration", time.Since(start)))
		return writeError(c, err)
	}
	return c.JSON(http.StatusOK, resp)
}

// answer runs the use case within the hook deadline, answering at the
// deadline even when the work does not heed it (a store that stalls, a
// long evaluation): that work then finishes unseen, and its memory is
// released when it does.
func (s *Server) answer(ctx context.Context, in *body, call *advice.Call) (*cdshooks.Response, error) {
	type result struct {
		resp *cdshooks.Response
		err  error
	}
	done := make(chan result, 1)
	go func() {
		memory.GrowStack()
		defer in.release()
		defer call.Ahead.Wait()
		defer func() {
			// Outside the handler, so echo's Recover cannot catch it.
			if p := recover(); p != nil {
				done <- result{err: fmt.Errorf("hook panicked: %v", p)}
			}
		}()
		resp, err := s.d.Advisor.Answer(memory.WithTicket(ctx, in.ticket), call)
		done <- result{resp, err}
	}()
	select {
	case r := <-done:
		return r.resp, r.err
	case <-ctx.Done():
	}
	// Work that heeds the deadline returns at once with its own error,
	// which names what was not read: half the write reserve is its wait.
	select {
	case r := <-done:
		return r.resp, r.err
	case <-time.After(writeReserve(s.cfg.HookTimeout) / 2):
		return nil, ctx.Err()
	}
}

func (s *Server) feedback(c echo.Context) error {
	id, _, in, err := s.serviceAndBody(c)
	if err != nil {
		return writeError(c, err)
	}
	defer in.release()
	fr, err := cdshooks.DecodeFeedback(in.data)
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

// serviceAndBody finds the addressed service, admits the call by the
// memory its body will take, then reads the body: an unknown service is
// answered before anything is read or reserved. The caller releases the
// body.
func (s *Server) serviceAndBody(c echo.Context) (id, hook string, in *body, err error) {
	id = c.Param("id")
	hook, ok := s.d.Advisor.Hook(id)
	if !ok {
		return id, "", nil, errNoService
	}
	var ticket *memory.Ticket
	if s.d.Memory != nil {
		announced := c.Request().ContentLength
		if announced < 0 || announced > s.bodyLimit {
			announced = s.bodyLimit
		}
		if ticket, err = s.d.Memory.Admit(c.Request().Context(), announced); err != nil {
			return id, hook, nil, err
		}
	}
	if in, err = readBody(c); err != nil {
		ticket.Release()
		return id, hook, nil, err
	}
	in.ticket = ticket
	return id, hook, in, nil
}
