package http

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/balint-health/balint/cards"
	"github.com/balint-health/balint/errs"
	"github.com/balint-health/balint/evidence"
)

// Route is one entry of the route table. Path is echo's pattern and also
// the route's name: request logs, the route label of the HTTP metrics and
// span names all read it from the matched route, never from the URL, so no
// id or token in a path reaches them and their values stay a closed set.
type Route struct {
	Method, Path string
	handle       echo.HandlerFunc
	middleware   []echo.MiddlewareFunc
}

// unmatched names a request no route matched.
const unmatched = "unmatched"

// routes is the route table: every route Balint serves.
func (s *Server) routes() []Route {
	hook := s.hookMiddleware(s.d.Auth != nil)
	discovery := s.hookMiddleware(s.d.Auth != nil && !s.cfg.PublicDiscovery)
	var admin []Route
	if !s.cfg.SeparateAdmin {
		admin = []Route{
			{http.MethodGet, "/readyz", s.readyz, nil},
			{http.MethodGet, "/metrics", echo.WrapHandler(s.metricsHandler()), nil},
		}
	}
	return append(admin, []Route{
		{http.MethodGet, "/healthz", s.healthz, nil},
		{http.MethodGet, "/rule", s.rule, nil},
		{http.MethodGet, cards.PolicyPath, s.policy, nil},
		{http.MethodGet, evidence.Path + ":token", s.evidence, nil},
		{http.MethodGet, "/cds-services", s.discovery, discovery},
		{http.MethodPost, "/cds-services/:id", s.invoke, hook},
		{http.MethodPost, "/cds-services/:id/feedback", s.feedback, hook},
	}...)
}

func (s *Server) metricsHandler() http.Handler {
	return promhttp.HandlerFor(s.d.Metrics.Registry, promhttp.HandlerOpts{})
}

// adminHandler serves what operators and orchestrators read, on the
// admin address (BALINT_ADMIN_ADDR) when one is set.
func (s *Server) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", s.metricsHandler())
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		status, body := s.ready(r.Context())
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(body)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"status":"ok"}` + "\n"))
	})
	return mux
}

// hookMiddleware is what runs before a CDS Hooks endpoint: the hook
// deadline, EHR authentication (unless in development mode or for public
// discovery), then the rate limit, which so sees the verified issuer.
func (s *Server) hookMiddleware(authenticate bool) []echo.MiddlewareFunc {
	work := s.cfg.HookTimeout - writeReserve(s.cfg.HookTimeout)
	mw := []echo.MiddlewareFunc{s.writeBy, middleware.ContextTimeoutWithConfig(middleware.ContextTimeoutConfig{
		Timeout: work,
		ErrorHandler: func(err error, c echo.Context) error {
			return writeError(c, err)
		},
	})}
	if authenticate {
		mw = append(mw, s.authenticate)
	}
	if s.cfg.RateLimit > 0 {
		mw = append(mw, rateLimit(s.cfg.RateLimit, s.cfg.Burst))
	}
	return mw
}

// writeReserve is the part of the hook deadline kept for writing the
// answer: the work stops at the deadline less this, the connection's write
// deadline is the deadline itself.
func writeReserve(timeout time.Duration) time.Duration {
	return min(timeout/10, 250*time.Millisecond)
}

// writeBy makes the hook deadline hold for the whole answer, writing
// included: a client that reads slowly cannot hold the call past it.
func (s *Server) writeBy(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if s.cfg.HookTimeout > 0 {
			// Not every writer supports a deadline (a test recorder);
			// the context deadline still bounds the work.
			_ = http.NewResponseController(c.Response()).SetWriteDeadline(time.Now().Add(s.cfg.HookTimeout))
		}
		return next(c)
	}
}

func (s *Server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(c echo.Context) error {
	status, body := s.ready(c.Request().Context())
	return c.JSON(status, body)
}

// ready is readiness: the database answers within two seconds.
func (s *Server) ready(ctx context.Context) (int, map[string]string) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := s.d.Ready(ctx); err != nil {
		return http.StatusServiceUnavailable, map[string]string{"status": "not ready", "error": err.Error()}
	}
	return http.StatusOK, map[string]string{"status": "ready"}
}

func (s *Server) rule(c echo.Context) error { return c.HTMLBlob(http.StatusOK, s.d.RulePage) }

func (s *Server) policy(c echo.Context) error {
	return c.Blob(http.StatusOK, "application/yaml; charset=utf-8", s.d.Policy)
}

func (s *Server) evidence(c echo.Context) error {
	h := c.Response().Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'")
	if s.d.Pages == nil {
		return c.HTML(http.StatusForbidden, evidence.ExpiredPage)
	}
	page, err := s.d.Pages.Page(c.Request().Context(), c.Param("token"))
	if errors.Is(err, errs.Forbidden) {
		return c.HTML(http.StatusForbidden, evidence.ExpiredPage)
	}
	if err != nil {
		return err
	}
	return c.HTMLBlob(http.StatusOK, page)
}
