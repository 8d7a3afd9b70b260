package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"

	"github.com/balint-health/balint/fhir"
)

// Issuer is an EHR allowed to call Balint: its JWKS URL and the FHIR
// servers it may name in hook calls.
type Issuer struct {
	ID          string   `yaml:"iss" json:"iss"`
	JWKSURL     string   `yaml:"jwks_url" json:"jwks_url"`
	FHIRServers []string `yaml:"fhir_servers" json:"fhir_servers"`
}

// ReplayStore remembers JWT ids until they expire. UseJTI reports false on
// a replay.
type ReplayStore interface {
	UseJTI(ctx context.Context, issuer, jti string, expires, now time.Time) (bool, error)
}

// Config configures EHR authentication (CDS Hooks 2.0 "Trusting CDS
// Clients").
type Config struct {
	Issuers []Issuer
	// Audience is this service's discovery endpoint URL (BaseURL +
	// "/cds-services"). aud must name it or, per CDS Hooks, the endpoint
	// being called under it (".../cds-services/{id}", ".../{id}/feedback").
	Audience string
	// Algorithms allowed (required: the default is the service's
	// setting). none and HMAC are refused whatever is configured.
	Algorithms []string
	// MaxLifetime bounds exp - iat (default 1 hour: CDS Hooks sets no cap,
	// and Epic signs tokens that live 15 minutes).
	MaxLifetime time.Duration
	// Leeway for clock skew on exp and iat (default 30 s).
	Leeway time.Duration
	Replay ReplayStore
	HTTP   *http.Client
	Now    func() time.Time
	Logger *slog.Logger
}

// Claims are what a verified token tells about the caller.
type Claims struct {
	Issuer string
	JTI    string
	Tenant string
	issuer *Issuer
}

// Authenticator verifies EHR-signed JWTs.
type Authenticator struct {
	cfg  Config
	keys map[string]keyfunc.Keyfunc
}

// rejection is an authentication failure with a reason for metrics and
// logs; the client only ever sees a generic 401.
type rejection struct{ reason string }

func (r *rejection) Error() string { return "unauthorized: " + r.reason }

func reject(reason string) error { return &rejection{reason: reason} }

// RejectReason returns the reason code of an authentication failure.
func RejectReason(err error) string {
	var r *rejection
	if errors.As(err, &r) {
		return r.reason
	}
	return ""
}

// NewAuthenticator starts a JWKS client per issuer (keyfunc refreshes keys
// in the background and on an unknown kid, rate-limited).
func NewAuthenticator(ctx context.Context, cfg Config) (*Authenticator, error) {
	if len(cfg.Algorithms) == 0 {
		return nil, fmt.Errorf("auth: no algorithm allowed")
	}
	for _, a := range cfg.Algorithms {
		if a == "none" || strings.HasPrefix(a, "HS") {
			return nil, fmt.Errorf("auth: algorithm %s is not allowed for EHR tokens", a)
		}
	}
	if cfg.MaxLifetime == 0 {
		cfg.MaxLifetime = time.Hour
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.HTTP == nil {
		cfg.HTTP = &http.Client{Timeout: 5 * time.Second}
	}
	if cfg.Audience == "" {
		return nil, fmt.Errorf("auth: the audience (this service's URL) is required")
	}
	if cfg.Replay == nil {
		return nil, fmt.Errorf("auth: a replay store is required")
	}
	a := &Authenticator{cfg: cfg, keys: map[string]keyfunc.Keyfunc{}}
	noErr := true
	for i, iss := range cfg.Issuers {
		if iss.ID == "" || iss.JWKSURL == "" {
			return nil, fmt.Errorf("auth: issuers[%d]: iss and jwks_url are required", i)
		}
		u, err := url.Parse(iss.JWKSURL)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("auth: issuers[%d].jwks_url: not an absolute URL", i)
		}
		kf, err := keyfunc.NewDefaultOverrideCtx(ctx, []string{iss.JWKSURL}, keyfunc.Override{
			Client:                    cfg.HTTP,
			HTTPTimeout:               5 * time.Second,
			NoErrorReturnFirstHTTPReq: &noErr,
			RefreshInterval:           time.Hour,
			RefreshUnknownKID:         rate.NewLimiter(rate.Every(time.Minute), 1),
			RateLimitWaitMax:          time.Second,
			RefreshErrorHandlerFunc: func(string) func(context.Context, error) {
				return func(ctx context.Context, err error) {
					// Why, and where: never the key, never the response body.
					a.log().WarnContext(ctx, "JWKS refresh failed", slog.String("issuer", iss.ID),
						slog.String("host", u.Host), slog.String("why", jwksFailure(err)))
				}
			},
		})
		if err != nil {
			return nil, fmt.Errorf("auth: issuers[%d]: %w", i, err)
		}
		a.keys[iss.ID] = kf
	}
	return a, nil
}

