package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/balint-health/balint/fhir/client"
)

// Env lists every environment variable, its default and meaning: the one
// place a default is written (limits not configurable here keep theirs in
// client.DefaultLimits). The README's configuration table is checked
// against it by a test.
var Env = []struct{ Name, Default, Meaning string }{
	{"BALINT_ADDR", ":8080", "listen address (127.0.0.1:8080 when development mode is on by default, see BALINT_DEV)"},
	{"BALINT_ADMIN_ADDR", "", "when set (e.g. :9090), /metrics and /readyz are served there and not on the public port (point Prometheus and the readiness probe at it)"},
	{"BALINT_BASE_URL", "", "public URL of the service: JWT audience is BASE_URL/cds-services; card and evidence links start with it. Unset: http:// and the listen address (localhost for all interfaces)"},
	{"DATABASE_URL", "", "Postgres URL (postgres://...); when empty, SQLite at BALINT_SQLITE_PATH"},
	{"BALINT_SQLITE_PATH", "balint.db", "SQLite file for feedback, snoozes and evidence snapshots"},
	{"BALINT_POLICY", "", "YAML policy file replacing the embedded default (thresholds, windows, code sets, CEL criteria)"},
	{"BALINT_TERMINOLOGY_URL", "", "FHIR terminology server base URL: the policy's value sets (isa/ SNOMED codes) are expanded there with ValueSet/$expand at start and then every BALINT_TERMINOLOGY_REFRESH, kept in the database, and the shipped expansions used when it cannot be reached"},
	{"BALINT_TERMINOLOGY_REFRESH", "24h", "how often the value sets are expanded again"},
	{"BALINT_TIMEZONE", "UTC", "the site's time zone (IANA name, e.g. Europe/London): date-only values in records are its calendar days, and ages and windows are counted in it"},
	{"BALINT_ISSUERS", "", "YAML file listing EHR issuers: iss, jwks_url, fhir_servers"},
	{"BALINT_FHIR_ALLOW", "", "comma-separated FHIR server base URLs that unsigned development-mode calls may name; in production Balint calls only the calling issuer's own fhir_servers (BALINT_ISSUERS), and this list adds nothing"},
	{"BALINT_ALLOW_LOOPBACK_FHIR", "false", "allow http://127.0.0.1 / localhost FHIR servers (tests, demo)"},
	{"BALINT_BACKEND_SERVICES", "", "YAML file of SMART Backend Services credentials per FHIR server (fhir_server, token_url, client_id, scope, key_file, key_id)"},
	{"BALINT_DEV", "", "development mode: unsigned calls accepted, loopback FHIR allowed, demo on, a warning at start. Unset: on only for a bare `go run` (neither BALINT_ISSUERS nor BALINT_ADDR set), listening on 127.0.0.1 only; the image sets false"},
	{"BALINT_DEMO", "false", "serve the embedded demo patients to hooks that name no fhirServer and prefetch nothing"},
	{"BALINT_PUBLIC_DISCOVERY", "true", "serve GET /cds-services without a JWT"},
	{"BALINT_JWT_ALGORITHMS", "ES384,RS384", "allowed EHR JWT algorithms (none and HS* are always refused)"},
	{"BALINT_JWT_MAX_LIFETIME", "1h", "longest EHR JWT lifetime accepted (exp - iat); each jti is remembered until its token expires"},
	{"BALINT_HOOK_TIMEOUT", "5s", "deadline of a hook call"},
	{"BALINT_FHIR_BUDGET", "4s", "deadline for reading a history from the FHIR server"},
	{"BALINT_FHIR_PAGE_SIZE", strconv.Itoa(client.DefaultLimits.PageSize), "_count sent on FHIR searches (fewer, larger pages: each page is a round trip, and servers cap _count themselves)"},
	{"BALINT_FHIR_MAX_PAGES", strconv.Itoa(client.DefaultLimits.MaxPages), "most pages followed for one query"},
	{"BALINT_FHIR_MAX_RESOURCES", strconv.Itoa(client.DefaultLimits.MaxResources), "most resources accepted for one history"},
	{"BALINT_FHIR_MAX_PAGE_MB", strconv.Itoa(int(client.DefaultLimits.MaxPageBytes >> 20)), "most MiB read from one FHIR response"},
	{"BALINT_FHIR_MAX_HISTORY_MB", strconv.Itoa(int(client.DefaultLimits.MaxHistoryBytes >> 20)), "most MiB read from the FHIR server for one history, all responses together (a server streaming more fails the hook with 412)"},
	{"BALINT_FHIR_CACHE_TTL", "5m", "how long pages fetched from a FHIR server are reused by later hooks with the same issuer, server, patient and access token (never past the token's expires_in); 0 disables"},
	{"BALINT_FHIR_CACHE_MB", "256", "memory for those pages, in MiB"},
	{"BALINT_INFLIGHT_MB", "", "memory for hook calls in flight, in MiB: each call reserves 4 bytes for every byte of JSON it reads (body, FHIR responses), queues up to a fifth of BALINT_HOOK_TIMEOUT when that is spent, then gets 503 with Retry-After. Unset: GOMEMLIMIT (set at start to 90% of the container's memory limit) less 64 MiB and BALINT_FHIR_CACHE_MB; 1024 with no limit"},
	{"BALINT_EVIDENCE_TTL", "8h", "how long an evidence link works (a clinic session)"},
	{"BALINT_SMART_LAUNCH_URL", "", "when set, the evidence link is a SMART app link to this launch URL, with the signed page URL as appContext; otherwise an absolute link"},
	{"BALINT_BODY_LIMIT", "16M", "largest request body (413 beyond)"},
	{"BALINT_CORS_ORIGINS", "", "comma-separated origins allowed by CORS (off when empty)"},
	{"BALINT_RATE_LIMIT", "50", "requests per second per issuer (per IP when unauthenticated); 0 disables"},
	{"BALINT_RATE_BURST", "100", "rate limit bucket size"},
	{"BALINT_TRUSTED_PROXIES", "", "comma-separated CIDRs whose X-Forwarded-For is trusted for the client IP"},
	{"BALINT_TIMER_SLACK", "1ms", "Linux timer slack of the service's threads, 0 to 10ms (0 leaves the inherited value): how late the kernel may end their sleeps. Go's monitor thread then wakes less often while calls run, which took a sixth to a quarter off a typical call's CPU here (docs/performance.md). To set it, the binary executes itself again once at start"},
	{"BALINT_LOG_LEVEL", "info", "debug, info, warn or error"},
	{"OTEL_EXPORTER_OTLP_ENDPOINT", "", "OTLP/HTTP endpoint; traces are exported when set"},
}

