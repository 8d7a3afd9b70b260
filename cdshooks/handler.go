package cdshooks

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/labstack/echo/v4"
)

// Service is one CDS Service: its discovery entry and the function that
// answers its hook calls.
type Service struct {
	Descriptor ServiceDescriptor
	Handle     func(ctx context.Context, call *Call) (*Response, error)
}

// Call is a validated hook call, with the service's prefetch templates
// rendered for this context (key -> FHIR query relative to fhirServer).
type Call struct {
	ServiceID string
	Request   *Request
	Context   *HookContext
	Queries   map[string]string
	// Issuer and Tenant name the verified EHR caller ("" in dev mode).
	Issuer, Tenant string
}

// FeedbackFunc stores feedback for a service. It must be idempotent on a
// repeated (card, outcome).
type FeedbackFunc func(ctx context.Context, serviceID string, fb []Feedback) error

// Handlers serves the CDS Hooks endpoints for a set of services.
type Handlers struct {
	Services []Service
	Feedback FeedbackFunc
	// Since returns the published lower date bound of prefetch queries
	// (token {{balint.since}}), as a FHIR date.
	Since  func() string
	Logger *slog.Logger
	// Auth, when set, requires an EHR-signed JWT on every call (on
	// discovery too unless PublicDiscovery).
	Auth            *Authenticator
	PublicDiscovery bool
}

// Register mounts discovery, invocation and feedback under /cds-services.
// extra middleware (rate limits) runs after authentication.
func (h *Handlers) Register(g *echo.Group, extra ...echo.MiddlewareFunc) {
	var mw, discovery []echo.MiddlewareFunc
	if h.Auth != nil {
		mw = []echo.MiddlewareFunc{h.Auth.Middleware()}
		if !h.PublicDiscovery {
			discovery = mw
		}
	}
	mw = append(mw, extra...)
	discovery = append(discovery, extra...)
	g.GET("", h.discovery, discovery...)
	g.POST("/:id", h.invoke, mw...)
	g.POST("/:id/feedback", h.feedback, mw...)
}

// Discovery returns the discovery document as published now.
func (h *Handlers) Discovery() Discovery {
	d := Discovery{Services: make([]ServiceDescriptor, 0, len(h.Services))}
	tok := h.publishTokens()
	for _, s := range h.Services {
		sd := s.Descriptor
		if len(sd.Prefetch) > 0 {
			sd.Prefetch = make(map[string]string, len(s.Descriptor.Prefetch))
			for k, v := range s.Descriptor.Prefetch {
				// Templates are ours and tested; a render error here is a
				// programming error caught by the discovery golden test.
				r, _ := Render(v, tok, true)
				sd.Prefetch[k] = r
			}
		}
		d.Services = append(d.Services, sd)
	}
	return d
}

func (h *Handlers) publishTokens() Tokens {
	t := Tokens{}
	if h.Since != nil {
		t["balint.since"] = h.Since()
	}
	return t
}

func (h *Handlers) discovery(c echo.Context) error {
	return c.JSON(http.StatusOK, h.Discovery())
}

// Known reports whether id names one of the services.
func (h *Handlers) Known(id string) bool { return h.find(id) != nil }

func (h *Handlers) find(id string) *Service {
	for i := range h.Services {
		if h.Services[i].Descriptor.ID == id {
			return &h.Services[i]
		}
	}
	return nil
}

