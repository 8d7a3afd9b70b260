package http

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/balint-health/balint/auth"
	"github.com/balint-health/balint/metrics"
	"github.com/balint-health/balint/store"
	"github.com/balint-health/balint/testing/ehr"
	"github.com/balint-health/balint/testing/listen"
)

var now = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

type authEnv struct {
	url     string
	aud     string
	a, b    *ehr.EHR
	metrics *metrics.Metrics
}

func newAuthEnv(t *testing.T) *authEnv {
	env := &authEnv{a: ehr.New(t, "https://ehr-a.example"), b: ehr.New(t, "https://ehr-b.example"), metrics: metrics.New()}
	srv := httptest.NewUnstartedServer(nil)
	env.url = "http://" + srv.Listener.Addr().String()
	env.aud = env.url + "/cds-services"
	replay, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "replay.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { replay.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	authn, err := auth.NewAuthenticator(ctx, auth.Config{
		Issuers: []auth.Issuer{
			{ID: env.a.Issuer, JWKSURL: env.a.JWKSURL, FHIRServers: []string{"https://fhir-a.example/r4"}},
			{ID: env.b.Issuer, JWKSURL: env.b.JWKSURL, FHIRServers: []string{"https://fhir-b.example/r4"}},
		},
		Audience: env.aud, Algorithms: []string{"ES384", "RS384"}, Replay: replay, Now: func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	s := New(Config{BodyLimit: "1M", HookTimeout: 5 * time.Second},
		Deps{Advisor: stubAdvisor{}, Auth: authn, Metrics: env.metrics, Logger: slog.New(slog.DiscardHandler)})
	srv.Config.Handler = s.Handler
	srv.Start()
	t.Cleanup(srv.Close)
	return env
}

// rejections counts the 401s by reason so far.
func (env *authEnv) rejections(t *testing.T) map[string]float64 {
	out := map[string]float64{}
	mfs, err := env.metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "balint_jwt_rejections_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			out[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
		}
	}
	return out
}

func (env *authEnv) call(t *testing.T, token, fhirServer string) *http.Response {
	return env.callScheme(t, "Bearer", token, fhirServer)
}

func (env *authEnv) callScheme(t *testing.T, scheme, token, fhirServer string) *http.Response {
	body := `{"hook":"patient-view","hookInstance":"d1577c69-dfbe-44ad-ba6d-3e05e953b2ea","context":{"userId":"Practitioner/1","patientId":"1"}`
	if fhirServer != "" {
		body += `,"fhirServer":"` + fhirServer + `"`
	}
	body += "}"
	req, _ := http.NewRequest(http.MethodPost, env.url+"/cds-services/svc", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", scheme+" "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func TestJWTVerification(t *testing.T) {
	env := newAuthEnv(t)
	a := env.a
	evilSrv, evilConns := listen.Recording(t, http.NotFoundHandler())

	valid := func() ehr.Claims { return a.Valid(env.aud, now) }
	replayed := a.Sign(t, valid(), nil, nil, nil)
	if r := env.call(t, replayed, ""); r.StatusCode != 200 {
		t.Fatalf("first use of a valid token: %d", r.StatusCode)
	}

	tests := []struct {
		name, token, fhirServer, reason string
	}{
		{"alg none", func() string {
			s, _ := jwt.NewWithClaims(jwt.SigningMethodNone, valid()).SignedString(jwt.UnsafeAllowNoneSignatureType)
			return s
		}(), "", "alg_not_allowed"},
		{"HS256 signed with the public key bytes", a.Sign(t, valid(), jwt.SigningMethodHS256, a.PublicDER(), map[string]any{"kid": "rsa-1"}), "", "alg_not_allowed"},
		{"RS256 when only RS384/ES384 allowed", a.Sign(t, valid(), jwt.SigningMethodRS256, a.RSA, map[string]any{"kid": "rsa-1"}), "", "alg_not_allowed"},
		{"expired", a.Sign(t, func() ehr.Claims {
			c := valid()
			c.IssuedAt, c.ExpiresAt = jwt.NewNumericDate(now.Add(-6*time.Minute)), jwt.NewNumericDate(now.Add(-2*time.Minute))
			return c
		}(), nil, nil, nil), "", "expired"},
		{"lifetime over the 1-hour setting", a.Sign(t, func() ehr.Claims {
			c := valid()
			c.ExpiresAt = jwt.NewNumericDate(now.Add(time.Hour + time.Minute))
			return c
		}(), nil, nil, nil), "", "lifetime_too_long"},
		{"iat in the future", a.Sign(t, func() ehr.Claims {
			c := valid()
			c.IssuedAt, c.ExpiresAt = jwt.NewNumericDate(now.Add(2*time.Minute)), jwt.NewNumericDate(now.Add(5*time.Minute))
			return c
		}(), nil, nil, nil), "", "iat_in_future"},
		{"no iat", a.Sign(t, func() ehr.Claims { c := valid(); c.IssuedAt = nil; return c }(), nil, nil, nil), "", "iat_missing"},
		{"no exp", a.Sign(t, func() ehr.Claims { c := valid(); c.ExpiresAt = nil; return c }(), nil, nil, nil), "", "invalid"},
		{"no jti", a.Sign(t, func() ehr.Claims { c := valid(); c.ID = ""; return c }(), nil, nil, nil), "", "jti_missing"},
		{"wrong aud", a.Sign(t, func() ehr.Claims {
			c := valid()
			c.Audience = jwt.ClaimStrings{"https://other.example/cds-services"}
			return c
		}(), nil, nil, nil), "", "wrong_audience"},
		{"aud naming another service", a.Sign(t, func() ehr.Claims {
			c := valid()
			c.Audience = jwt.ClaimStrings{env.aud + "/other"}
			return c
		}(), nil, nil, nil), "", "wrong_audience"},
		{"unknown iss", a.Sign(t, func() ehr.Claims { c := valid(); c.Issuer = "https://stranger.example"; return c }(), nil, nil, nil), "", "unknown_issuer"},
		{"jku not configured", a.Sign(t, valid(), nil, nil, map[string]any{"jku": evilSrv.URL + "/jwks.json"}), "", "jku_mismatch"},
		{"unknown kid", a.Sign(t, valid(), nil, nil, map[string]any{"kid": "nobody"}), "", "bad_signature"},
		{"signed by another issuer's key", env.b.Sign(t, valid(), nil, nil, nil), "", "bad_signature"},
		{"replayed jti", replayed, "", "replayed_jti"},
		{"missing token", "", "", "missing_token"},
		{"garbage token", "not.a.jwt", "", "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := env.rejections(t)
			r := env.call(t, tt.token, tt.fhirServer)
			if r.StatusCode != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401", r.StatusCode)
			}
			if !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("WWW-Authenticate %q", r.Header.Get("WWW-Authenticate"))
			}
			after := env.rejections(t)
			for reason, n := range after {
				if d := n - before[reason]; (reason == tt.reason && d != 1) || (reason != tt.reason && d != 0) {
					t.Errorf("%g more rejections for %s, want %s once", d, reason, tt.reason)
				}
			}
			if after[tt.reason] == 0 {
				t.Errorf("not rejected for %s", tt.reason)
			}
		})
	}
	if n := evilConns.Load(); n != 0 {
		t.Fatalf("the unconfigured jku was contacted %d times", n)
	}

	for _, ok := range []struct{ name, token, fhir string }{
		{"ES384", a.Sign(t, valid(), nil, nil, nil), "https://fhir-a.example/r4"},
		{"RS384", a.Sign(t, valid(), jwt.SigningMethodRS384, a.RSA, map[string]any{"kid": "rsa-1"}), ""},
		{"jku equal to the configured JWKS", a.Sign(t, valid(), nil, nil, map[string]any{"jku": a.JWKSURL}), ""},
		// Epic's published layout: RS384 with kid and jku, a 15-minute
		// lifetime and nbf five minutes before iat.
		{"Epic's layout", a.Sign(t, func() ehr.Claims {
			c := valid()
			c.ExpiresAt, c.NotBefore = jwt.NewNumericDate(now.Add(15*time.Minute)), jwt.NewNumericDate(now.Add(-5*time.Minute))
			return c
		}(), jwt.SigningMethodRS384, a.RSA, map[string]any{"kid": "rsa-1", "jku": a.JWKSURL}), ""},
		{"aud naming the called service endpoint", a.Sign(t, func() ehr.Claims {
			c := valid()
			c.Audience = jwt.ClaimStrings{env.aud + "/svc"}
			return c
		}(), nil, nil, nil), ""},
		{"issuer B with its own server", env.b.Sign(t, env.b.Valid(env.aud, now), nil, nil, nil), "https://fhir-b.example/r4/"},
	} {
		if r := env.call(t, ok.token, ok.fhir); r.StatusCode != 200 {
			t.Errorf("valid %s token: %d", ok.name, r.StatusCode)
		}
	}
}