// maxTimerSlack bounds BALINT_TIMER_SLACK: the runtime's monitor backs
// off to one wake-up in 10 ms by itself when idle, and more slack than
// that would only make timers late.
const maxTimerSlack = 10 * time.Millisecond

// configure reads the environment, then flags.
func configure(args []string, getenv func(string) string) (Config, string, slog.Level, error) {
	cfg := Config{Limits: client.DefaultLimits}
	get := func(name string) string {
		if v := getenv(name); v != "" {
			return v
		}
		for _, e := range Env {
			if e.Name == name {
				return e.Default
			}
		}
		return ""
	}
	var errs []string
	boolean := func(name string) bool {
		b, err := strconv.ParseBool(get(name))
		if err != nil {
			errs = append(errs, name+": not a boolean")
		}
		return b
	}
	duration := func(name string) time.Duration {
		d, err := time.ParseDuration(get(name))
		if err != nil || d <= 0 {
			errs = append(errs, name+": not a positive duration (e.g. 5s)")
		}
		return d
	}
	integer := func(name string) int {
		n, err := strconv.Atoi(get(name))
		if err != nil || n < 0 {
			errs = append(errs, name+": not a whole number")
		}
		return n
	}
	addr := get("BALINT_ADDR")
	cfg.BaseURL = strings.TrimRight(get("BALINT_BASE_URL"), "/")
	cfg.AdminAddr = get("BALINT_ADMIN_ADDR")
	cfg.DatabaseURL = get("DATABASE_URL")
	cfg.SQLitePath = get("BALINT_SQLITE_PATH")
	cfg.PolicyPath = get("BALINT_POLICY")
	cfg.TerminologyURL = strings.TrimRight(get("BALINT_TERMINOLOGY_URL"), "/")
	if cfg.TerminologyURL != "" {
		if u, err := url.Parse(cfg.TerminologyURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			errs = append(errs, "BALINT_TERMINOLOGY_URL: not an http(s) URL")
		}
	}
	cfg.TerminologyRefresh = duration("BALINT_TERMINOLOGY_REFRESH")
	if loc, err := time.LoadLocation(get("BALINT_TIMEZONE")); err != nil {
		errs = append(errs, "BALINT_TIMEZONE: not an IANA time zone name (e.g. Europe/London)")
	} else {
		cfg.Zone = loc
	}
	cfg.FHIRAllow = list(get("BALINT_FHIR_ALLOW"))
	cfg.AllowLoopbackFHIR = boolean("BALINT_ALLOW_LOOPBACK_FHIR")
	// A bare run (nothing configured) is local development on loopback; a
	// configured one (an address or issuers, as the image and manifests
	// set) never falls into development mode by itself.
	autoDev := getenv("BALINT_DEV") == "" && getenv("BALINT_ISSUERS") == "" && getenv("BALINT_ADDR") == ""
	if getenv("BALINT_DEV") != "" {
		cfg.Dev = boolean("BALINT_DEV")
	}
	if autoDev {
		cfg.Dev, addr = true, "127.0.0.1:8080"
	}
	cfg.Demo = boolean("BALINT_DEMO")
	cfg.PublicDiscovery = boolean("BALINT_PUBLIC_DISCOVERY")
	cfg.Algorithms = list(get("BALINT_JWT_ALGORITHMS"))
	cfg.JWTMaxLifetime = duration("BALINT_JWT_MAX_LIFETIME")
	cfg.HookTimeout = duration("BALINT_HOOK_TIMEOUT")
	cfg.FHIRBudget = duration("BALINT_FHIR_BUDGET")
	cfg.EvidenceTTL = duration("BALINT_EVIDENCE_TTL")
	cfg.SMARTLaunchURL = get("BALINT_SMART_LAUNCH_URL")
	cfg.Limits.PageSize = integer("BALINT_FHIR_PAGE_SIZE")
	cfg.Limits.MaxPages = integer("BALINT_FHIR_MAX_PAGES")
	cfg.Limits.MaxResources = integer("BALINT_FHIR_MAX_RESOURCES")
	cfg.Limits.MaxPageBytes = int64(integer("BALINT_FHIR_MAX_PAGE_MB")) << 20
	cfg.Limits.MaxHistoryBytes = int64(integer("BALINT_FHIR_MAX_HISTORY_MB")) << 20
	if d, err := time.ParseDuration(get("BALINT_FHIR_CACHE_TTL")); err != nil || d < 0 {
		errs = append(errs, "BALINT_FHIR_CACHE_TTL: not a duration (e.g. 5m, or 0 to disable)")
	} else {
		cfg.FHIRCacheTTL = d
	}
	cfg.FHIRCacheMB = integer("BALINT_FHIR_CACHE_MB")
	if get("BALINT_INFLIGHT_MB") != "" {
		cfg.InflightMB = integer("BALINT_INFLIGHT_MB")
	}
	cfg.BodyLimit = get("BALINT_BODY_LIMIT")
	cfg.CORSOrigins = list(get("BALINT_CORS_ORIGINS"))
	if r, err := strconv.ParseFloat(get("BALINT_RATE_LIMIT"), 64); err != nil || r < 0 {
		errs = append(errs, "BALINT_RATE_LIMIT: not a non-negative number")
	} else {
		cfg.RateLimit = r
	}
	cfg.RateBurst = integer("BALINT_RATE_BURST")
	for _, c := range list(get("BALINT_TRUSTED_PROXIES")) {
		_, n, err := net.ParseCIDR(c)
		if err != nil {
			errs = append(errs, "BALINT_TRUSTED_PROXIES: "+c+" is not a CIDR")
			continue
		}
		cfg.TrustedProxies = append(cfg.TrustedProxies, n)
	}
	if d, err := time.ParseDuration(get("BALINT_TIMER_SLACK")); err != nil || d < 0 || d > maxTimerSlack {
		errs = append(errs, "BALINT_TIMER_SLACK: not a duration from 0 to "+maxTimerSlack.String()+" (e.g. 1ms)")
	} else {
		cfg.TimerSlack = d
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(get("BALINT_LOG_LEVEL"))); err != nil {
		errs = append(errs, "BALINT_LOG_LEVEL: "+err.Error())
	}

	fs := flagSet(&cfg, &addr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, "", 0, err
		}
		return cfg, "", 0, &usageError{err}
	}
	// Links must lead where the service is served: with an address but no
	// public URL, the public URL is that address.
	baseGiven := getenv("BALINT_BASE_URL") != ""
	fs.Visit(func(f *flag.Flag) { baseGiven = baseGiven || f.Name == "base-url" })
	if !baseGiven {
		cfg.BaseURL = baseURLOf(addr)
	}
	if f := get("BALINT_ISSUERS"); f != "" {
		if err := readYAML(f, &cfg.Issuers); err != nil {
			errs = append(errs, "BALINT_ISSUERS: "+err.Error())
		}
	}
	if f := get("BALINT_BACKEND_SERVICES"); f != "" {
		if err := readYAML(f, &cfg.Backends); err != nil {
			errs = append(errs, "BALINT_BACKEND_SERVICES: "+err.Error())
		}
	}
	if len(errs) > 0 {
		return cfg, "", 0, fmt.Errorf("configuration: %s", strings.Join(errs, "; "))
	}
	return cfg, addr, level, nil
}

