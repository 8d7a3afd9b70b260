package server

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/time/rate"

	"github.com/balint-health/balint/cdshooks"
	"github.com/balint-health/balint/evidence"
	"github.com/balint-health/balint/metrics"
)

// Config is the HTTP configuration.
type Config struct {
	// BodyLimit is the largest request body, e.g. "16M".
	BodyLimit string
	// HookTimeout is the deadline of a hook call.
	HookTimeout time.Duration
	// CORSOrigins, when non-empty, enables CORS for these origins.
	CORSOrigins []string
	// RateLimit is requests per second per issuer (per client IP when
	// unauthenticated); Burst the bucket size. 0 disables.
	RateLimit float64
	Burst     int
	// TrustedProxies are CIDRs whose X-Forwarded-For is believed; with
	// none the peer address is the client IP.
	TrustedProxies []*net.IPNet
}

// Deps are the parts the server serves.
type Deps struct {
	Hooks    *cdshooks.Handlers
	Pages    *evidence.Pages
	Metrics  *metrics.Metrics
	Ready    func(ctx context.Context) error
	RulePage []byte
	Logger   *slog.Logger
}

// New builds the echo instance.
func New(cfg Config, d Deps) *echo.Echo {
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	if len(cfg.TrustedProxies) > 0 {
		var opts []echo.TrustOption
		for _, n := range cfg.TrustedProxies {
			opts = append(opts, echo.TrustIPRange(n))
		}
		e.IPExtractor = echo.ExtractIPFromXFFHeader(opts...)
	} else {
		e.IPExtractor = echo.ExtractIPDirect()
	}
	e.HTTPErrorHandler = errorHandler(d.Logger)
	e.JSONSerializer = jsonSerializer{}

	e.Use(middleware.RequestID())
	e.Use(withRequestID)
	e.Use(observe(d.Metrics, d.Logger, d.Hooks.Known))
	e.Use(middleware.Recover())
	if len(cfg.CORSOrigins) > 0 {
		e.Use(middleware.CORSWithConfig(middleware.CORSConfig{
			AllowOrigins: cfg.CORSOrigins,
			AllowMethods: []string{http.MethodGet, http.MethodPost, http.MethodOptions},
			AllowHeaders: []string{echo.HeaderAuthorization, echo.HeaderContentType},
		}))
	}
	e.Use(middleware.BodyLimit(cfg.BodyLimit))

	e.GET("/healthz", func(c echo.Context) error { return c.JSON(http.StatusOK, map[string]string{"status": "ok"}) })
	e.GET("/readyz", func(c echo.Context) error {
		ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
		defer cancel()
		if err := d.Ready(ctx); err != nil {
			return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "not ready", "error": err.Error()})
		}
		return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
	})
	e.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(d.Metrics.Registry, promhttp.HandlerOpts{})))
	e.GET("/rule", func(c echo.Context) error { return c.HTMLBlob(http.StatusOK, d.RulePage) })
	if d.Pages != nil {
		d.Pages.Register(e)
	}

	g := e.Group("/cds-services", middleware.ContextTimeoutWithConfig(middleware.ContextTimeoutConfig{
		Timeout: cfg.HookTimeout,
		ErrorHandler: func(err error, c echo.Context) error {
			return c.JSON(http.StatusServiceUnavailable, cdshooks.ErrorBody{Error: "the hook could not be answered in time"})
		},
	}))
	var extra []echo.MiddlewareFunc
	if cfg.RateLimit > 0 {
		extra = append(extra, rateLimit(cfg.RateLimit, cfg.Burst))
	}
	d.Hooks.Register(g, extra...)
	return e
}

// rateLimit limits per verified issuer, else per client IP. It runs after
// authentication so a flood of bad tokens is counted against the IP.
func rateLimit(r float64, burst int) echo.MiddlewareFunc {
	return middleware.RateLimiterWithConfig(middleware.RateLimiterConfig{
		Store: middleware.NewRateLimiterMemoryStoreWithConfig(middleware.RateLimiterMemoryStoreConfig{
			Rate: rate.Limit(r), Burst: burst, ExpiresIn: 10 * time.Minute,
		}),
		IdentifierExtractor: func(c echo.Context) (string, error) {
			if cl := cdshooks.ClaimsFrom(c); cl != nil {
				return "iss:" + cl.Issuer, nil
			}
			return "ip:" + c.RealIP(), nil
		},
		ErrorHandler: func(c echo.Context, err error) error {
			return c.JSON(http.StatusForbidden, cdshooks.ErrorBody{Error: "caller could not be identified"})
		},
		DenyHandler: func(c echo.Context, id string, err error) error {
			c.Response().Header().Set("Retry-After", "1")
			return c.JSON(http.StatusTooManyRequests, cdshooks.ErrorBody{Error: "rate limit exceeded"})
		},
	})
}

// observe logs each request (route pattern, never the URL) and counts it.
func observe(m *metrics.Metrics, log *slog.Logger, known func(string) bool) echo.MiddlewareFunc {
	return middleware.RequestLoggerWithConfig(middleware.RequestLoggerConfig{
		LogStatus: true, LogLatency: true, LogRoutePath: true, LogMethod: true,
		HandleError: true,
		LogValuesFunc: func(c echo.Context, v middleware.RequestLoggerValues) error {
			route := v.RoutePath
			if route == "" {
				route = "unmatched"
			}
			// Only known ids become label values, so metrics stay bounded.
			svc := c.Param("id")
			if svc != "" && !known(svc) {
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

func errorHandler(log *slog.Logger) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		code := http.StatusInternalServerError
		msg := "internal error"
		if he, ok := err.(*echo.HTTPError); ok {
			code = he.Code
			msg = http.StatusText(code)
			if code == http.StatusRequestEntityTooLarge {
				msg = "request body too large"
			}
		} else {
			log.LogAttrs(c.Request().Context(), slog.LevelError, "unhandled error", slog.String("route", c.Path()), slog.String("error", err.Error()))
		}
		_ = c.JSON(code, cdshooks.ErrorBody{Error: msg})
	}
}

// jsonSerializer writes JSON without HTML escaping, so FHIR queries in
// discovery read "&", not "\u0026".
type jsonSerializer struct{ echo.DefaultJSONSerializer }

func (jsonSerializer) Serialize(c echo.Context, i any, indent string) error {
	enc := json.NewEncoder(c.Response())
	enc.SetEscapeHTML(false)
	if indent != "" {
		enc.SetIndent("", indent)
	}
	return enc.Encode(i)
}
