package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"

	"github.com/balint-health/balint/advice"
	"github.com/balint-health/balint/auth"
	"github.com/balint-health/balint/cards"
	"github.com/balint-health/balint/evidence"
	"github.com/balint-health/balint/fhir/client"
	"github.com/balint-health/balint/fhir/demo"
	balinthttp "github.com/balint-health/balint/http"
	"github.com/balint-health/balint/memory"
	"github.com/balint-health/balint/metrics"
	"github.com/balint-health/balint/rules"
	"github.com/balint-health/balint/store"
	"github.com/balint-health/balint/terminology"
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

// Config is everything an instance is configured with. Its defaults are
// the Env table's (config.go), read by configure.
type Config struct {
	// BaseURL is the public URL of this service (JWT audience is
	// BaseURL + "/cds-services"; links are absolute).
	BaseURL string
	// DatabaseURL is a Postgres URL; empty means SQLite at SQLitePath.
	DatabaseURL string
	SQLitePath  string
	// AdminAddr, when set, is where /metrics and /readyz are served
	// instead of the public port.
	AdminAddr string
	// PolicyPath overrides the embedded default policy.
	PolicyPath string
	// Zone is the site's time zone; nil is UTC.
	Zone *time.Location
	// TerminologyURL is a FHIR terminology server that expands the
	// policy's value sets every TerminologyRefresh; "" uses the shipped
	// expansions.
	TerminologyURL     string
	TerminologyRefresh time.Duration
	// FHIRAllow are allowed FHIR server bases besides the issuers' own.
	FHIRAllow         []string
	AllowLoopbackFHIR bool
	// Dev accepts unsigned calls (local development only).
	Dev bool
	// Demo serves the embedded demo patients to hooks that name no
	// fhirServer and prefetch nothing.
	Demo            bool
	Issuers         []auth.Issuer
	Algorithms      []string
	PublicDiscovery bool
	// JWTMaxLifetime is the longest exp - iat accepted.
	JWTMaxLifetime time.Duration
	HookTimeout    time.Duration
	FHIRBudget     time.Duration
	// FHIRCacheTTL and FHIRCacheMB bound the reuse of fetched pages
	// (client.Cache); a zero TTL disables it.
	FHIRCacheTTL time.Duration
	FHIRCacheMB  int
	// TimerSlack is the process's timer slack (raiseTimerSlack); 0 leaves
	// it as inherited.
	TimerSlack time.Duration
	// InflightMB is the memory for hook calls in flight (memory.Gate); 0
	// derives it from the process's memory limit (inflightBytes).
	InflightMB     int
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

// parts are a running instance's parts.
type parts struct {
	Handler http.Handler
	// Admin serves /metrics and /readyz on BALINT_ADMIN_ADDR; nil when
	// they are on the public port.
	Admin   http.Handler
	Store   *store.DB
	Metrics *metrics.Metrics
	cancel  context.CancelFunc
}

// wire builds an instance from its configuration: store, policy, history
// loader, use case, authenticator, evidence pages and HTTP surface. It
// refuses an invalid policy or configuration with an error naming what is
// wrong.
func wire(ctx context.Context, cfg Config) (*parts, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
	log = slog.New(balinthttp.ContextHandler{Handler: log.Handler()})
	policy, rawPolicy, err := loadPolicy(cfg.PolicyPath)
	if err != nil {
		return nil, err
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
	p := &parts{Store: st, Metrics: metrics.New()}
	ctx, p.cancel = context.WithCancel(context.WithoutCancel(ctx))
	fail := func(err error) (*parts, error) { p.Close(); return nil, err }

	httpClient := &http.Client{Transport: otelhttp.NewTransport(&http.Transport{
		Proxy:               nil, // FHIR calls never go through an environment proxy
		DialContext:         (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 3 * time.Second,
		// No ResponseHeaderTimeout: the history's deadline (FHIRBudget)
		// bounds every call and names the failure "deadline exceeded".
	})}
	loader, err := wireLoader(cfg, httpClient, p.Metrics)
	if err != nil {
		return fail(err)
	}
	pages := &evidence.Pages{Store: st, Secret: st.Secret(), BaseURL: cfg.BaseURL, TTL: cfg.EvidenceTTL, Now: cfg.Now}
	advisor := &advice.Advisor{Policy: policy, Zone: cfg.Zone, Loader: loader, Store: st, Pages: pages, Metrics: p.Metrics,
		Now: cfg.Now, BaseURL: cfg.BaseURL, SMARTLaunchURL: cfg.SMARTLaunchURL, Logger: log}
	// The policy's value sets: expanded on the terminology server when one
	// is configured (now, then daily), else the kept or shipped expansions.
	refresher := &terminology.Refresher{Cache: st, Policy: policy, Apply: advisor.SetPolicy, Now: cfg.Now, Logger: log}
	if cfg.TerminologyURL != "" {
		refresher.Client = &terminology.Client{Base: cfg.TerminologyURL, HTTP: httpClient, Timeout: 10 * time.Second}
	}
	if err := refresher.Refresh(ctx); err != nil {
		return fail(fmt.Errorf("value sets: %w", err))
	}
	if refresher.Client != nil {
		go refresher.Run(ctx, cfg.TerminologyRefresh)
	}
	var authn *auth.Authenticator
	if !cfg.Dev {
		// Used JWT ids are kept in the database, SQLite or Postgres, until
		// their tokens expire: a restart or another replica still refuses
		// a replayed token.
		authn, err = auth.NewAuthenticator(ctx, auth.Config{
			Issuers: cfg.Issuers, Audience: cfg.BaseURL + "/cds-services", Algorithms: cfg.Algorithms, MaxLifetime: cfg.JWTMaxLifetime,
			Replay: st, HTTP: httpClient, Now: cfg.Now, Logger: log,
		})
		if err != nil {
			return fail(err)
		}
	}
	rulePage, err := cards.RulePage(policy)
	if err != nil {
		return fail(err)
	}
	srv := balinthttp.New(balinthttp.Config{
		BodyLimit: cfg.BodyLimit, HookTimeout: cfg.HookTimeout, CORSOrigins: cfg.CORSOrigins,
		RateLimit: cfg.RateLimit, Burst: cfg.RateBurst, TrustedProxies: cfg.TrustedProxies,
		PublicDiscovery: cfg.PublicDiscovery, SeparateAdmin: cfg.AdminAddr != "",
	}, balinthttp.Deps{
		Advisor: advisor, Auth: authn, Pages: pages, Metrics: p.Metrics, RulePage: rulePage, Policy: rawPolicy, Logger: log,
		Ready:  func(ctx context.Context) error { return st.Ping(ctx) },
		Memory: memory.NewGate(inflightBytes(cfg, debug.SetMemoryLimit(-1)), cfg.HookTimeout/5),
	})
	p.Handler, p.Admin = srv.Handler, srv.Admin
	return p, nil
}

// loadPolicy reads the policy file (BALINT_POLICY), or the embedded
// default for "", and returns it parsed and as written.
func loadPolicy(path string) (*rules.Policy, []byte, error) {
	raw := rules.DefaultPolicyYAML()
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, nil, fmt.Errorf("BALINT_POLICY: %w", err)
		}
		raw = b
	}
	policy, err := rules.ParsePolicy(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("BALINT_POLICY %s: %w", path, err)
	}
	return policy, raw, nil
}

// baseline is the memory the process holds with no call in flight (code,
// policy, connection pools, the runtime): 42-44 MiB of RSS in the soak of
// docs/performance.md, with room above it.
const baseline = 64 << 20

// inflightBytes is the memory the calls in flight may hold: the setting,
// or, under a memory limit (GOMEMLIMIT, which main sets to 90% of the
// container's limit), what the limit leaves after the baseline and the
// FHIR page cache; 1 GiB with no limit at all. Never below 32 MiB, so that
// an ordinary call is always admitted alone.
func inflightBytes(cfg Config, memLimit int64) int64 {
	if cfg.InflightMB > 0 {
		return int64(cfg.InflightMB) << 20
	}
	if memLimit <= 0 || memLimit == math.MaxInt64 {
		return 1 << 30
	}
	return max(memLimit-baseline-int64(cfg.FHIRCacheMB)<<20, 32<<20)
}

// wireLoader builds the history loader: the FHIR allowlist (the issuers'
// servers and BALINT_FHIR_ALLOW), SMART Backend Services credentials, the
// session cache and, in development or demo mode, the demo patients.
func wireLoader(cfg Config, httpClient *http.Client, m *metrics.Metrics) (*client.Loader, error) {
	allow := append([]string{}, cfg.FHIRAllow...)
	for _, iss := range cfg.Issuers {
		allow = append(allow, iss.FHIRServers...)
	}
	guard, err := client.NewGuard(allow, cfg.AllowLoopbackFHIR || cfg.Dev)
	if err != nil {
		return nil, fmt.Errorf("BALINT_FHIR_ALLOW: %w", err)
	}
	guard.AnyLoopback = cfg.Dev
	loader := &client.Loader{Guard: guard, HTTP: httpClient, Limits: cfg.Limits, Budget: cfg.FHIRBudget,
		Observe: m.ObserveFHIR, Backend: map[string]client.TokenSource{}}
	for i, b := range cfg.Backends {
		pem, err := os.ReadFile(b.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("backend services [%d]: key_file: %w", i, err)
		}
		key, err := client.ParsePrivateKey(pem)
		if err != nil {
			return nil, fmt.Errorf("backend services [%d]: %w", i, err)
		}
		if err := guard.Check(b.FHIRServer); err != nil {
			return nil, fmt.Errorf("backend services [%d]: fhir_server %s: %w", i, b.FHIRServer, err)
		}
		loader.Backend[client.BaseKey(b.FHIRServer)] = &client.BackendServices{HTTP: httpClient, TokenURL: b.TokenURL,
			ClientID: b.ClientID, Scope: b.Scope, Key: key, KeyID: b.KeyID, Now: cfg.Now}
	}
	if cfg.FHIRCacheTTL > 0 && cfg.FHIRCacheMB > 0 {
		if loader.Cache, err = client.NewCache(int64(cfg.FHIRCacheMB)<<20, cfg.FHIRCacheTTL, cfg.Now); err != nil {
			return nil, fmt.Errorf("FHIR cache: %w", err)
		}
		loader.Cache.OnLookup = m.ObserveCache
	}
	if cfg.Demo || cfg.Dev {
		loader.Local = demo.New(cfg.Now)
	}
	return loader, nil
}

// Close releases the store and background work.
func (p *parts) Close() error {
	if p.cancel != nil {
		p.cancel()
	}
	return p.Store.Close()
}