func readYAML(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	return dec.Decode(v)
}

func list(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// flagSet defines the command line's flags over cfg and addr.
func flagSet(cfg *Config, addr *string) *flag.FlagSet {
	fs := flag.NewFlagSet("balint", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(addr, "addr", *addr, "listen address (BALINT_ADDR)")
	fs.BoolVar(&cfg.Dev, "dev", cfg.Dev, "development mode (BALINT_DEV): no EHR authentication, demo on")
	fs.BoolVar(&cfg.Demo, "demo", cfg.Demo, "serve the embedded demo patients (BALINT_DEMO)")
	fs.StringVar(&cfg.PolicyPath, "policy", cfg.PolicyPath, "policy file (BALINT_POLICY)")
	fs.StringVar(&cfg.BaseURL, "base-url", cfg.BaseURL, "public URL for card and evidence links (BALINT_BASE_URL; default: the listen address)")
	return fs
}

// usageError is a command line that could not be read: exit status 2.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// usage is what --help prints: the flags, the variables a deployment sets
// first, and an example.
func usage() string {
	var cfg Config
	var addr string
	var b strings.Builder
	b.WriteString("balint: the Balint CDS Hooks service\n\nUsage:\n  balint [flags]\n  balint snooze list|clear PATIENT_ID   (see balint snooze --help)\n  balint scan EXPORT_DIR                (case finding over a Bulk Data export; see balint scan --help)\n\nFlags:\n")
	fs := flagSet(&cfg, &addr)
	fs.SetOutput(&b)
	fs.PrintDefaults()
	b.WriteString("\nMain variables (every one, with its default: README, Configuration):\n")
	for _, name := range []string{"BALINT_ISSUERS", "DATABASE_URL", "BALINT_BASE_URL", "BALINT_ADDR", "BALINT_POLICY", "BALINT_TIMEZONE", "BALINT_ADMIN_ADDR"} {
		for _, e := range Env {
			if e.Name == name {
				fmt.Fprintf(&b, "  %-20s %s\n", e.Name, e.Meaning)
			}
		}
	}
	b.WriteString("\nExample (production):\n  BALINT_ISSUERS=/etc/balint/issuers.yaml DATABASE_URL=postgres://balint@db/balint \\\n" +
		"  BALINT_BASE_URL=https://balint.hospital.example balint\n\nLocal development, demo patients:\n  balint --dev\n")
	return b.String()
}

// baseURLOf is the URL an address is served at: ":8080" is
// http://localhost:8080.
func baseURLOf(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}