func (h *Handlers) invoke(c echo.Context) error {
	start := time.Now()
	svc, body, err := h.serviceAndBody(c)
	if svc == nil {
		return err
	}
	req, hc, err := DecodeRequest(body, svc.Descriptor.Hook)
	if err != nil {
		return writeError(c, &Error{Status: http.StatusBadRequest, Message: err.Error()})
	}
	// An issuer may only send the FHIR servers configured for it.
	if cl := ClaimsFrom(c); h.Auth != nil && cl != nil && !cl.AllowsServer(req.FHIRServer) {
		return h.Auth.unauthorized(c, "fhir_server_not_allowed_for_issuer")
	}
	tok := h.publishTokens()
	for k, v := range ContextTokens(hc) {
		tok[k] = v
	}
	call := &Call{ServiceID: svc.Descriptor.ID, Request: req, Context: hc, Queries: map[string]string{}}
	if cl := ClaimsFrom(c); cl != nil {
		call.Issuer, call.Tenant = cl.Issuer, cl.Tenant
	}
	for k, tpl := range svc.Descriptor.Prefetch {
		q, err := Render(tpl, tok, false)
		if err != nil {
			return writeError(c, &Error{Status: http.StatusBadRequest, Message: "prefetch " + k + ": " + err.Error()})
		}
		call.Queries[k] = q
	}
	resp, err := svc.Handle(c.Request().Context(), call)
	if err != nil {
		h.log().LogAttrs(c.Request().Context(), slog.LevelWarn, "hook failed",
			slog.String("service", svc.Descriptor.ID), slog.String("hook", req.Hook),
			slog.String("hookInstance", req.HookInstance), slog.String("error", errorClass(err)),
			slog.Duration("duration", time.Since(start)))
		return writeError(c, err)
	}
	if resp.Cards == nil {
		resp.Cards = []Card{}
	}
	for i := range resp.Cards {
		if err := resp.Cards[i].Validate(); err != nil {
			return writeError(c, err)
		}
	}
	return c.JSON(http.StatusOK, resp)
}

func (h *Handlers) feedback(c echo.Context) error {
	svc, body, err := h.serviceAndBody(c)
	if svc == nil {
		return err
	}
	fr, err := DecodeFeedback(body)
	if err != nil {
		return writeError(c, &Error{Status: http.StatusBadRequest, Message: err.Error()})
	}
	if h.Feedback == nil {
		return writeError(c, &Error{Status: http.StatusNotImplemented, Message: "feedback is not stored by this deployment"})
	}
	if err := h.Feedback(c.Request().Context(), svc.Descriptor.ID, fr.Feedback); err != nil {
		return writeError(c, err)
	}
	return c.NoContent(http.StatusOK)
}

func (h *Handlers) log() *slog.Logger {
	if h.Logger != nil {
		return h.Logger
	}
	return slog.Default()
}

// serviceAndBody finds the addressed service and reads the body; when
// either fails the error answer has been written and the service is nil.
func (h *Handlers) serviceAndBody(c echo.Context) (*Service, []byte, error) {
	svc := h.find(c.Param("id"))
	if svc == nil {
		return nil, nil, writeError(c, &Error{Status: http.StatusNotFound, Message: "no CDS service with this id"})
	}
	body, err := readBody(c)
	if err != nil {
		return nil, nil, err
	}
	return svc, body, nil
}

func readBody(c echo.Context) ([]byte, error) {
	body, err := readAll(c.Request().Body, c.Request().ContentLength)
	if err != nil {
		var he *echo.HTTPError
		if errors.As(err, &he) {
			return nil, writeError(c, &Error{Status: he.Code, Message: "request body too large"})
		}
		return nil, writeError(c, &Error{Status: http.StatusBadRequest, Message: "request body could not be read"})
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

// ErrorBody is the JSON every error answers with.
type ErrorBody struct {
	Error string `json:"error"`
}

func writeError(c echo.Context, err error) error {
	var pe *Error
	if errors.As(err, &pe) {
		return c.JSON(pe.Status, ErrorBody{Error: pe.Message})
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return c.JSON(http.StatusServiceUnavailable, ErrorBody{Error: "the hook could not be answered in time"})
	}
	return c.JSON(http.StatusInternalServerError, ErrorBody{Error: "internal error"})
}

// errorClass names an error for logs without its text, which may carry
// details of the request.
func errorClass(err error) string {
	var pe *Error
	if errors.As(err, &pe) {
		return http.StatusText(pe.Status)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "deadline"
	}
	return "internal"
}
