package http

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/labstack/gommon/bytes"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"

	"github.com/balint-health/balint/advice"
	"github.com/balint-health/balint/auth"
	"github.com/balint-health/balint/cdshooks"
	"github.com/balint-health/balint/evidence"
	"github.com/balint-health/balint/fhir"
	"github.com/balint-health/balint/memory"
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
	// PublicDiscovery serves GET /cds-services without a JWT.
	PublicDiscovery bool
	// SeparateAdmin serves /metrics and /readyz on Server.Admin only (its
	// own address), not on the public port.
	SeparateAdmin bool
}

// Deps are the parts the server serves.
type Deps struct {
	Advisor Advisor
	// Auth, when set, requires an EHR-signed JWT on hook calls (and on
	// discovery unless PublicDiscovery); nil in development mode.
	Auth     *auth.Authenticator
	Pages    *evidence.Pages
	Metrics  *metrics.Metrics
	Ready    func(ctx context.Context) error
	RulePage []byte
	// Memory, when set, admits hook calls by the memory they will hold
	// (memory.Gate); nil admits every call.
	Memory *memory.Gate
	// Policy is the policy file in force, as written.
	Policy []byte
	Logger *slog.Logger
}

// Advisor is the use case behind the hook routes (advice.Advisor).
type Advisor interface {
	// Hook is the hook a service answers; false for an unknown id.
	Hook(serviceID string) (string, bool)
	Discovery() cdshooks.Discovery
	Answer(ctx context.Context, call *advice.Call) (*cdshooks.Response, error)
	// Feedback takes feedback from caller (advice.Caller: the verified
	// issuer and tenant, "" in development mode).
	Feedback(ctx context.Context, serviceID, caller string, fb []cdshooks.Feedback) error
}

// Server is the HTTP surface.
type Server struct {
	// Handler serves the routes, wrapped in tracing.
	Handler http.Handler
	// Admin serves /metrics, /readyz and /healthz when SeparateAdmin is
	// set; nil otherwise.
	Admin http.Handler

	cfg   Config
	d     Deps
	paths map[string]bool // the route table's paths
	// templates are the prefetch templates every service declares, built
	// once rather than on each hook call.
	templates map[string]string
	// failures limits failed authentications per address (nil: off).
	failures *authFailures
	// bodyLimit is Config.BodyLimit in bytes: what a call announcing no
	// length is admitted for.
	bodyLimit int64
}

// New builds the server: global middleware, then the route table.
func New(cfg Config, d Deps) *Server {
	s := &Server{cfg: cfg, d: d, templates: fhir.Templates(), failures: newAuthFailures(cfg.RateLimit, cfg.Burst)}
	s.bodyLimit, _ = bytes.Parse(cfg.BodyLimit)
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
	e.HTTPErrorHandler = s.errorHandler(d.Logger)
	e.JSONSerializer = jsonSerializer{}

	e.Use(middleware.RequestID())
	e.Use(withRequestID)
	e.Use(s.nameSpan)
	e.Use(s.observe(d.Metrics, d.Logger))
	e.Use(middleware.Recover())
	if len(cfg.CORSOrigins) > 0 {
		e.Use(middleware.CORSWithConfig(middleware.CORSConfig{
			AllowOrigins: cfg.CORSOrigins,
			AllowMethods: []string{http.MethodGet, http.MethodPost, http.MethodOptions},
			AllowHeaders: []string{echo.HeaderAuthorization, echo.HeaderContentType},
		}))
	}
	e.Use(middleware.BodyLimit(cfg.BodyLimit))
	s.paths = map[string]bool{}
	for _, r := range s.routes() {
		e.Add(r.Method, r.Path, r.handle, r.middleware...)
		s.paths[r.Path] = true
	}
	// The span is started before routing, under a placeholder name;
	// nameSpan renames it from the route table once echo has matched.
	s.Handler = otelhttp.NewHandler(e, "balint", otelhttp.WithSpanNameFormatter(func(string, *http.Request) string { return unmatched }))
	if cfg.SeparateAdmin {
		s.Admin = s.adminHandler()
	}
	return s
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
