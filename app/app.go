package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"

	"github.com/balint-health/balint/cdshooks"
	"github.com/balint-health/balint/evidence"
	"github.com/balint-health/balint/fhir/client"
	"github.com/balint-health/balint/fhir/demo"
	"github.com/balint-health/balint/metrics"
	"github.com/balint-health/balint/rules"
	"github.com/balint-health/balint/server"
	"github.com/balint-health/balint/services"
	"github.com/balint-health/balint/store"
)

// Backend is SMART Backend Services credentials for one FHIR server.
type Backend struct {
	FHIRServer string `yaml:"fhir_server"`
	TokenURL   string `yaml:"token_url"`
	ClientID   string `yaml:"client_id"`
	Scope      string `yaml:"scope"`
	KeyFile    string `yaml:"key_file"`
	KeyID      string `yaml:"key_id"`
}

// Config is everything an instance is configured with.
type Config struct {
	// BaseURL is the public URL of this service (JWT audience is
	// BaseURL + "/cds-services"; links are absolute).
	BaseURL string
	// DatabaseURL is a Postgres URL; empty means SQLite at SQLitePath.
	DatabaseURL string
	SQLitePath  string
	// PolicyPath overrides the embedded default policy.
	PolicyPath string
	// FHIRAllow are allowed FHIR server bases besides the issuers' own.
	FHIRAllow         []string
	AllowLoopbackFHIR bool
	// Dev accepts unsigned calls (local development only).
	Dev bool
	// Demo serves the embedded demo patients to hooks that name no
	// fhirServer and prefetch nothing.
	Demo            bool
	Issuers         []cdshooks.Issuer
	Algorithms      []string
	PublicDiscovery bool
	HookTimeout     time.Duration
	FHIRBudget      time.Duration
	// FHIRCacheTTL and FHIRCacheMB bound the reuse of fetched pages
	// (client.Cache); a zero TTL disables it.
	FHIRCacheTTL   time.Duration
	FHIRCacheMB    int
	EvidenceTTL    time.Duration
	SMARTLaunchURL string
	BodyLimit      string
	CORSOrigins    []string
	RateLimit      float64
	RateBurst      int
	TrustedProxies []*net.IPNet
	Backends       []Backend
	Limits         client.Limits
	Now            func() time.Time
	Logger         *slog.Logger
}

// Defaults returns the configuration with no environment set.
func Defaults() Config {
	return Config{
		BaseURL:         "http://localhost:8080",
		SQLitePath:      "balint.db",
		PublicDiscovery: true,
		Algorithms:      []string{"ES384", "RS384"},
		HookTimeout:     5 * time.Second,
		FHIRBudget:      4 * time.Second,
		FHIRCacheTTL:    5 * time.Minute,
		FHIRCacheMB:     256,
		EvidenceTTL:     10 * time.Minute,
		BodyLimit:       "16M",
		RateLimit:       50,
		RateBurst:       100,
		Limits:          client.DefaultLimits,
	}
}

// App is a running instance's parts.
type App struct {
	Echo    *echo.Echo
	Handler http.Handler
	Store   *store.DB
	Metrics *metrics.Metrics
	Policy  *rules.Policy
	Engine  *services.Engine
	cancel  context.CancelFunc
}