var statusCode = regexp.MustCompile(`status code:? ?(\d{3})`)

// jwksFailure names why a JWKS could not be fetched, as a class: an HTTP
// status, a timeout, a refused connection, or an answer that is not a JWKS.
func jwksFailure(err error) string {
	var ne net.Error
	switch m := statusCode.FindStringSubmatch(err.Error()); {
	case m != nil:
		return "HTTP " + m[1]
	case errors.As(err, &ne) && ne.Timeout(), errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.As(err, &ne):
		return "connection failed"
	default:
		return "not a usable JWKS"
	}
}

func (a *Authenticator) log() *slog.Logger {
	if a.cfg.Logger != nil {
		return a.cfg.Logger
	}
	return slog.Default()
}

func (a *Authenticator) issuer(id string) *Issuer {
	for i := range a.cfg.Issuers {
		if a.cfg.Issuers[i].ID == id {
			return &a.cfg.Issuers[i]
		}
	}
	return nil
}

func audiences(discovery, endpoint string) []string {
	if endpoint == "" {
		return []string{discovery}
	}
	out := []string{discovery, discovery + endpoint}
	if svc, ok := strings.CutSuffix(endpoint, "/feedback"); ok {
		// Feedback is about the service's cards: a token for the service
		// endpoint is one for its feedback too.
		out = append(out, discovery+svc)
	}
	return out
}

type ehrClaims struct {
	jwt.RegisteredClaims
	Tenant string `json:"tenant,omitempty"`
}

// Verify checks an Authorization header value. endpoint is the path of
// the call below the discovery URL ("" for discovery, "/{id}" or
// "/{id}/feedback"); aud may name it or the discovery URL.
func (a *Authenticator) Verify(ctx context.Context, header, endpoint string) (*Claims, error) {
	// The scheme is case-insensitive (RFC 9110, section 11.1): "bearer"
	// and "BEARER" are Bearer.
	scheme, raw, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(raw) == "" {
		return nil, reject("missing_token")
	}
	raw = strings.TrimSpace(raw)
	var unverified ehrClaims
	tok, _, err := jwt.NewParser().ParseUnverified(raw, &unverified)
	if err != nil {
		return nil, reject("malformed")
	}
	if !slices.Contains(a.cfg.Algorithms, tok.Method.Alg()) {
		return nil, reject("alg_not_allowed")
	}
	iss := a.issuer(unverified.Issuer)
	if iss == nil {
		return nil, reject("unknown_issuer")
	}
	// The key comes only from the issuer's configured JWKS: a jku naming
	// anything else is refused before any request is made.
	if jku, present := tok.Header["jku"]; present {
		if s, _ := jku.(string); s != iss.JWKSURL {
			return nil, reject("jku_mismatch")
		}
	}
	now := a.cfg.Now()
	var claims ehrClaims
	_, err = jwt.ParseWithClaims(raw, &claims, a.keys[iss.ID].KeyfuncCtx(ctx),
		jwt.WithValidMethods(a.cfg.Algorithms),
		jwt.WithIssuer(iss.ID),
		jwt.WithAudience(audiences(a.cfg.Audience, endpoint)...),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(a.cfg.Leeway),
		jwt.WithTimeFunc(func() time.Time { return now }),
	)
	switch {
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		return nil, reject("bad_signature")
	case errors.Is(err, jwt.ErrTokenExpired):
		return nil, reject("expired")
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return nil, reject("iat_in_future")
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return nil, reject("wrong_audience")
	case err != nil:
		return nil, reject("invalid")
	}
	if claims.IssuedAt == nil {
		return nil, reject("iat_missing")
	}
	if claims.ExpiresAt.Sub(claims.IssuedAt.Time) > a.cfg.MaxLifetime {
		return nil, reject("lifetime_too_long")
	}
	if claims.ID == "" {
		return nil, reject("jti_missing")
	}
	fresh, err := a.cfg.Replay.UseJTI(ctx, iss.ID, claims.ID, claims.ExpiresAt.Add(a.cfg.Leeway), now)
	if err != nil {
		return nil, fmt.Errorf("auth: replay store: %w", err)
	}
	if !fresh {
		return nil, reject("replayed_jti")
	}
	return &Claims{Issuer: iss.ID, JTI: claims.ID, Tenant: claims.Tenant, issuer: iss}, nil
}

// AllowsServer reports whether the verified issuer may name fhirServer.
func (cl *Claims) AllowsServer(fhirServer string) bool {
	if fhirServer == "" {
		return true
	}
	u, err := url.Parse(fhirServer)
	if err != nil {
		return false
	}
	for _, s := range cl.issuer.FHIRServers {
		if b, err := url.Parse(s); err == nil && fhir.UnderBase(u, b) {
			return true
		}
	}
	return false
}
