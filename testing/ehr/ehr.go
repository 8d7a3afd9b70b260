// Package ehr plays an EHR in tests: it holds signing keys, serves their
// JWKS on loopback (recording every request), and mints CDS Hooks client
// JWTs, valid or broken in the ways an attacker would try.
package ehr

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// EHR is a fake EHR's signing side.
type EHR struct {
	Issuer  string
	JWKSURL string
	EC      *ecdsa.PrivateKey
	RSA     *rsa.PrivateKey
	// Requests counts JWKS fetches.
	Requests atomic.Int64

	mu   sync.Mutex
	keys []map[string]any
	srv  *httptest.Server
}

// New starts an EHR whose JWKS holds an ES384 key "ec-1" and an RS384 key
// "rsa-1".
func New(t testing.TB, issuer string) *EHR {
	t.Helper()
	e := &EHR{Issuer: issuer}
	var err error
	if e.EC, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	if e.RSA, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	e.keys = []map[string]any{ecJWK("ec-1", &e.EC.PublicKey), rsaJWK("rsa-1", &e.RSA.PublicKey)}
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.Requests.Add(1)
		e.mu.Lock()
		defer e.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"keys": e.keys})
	}))
	t.Cleanup(e.srv.Close)
	e.JWKSURL = e.srv.URL + "/.well-known/jwks.json"
	return e
}

// Rotate adds a new EC key under kid and returns it.
func (e *EHR) Rotate(t testing.TB, kid string) *ecdsa.PrivateKey {
	return e.AddEC(t, kid, elliptic.P384())
}

// AddEC adds an EC key on curve (P-256 for ES256, P-384 for ES384) under
// kid to the JWKS and returns it.
func (e *EHR) AddEC(t testing.TB, kid string, curve elliptic.Curve) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	e.mu.Lock()
	e.keys = append(e.keys, ecJWK(kid, &k.PublicKey))
	e.mu.Unlock()
	return k
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func ecJWK(kid string, k *ecdsa.PublicKey) map[string]any {
	size := (k.Curve.Params().BitSize + 7) / 8
	crv, alg := "P-384", "ES384"
	if k.Curve == elliptic.P256() {
		crv, alg = "P-256", "ES256"
	}
	return map[string]any{"kty": "EC", "crv": crv, "kid": kid, "use": "sig", "alg": alg,
		"x": b64(k.X.FillBytes(make([]byte, size))), "y": b64(k.Y.FillBytes(make([]byte, size)))}
}

func rsaJWK(kid string, k *rsa.PublicKey) map[string]any {
	return map[string]any{"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS384",
		"n": b64(k.N.Bytes()), "e": b64(big.NewInt(int64(k.E)).Bytes())}
}

// PublicDER is the RSA public key's bytes, for the HMAC-confusion attack.
func (e *EHR) PublicDER() []byte {
	b, _ := x509.MarshalPKIXPublicKey(&e.RSA.PublicKey)
	return b
}

// Claims are a token's claims before signing.
type Claims struct {
	jwt.RegisteredClaims
	Tenant string `json:"tenant,omitempty"`
}

// Valid returns claims a service at audience accepts now.
func (e *EHR) Valid(audience string, now time.Time) Claims {
	jti := make([]byte, 12)
	rand.Read(jti)
	return Claims{RegisteredClaims: jwt.RegisteredClaims{
		Issuer: e.Issuer, Subject: "ehr-client", Audience: jwt.ClaimStrings{audience},
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(4 * time.Minute)), ID: b64(jti),
	}, Tenant: "tenant-1"}
}

// Sign signs claims with the EC key ("ec-1") unless key and method say
// otherwise; header entries are added as given.
func (e *EHR) Sign(t testing.TB, c Claims, method jwt.SigningMethod, key any, header map[string]any) string {
	t.Helper()
	if method == nil {
		method, key = jwt.SigningMethodES384, e.EC
		if header == nil {
			header = map[string]any{}
		}
		if _, ok := header["kid"]; !ok {
			header["kid"] = "ec-1"
		}
	}
	tok := jwt.NewWithClaims(method, c)
	for k, v := range header {
		tok.Header[k] = v
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
