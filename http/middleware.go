package http

import (
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/maypok86/otter/v2"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/time/rate"

	"github.com/balint-health/balint/auth"
	"github.com/balint-health/balint/metrics"
)

// routeName is the matched route's path from the route table; any other
// request (no route, or a 405 echo matched to a path prefix) is
// "unmatched".
func (s *Server) routeName(c echo.Context) string {
	if p := c.Path(); s.paths[p] {
		return p
	}
	return unmatched
}

// nameSpan names the request's span by its route.
func (s *Server) nameSpan(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		trace.SpanFromContext(c.Request().Context()).SetName(c.Request().Method + " " + s.routeName(c))
		return next(c)
	}
}

// observe logs each request (route name, never the URL) and counts it.
func (s *Server) observe(m *metrics.Metrics, log *slog.Logger) echo.MiddlewareFunc {
	return middleware.RequestLoggerWithConfig(middleware.RequestLoggerConfig{
		LogStatus: true, LogLatency: true, LogMethod: true,
		HandleError: true,
		LogValuesFunc: func(c echo.Context, v middleware.RequestLoggerValues) error {
			route := s.routeName(c)
			// Only known ids become label values, so metrics stay bounded.
			svc := c.Param("id")
			if _, ok := s.d.Advisor.Hook(svc); svc != "" && !ok {
				svc = "unknown"
			}
			status := strconv.Itoa(v.Status)
			m.Requests.WithLabelValues(route, svc, status).Inc()
			m.Latency.WithLabelValues(route, svc, status).Observe(v.Latency.Seconds())
			attrs := []slog.Attr{
				slog.String("method", v.Method),
				slog.String("route", route), slog.Int("status", v.Status), slog.Float64("latency_ms", float64(v.Latency.Microseconds())/1000),
			}
			if svc != "" {
				attrs = append(attrs, slog.String("service", svc))
			}
			log.LogAttrs(c.Request().Context(), slog.LevelInfo, "request", attrs...)
			return nil
		},
	})
}

const claimsKey = "balint.claims"

// claimsOf returns the verified caller of a request, if any.
func claimsOf(c echo.Context) *auth.Claims {
	cl, _ := c.Get(claimsKey).(*auth.Claims)
	return cl
}

// authenticate rejects calls without a valid EHR token with 401. aud may
// name the discovery URL or the endpoint called under it.
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		endpoint := ""
		if id := c.Param("id"); id != "" {
			endpoint = "/" + id
			if strings.HasSuffix(c.Path(), "/feedback") {
				endpoint += "/feedback"
			}
		}
		ip := c.RealIP()
		if s.failures.blocked(ip) {
			// Failed authentications from this address are over their rate:
			// no signature work for it until they are back under.
			s.d.Metrics.JWTRejections.WithLabelValues("failures_rate_limited").Inc()
			c.Response().Header().Set("Retry-After", "1")
			return c.JSON(http.StatusTooManyRequests, ErrorBody{Error: "rate limit exceeded"})
		}
		cl, err := s.d.Auth.Verify(c.Request().Context(), c.Request().Header.Get("Authorization"), endpoint)
		if err != nil {
			reason := auth.RejectReason(err)
			if reason == "" {
				return writeError(c, err)
			}
			s.failures.failed(ip)
			return s.unauthorized(c, reason)
		}
		c.Set(claimsKey, cl)
		s.d.Logger.LogAttrs(c.Request().Context(), slog.LevelDebug, "caller verified",
			slog.String("iss", cl.Issuer), slog.String("jti", cl.JTI), slog.String("tenant", cl.Tenant))
		return next(c)
	}
}

// unauthorized answers 401 with the reason counted and logged; the caller
// only ever sees a generic message.
func (s *Server) unauthorized(c echo.Context, reason string) error {
	s.d.Metrics.JWTRejections.WithLabelValues(reason).Inc()
	s.d.Logger.LogAttrs(c.Request().Context(), slog.LevelWarn, "caller rejected", slog.String("reason", reason))
	c.Response().Header().Set("WWW-Authenticate", `Bearer realm="balint", error="invalid_token"`)
	return c.JSON(http.StatusUnauthorized, ErrorBody{Error: "a valid EHR-signed bearer token is required"})
}

// rateLimit limits per verified issuer, else per client IP. It runs after
// authentication so a flood of bad tokens is counted against the IP.
func rateLimit(r float64, burst int) echo.MiddlewareFunc {
	return middleware.RateLimiterWithConfig(middleware.RateLimiterConfig{
		Store: middleware.NewRateLimiterMemoryStoreWithConfig(middleware.RateLimiterMemoryStoreConfig{
			Rate: rate.Limit(r), Burst: burst, ExpiresIn: 10 * time.Minute,
		}),
		IdentifierExtractor: func(c echo.Context) (string, error) {
			if cl := claimsOf(c); cl != nil {
				return "iss:" + cl.Issuer, nil
			}
			return "ip:" + c.RealIP(), nil
		},
		ErrorHandler: func(c echo.Context, err error) error {
			return c.JSON(http.StatusForbidden, ErrorBody{Error: "caller could not be identified"})
		},
		DenyHandler: func(c echo.Context, id string, err error) error {
			c.Response().Header().Set("Retry-After", "1")
			return c.JSON(http.StatusTooManyRequests, ErrorBody{Error: "rate limit exceeded"})
		},
	})
}

// authFailures rate-limits failed authentications per client address. A
// caller whose tokens keep failing is answered 429 before any signature
// is checked (3,000 bad signatures cost seconds of CPU); callers that
// authenticate spend nothing from it. Addresses are held in a bounded
// cache, so a flood from many addresses cannot grow it.
type authFailures struct {
	cache *otter.Cache[string, *rate.Limiter]
	rate  rate.Limit
	burst int
}

func newAuthFailures(r float64, burst int) *authFailures {
	if r <= 0 {
		return nil
	}
	c, err := otter.New(&otter.Options[string, *rate.Limiter]{
		MaximumSize:      100_000,
		ExpiryCalculator: otter.ExpiryAccessing[string, *rate.Limiter](10 * time.Minute),
	})
	if err != nil {
		// Only invalid options fail, and these are constant.
		panic("http: failure limiter: " + err.Error())
	}
	return &authFailures{cache: c, rate: rate.Limit(r), burst: burst}
}

func (f *authFailures) blocked(ip string) bool {
	if f == nil {
		return false
	}
	l, ok := f.cache.GetIfPresent(ip)
	return ok && l.Tokens() < 1
}

func (f *authFailures) failed(ip string) {
	if f == nil {
		return
	}
	l, _ := f.cache.Compute(ip, func(old *rate.Limiter, found bool) (*rate.Limiter, otter.ComputeOp) {
		if found {
			return old, otter.CancelOp
		}
		return rate.NewLimiter(f.rate, f.burst), otter.WriteOp
	})
	l.Allow()
}
