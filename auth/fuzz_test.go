package auth_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/balint-health/balint/auth"
	"github.com/balint-health/balint/testing/ehr"
)

func FuzzVerify(f *testing.F) {
	e := ehr.New(f, "https://ehr.example")
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	replay := testStore(f)
	auth, err := auth.NewAuthenticator(context.Background(), auth.Config{
		Issuers:  []auth.Issuer{{ID: e.Issuer, JWKSURL: e.JWKSURL}},
		Audience: "https://balint.example/cds-services", Algorithms: []string{"ES384", "RS384"}, Replay: replay, Now: func() time.Time { return now },
	})
	if err != nil {
		f.Fatal(err)
	}
	valid := e.Sign(f, e.Valid("https://balint.example/cds-services", now), nil, nil, nil)
	f.Add("Bearer " + valid)
	f.Add("Bearer " + e.Sign(f, e.Valid("https://other", now), jwt.SigningMethodRS384, e.RSA, map[string]any{"kid": "rsa-1"}))
	f.Add("Bearer eyJhbGciOiJub25lIn0.eyJpc3MiOiJodHRwczovL2Voci5leGFtcGxlIn0.")
	f.Add("Basic dXNlcjpwYXNz")
	f.Fuzz(func(t *testing.T, header string) {
		cl, err := auth.Verify(context.Background(), header, "/svc")
		if err == nil && cl == nil {
			t.Fatal("no error and no claims")
		}
		// Only the seed token can ever be valid, and only once.
		if err == nil && strings.TrimPrefix(header, "Bearer ") != valid {
			t.Fatalf("accepted %q", header)
		}
	})
}