// RFC 9110 section 11.1: the authentication scheme is case-insensitive.
func TestBearerInAnyCase(t *testing.T) {
	env := newAuthEnv(t)
	for _, scheme := range []string{"bearer", "BEARER", "Bearer"} {
		tok := env.a.Sign(t, env.a.Valid(env.aud, now), nil, nil, nil)
		if r := env.callScheme(t, scheme, tok, ""); r.StatusCode != 200 {
			t.Errorf("%q: %d", scheme, r.StatusCode)
		}
	}
	if r := env.callScheme(t, "Basic", env.a.Sign(t, env.a.Valid(env.aud, now), nil, nil, nil), ""); r.StatusCode != 401 {
		t.Errorf("Basic scheme: %d", r.StatusCode)
	}
}

// A token whose aud is the service endpoint (as Epic writes it) is good
// for that service's feedback endpoint too; one for another service is not.
func TestFeedbackAudience(t *testing.T) {
	env := newAuthEnv(t)
	body := `{"feedback":[{"card":"0f0f0f0f-0f0f-4f0f-8f0f-0f0f0f0f0f0f","outcome":"accepted","outcomeTimestamp":"2026-11-25T10:00:00Z"}]}`
	for aud, want := range map[string]int{
		"/svc/feedback": 200, "/svc": 200, "": 200, "/other": 401,
	} {
		c := env.a.Valid(env.aud, now)
		c.Audience = jwt.ClaimStrings{env.aud + aud}
		req, _ := http.NewRequest(http.MethodPost, env.url+"/cds-services/svc/feedback", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+env.a.Sign(t, c, nil, nil, nil))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("aud %q on feedback: %d, want %d", env.aud+aud, resp.StatusCode, want)
		}
	}
}

func TestKeyRotation(t *testing.T) {
	env := newAuthEnv(t)
	k := env.a.Rotate(t, "ec-2")
	tok := env.a.Sign(t, env.a.Valid(env.aud, now), jwt.SigningMethodES384, k, map[string]any{"kid": "ec-2"})
	if r := env.call(t, tok, ""); r.StatusCode != 200 {
		t.Fatalf("token signed with a rotated-in key: %d", r.StatusCode)
	}
}
