package main

import (
	"crypto/elliptic"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	gojwt "github.com/golang-jwt/jwt/v5"

	"github.com/balint-health/balint/advice"
	"github.com/balint-health/balint/auth"
	"github.com/balint-health/balint/fhir"
	"github.com/balint-health/balint/testing/ehr"
)

// Request and JWT layouts of real CDS clients, replayed against a
// production-mode instance:
//
//   - the CDS Hooks sandbox (cds-hooks/sandbox, jwt-generator.js): ES256,
//     header {alg, typ, kid}, claims iss, aud (the service URL), exp = iat +
//     300, iat, jti; no sub, no tenant. ES256 is not one of the algorithms
//     CDS Hooks 2.0 requires, so a site that uses the sandbox adds it to
//     BALINT_JWT_ALGORITHMS; by default it is refused.
//   - Epic's published layout: RS384, header kid and jku, exp = iat + 900,
//     nbf = iat - 300.
//   - Inferno's CRD client: order-sign with draft orders and
//     fhirAuthorization, RS384 with kid and jku.
func TestReplayedClientLayouts(t *testing.T) {
	e := ehr.New(t, "https://sandbox.cds-hooks.org")
	es256 := e.AddEC(t, "d9cd3c4f-eb08-4304-b973-44f352fd2ca2", elliptic.P256())
	const fhirServer = "https://launch.smarthealthit.org/v/r4/fhir"
	in := start(t, func(c *Config) {
		c.Dev = false
		c.Issuers = []auth.Issuer{{ID: e.Issuer, JWKSURL: e.JWKSURL, FHIRServers: []string{fhirServer}}}
		c.Algorithms = []string{"ES384", "RS384", "ES256"}
	})
	now := testNow
	service := func(id string) string { return in.URL + "/cds-services/" + id }
	pre, _ := json.Marshal(fhir.Prefetch(demoRecord(t, "demo-pattern").OfType))
	fhirAuth := `"fhirServer":"` + fhirServer + `","fhirAuthorization":{"access_token":"some-opaque-fhir-access-token","token_type":"Bearer","expires_in":300,"scope":"patient/*.read user/*.read","subject":"cds-service4"}`

	sandboxBody := `{"hookInstance":"` + hookInstance + `",` + fhirAuth + `,"hook":"patient-view",` +
		`"context":{"userId":"Practitioner/COREPRACTITIONER1","patientId":"demo-pattern"},"prefetch":` + string(pre) + `}`
	inferno := strings.Replace(orderBody("order-sign", "demo-pattern", "58410-2"), `"hook":"order-sign",`, `"hook":"order-sign",`+fhirAuth+`,"prefetch":`+string(pre)+`,`, 1)
	epicClaims := func(aud string) gojwt.Claims {
		return gojwt.MapClaims{"iss": e.Issuer, "aud": aud, "iat": now.Unix(), "nbf": now.Add(-5 * time.Minute).Unix(),
			"exp": now.Add(15 * time.Minute).Unix(), "jti": "epic-" + aud, "sub": "client-id"}
	}
	tests := []struct {
		name, url, body string
		token           func() string
		cards           int
	}{
		{"CDS Hooks sandbox", service(advice.ReviewID), sandboxBody, func() string {
			tok := gojwt.NewWithClaims(gojwt.SigningMethodES256, gojwt.MapClaims{"iss": e.Issuer, "aud": service(advice.ReviewID),
				"exp": now.Add(5 * time.Minute).Unix(), "iat": now.Unix(), "jti": "8e7b2d9c-sandbox"})
			tok.Header["kid"] = "d9cd3c4f-eb08-4304-b973-44f352fd2ca2"
			s, err := tok.SignedString(es256)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}, 1},
		{"Epic", service(advice.ReviewID), strings.Replace(sandboxBody, "8e7b", "9f8c", 1), func() string {
			tok := gojwt.NewWithClaims(gojwt.SigningMethodRS384, epicClaims(service(advice.ReviewID)))
			tok.Header["kid"], tok.Header["jku"] = "rsa-1", e.JWKSURL
			s, _ := tok.SignedString(e.RSA)
			return s
		}, 1},
		{"Inferno CRD order-sign", service(advice.OrderSignID), inferno, func() string {
			tok := gojwt.NewWithClaims(gojwt.SigningMethodRS384, gojwt.MapClaims{"iss": e.Issuer, "aud": service(advice.OrderSignID),
				"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(), "jti": "inferno-1"})
			tok.Header["kid"], tok.Header["jku"] = "rsa-1", e.JWKSURL
			s, _ := tok.SignedString(e.RSA)
			return s
		}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if c := cardsOf(t, do(t, http.MethodPost, tt.url, tt.body, "Authorization", "Bearer "+tt.token())); len(c) != tt.cards {
				t.Fatalf("%d cards, want %d", len(c), tt.cards)
			}
		})
	}
	// The sandbox's ES256 with the default algorithms: refused, and why.
	def := start(t, func(c *Config) {
		c.Dev = false
		c.Issuers = []auth.Issuer{{ID: e.Issuer, JWKSURL: e.JWKSURL, FHIRServers: []string{fhirServer}}}
	})
	tok := gojwt.NewWithClaims(gojwt.SigningMethodES256, gojwt.MapClaims{"iss": e.Issuer, "aud": def.URL + "/cds-services/" + advice.ReviewID,
		"exp": now.Add(5 * time.Minute).Unix(), "iat": now.Unix(), "jti": "sandbox-default"})
	tok.Header["kid"] = "d9cd3c4f-eb08-4304-b973-44f352fd2ca2"
	s, _ := tok.SignedString(es256)
	if r := do(t, http.MethodPost, def.URL+"/cds-services/"+advice.ReviewID, sandboxBody, "Authorization", "Bearer "+s); r.Status != 401 {
		t.Fatalf("ES256 with the default algorithms: %d", r.Status)
	}
	if got := counter(t, def, "balint_jwt_rejections_total", `reason="alg_not_allowed"`); got != 1 {
		t.Fatalf("rejection not counted as alg_not_allowed: %v", got)
	}
}