// New builds an instance. It refuses an invalid policy or configuration
// with an error naming what is wrong.
func New(ctx context.Context, cfg Config) (*App, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
	log = slog.New(server.ContextHandler{Handler: log.Handler()})
	rawPolicy := rules.DefaultPolicyYAML()
	if cfg.PolicyPath != "" {
		b, err := os.ReadFile(cfg.PolicyPath)
		if err != nil {
			return nil, fmt.Errorf("BALINT_POLICY: %w", err)
		}
		rawPolicy = b
	}
	policy, err := rules.ParsePolicy(rawPolicy)
	if err != nil {
		return nil, fmt.Errorf("BALINT_POLICY %s: %w", cfg.PolicyPath, err)
	}
	if !cfg.Dev && len(cfg.Issuers) == 0 {
		return nil, errors.New("no EHR issuers configured (BALINT_ISSUERS): every call would be refused; configure issuers, or run with --dev for local development")
	}
	dbURL := cfg.DatabaseURL
	if dbURL == "" {
		dbURL = cfg.SQLitePath
	}
	st, err := store.Open(ctx, dbURL)
	if err != nil {
		return nil, err
	}
	a := &App{Store: st, Policy: policy, Metrics: metrics.New()}
	ctx, a.cancel = context.WithCancel(context.WithoutCancel(ctx))
	fail := func(err error) (*App, error) { a.Close(); return nil, err }

	httpClient := &http.Client{Transport: otelhttp.NewTransport(&http.Transport{
		Proxy:               nil, // FHIR calls never go through an environment proxy
		DialContext:         (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 3 * time.Second,
		// No ResponseHeaderTimeout: the history's deadline (FHIRBudget)
		// bounds every call and names the failure "deadline exceeded".
	})}
	allow := append([]string{}, cfg.FHIRAllow...)
	for _, iss := range cfg.Issuers {
		allow = append(allow, iss.FHIRServers...)
	}
	guard, err := client.NewGuard(allow, cfg.AllowLoopbackFHIR || cfg.Dev)
	if err != nil {
		return fail(fmt.Errorf("BALINT_FHIR_ALLOW: %w", err))
	}
	guard.AnyLoopback = cfg.Dev
	loader := &client.Loader{Guard: guard, HTTP: httpClient, Limits: cfg.Limits, Budget: cfg.FHIRBudget,
		Observe: a.Metrics.ObserveFHIR, Backend: map[string]client.TokenSource{}}
	for i, b := range cfg.Backends {
		pem, err := os.ReadFile(b.KeyFile)
		if err != nil {
			return fail(fmt.Errorf("backend services [%d]: key_file: %w", i, err))
		}
		key, err := client.ParsePrivateKey(pem)
		if err != nil {
			return fail(fmt.Errorf("backend services [%d]: %w", i, err))
		}
		if err := guard.Check(b.FHIRServer); err != nil {
			return fail(fmt.Errorf("backend services [%d]: fhir_server %s: %w", i, b.FHIRServer, err))
		}
		loader.Backend[client.BaseKey(b.FHIRServer)] = &client.BackendServices{HTTP: httpClient, TokenURL: b.TokenURL,
			ClientID: b.ClientID, Scope: b.Scope, Key: key, KeyID: b.KeyID, Now: cfg.Now}
	}
	if cfg.FHIRCacheTTL > 0 && cfg.FHIRCacheMB > 0 {
		if loader.Cache, err = client.NewCache(int64(cfg.FHIRCacheMB)<<20, cfg.FHIRCacheTTL, cfg.Now); err != nil {
			return fail(fmt.Errorf("FHIR cache: %w", err))
		}
		loader.Cache.OnLookup = a.Metrics.ObserveCache
	}
	if cfg.Demo || cfg.Dev {
		loader.Local = demo.New(cfg.Now)
	}
	pages := &evidence.Pages{Store: st, Secret: st.Secret(), BaseURL: cfg.BaseURL, TTL: cfg.EvidenceTTL, Now: cfg.Now}
	a.Engine = &services.Engine{Policy: policy, Loader: loader, Store: st, Pages: pages, Metrics: a.Metrics,
		Now: cfg.Now, BaseURL: cfg.BaseURL, SMARTLaunchURL: cfg.SMARTLaunchURL, Logger: log}
	hooks := &cdshooks.Handlers{
		Services: a.Engine.Services(), Feedback: a.Engine.Feedback, Logger: log,
		Since:           func() string { return services.Since(policy, cfg.Now()) },
		PublicDiscovery: cfg.PublicDiscovery,
	}
	if !cfg.Dev {
		var replay cdshooks.ReplayStore = st
		if !st.Postgres() {
			// One instance: an in-process cache is enough and cheaper.
			if replay, err = cdshooks.NewMemoryReplay(1_000_000); err != nil {
				return fail(err)
			}
		}
		hooks.Auth, err = cdshooks.NewAuthenticator(ctx, cdshooks.AuthConfig{
			Issuers: cfg.Issuers, Audience: cfg.BaseURL + "/cds-services", Algorithms: cfg.Algorithms,
			Replay: replay, HTTP: httpClient, Now: cfg.Now, Logger: log,
			OnReject: func(reason string) { a.Metrics.JWTRejections.WithLabelValues(reason).Inc() },
		})
		if err != nil {
			return fail(err)
		}
	}
	rulePage, err := server.RulePage(policy, rawPolicy)
	if err != nil {
		return fail(err)
	}
	a.Echo = server.New(server.Config{
		BodyLimit: cfg.BodyLimit, HookTimeout: cfg.HookTimeout, CORSOrigins: cfg.CORSOrigins,
		RateLimit: cfg.RateLimit, Burst: cfg.RateBurst, TrustedProxies: cfg.TrustedProxies,
	}, server.Deps{
		Hooks: hooks, Pages: pages, Metrics: a.Metrics, RulePage: rulePage, Logger: log,
		Ready: func(ctx context.Context) error { return st.Ping(ctx) },
	})
	a.Handler = otelhttp.NewHandler(a.Echo, "balint", otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string {
		return r.Method + " " + routeOf(r)
	}))
	return a, nil
}

// routeOf names a span by route, never by a URL that may carry an id or a
// token, and from a fixed set so span names stay bounded.
func routeOf(r *http.Request) string {
	switch p := r.URL.Path; {
	case strings.HasPrefix(p, evidence.Path):
		return evidence.Path + ":token"
	case strings.HasPrefix(p, "/cds-services/") && strings.HasSuffix(p, "/feedback"):
		return "/cds-services/:id/feedback"
	case strings.HasPrefix(p, "/cds-services/"):
		return "/cds-services/:id"
	case p == "/cds-services", p == "/healthz", p == "/readyz", p == "/metrics", p == "/rule":
		return p
	default:
		return "unmatched"
	}
}

// Close releases the store and background work.
func (a *App) Close() error {
	if a.cancel != nil {
		a.cancel()
	}
	return a.Store.Close()
}
