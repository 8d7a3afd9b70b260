package client

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// BackendServices gets access tokens with the SMART Backend Services
// client-credentials flow (a JWT assertion signed with the client's private
// key) and caches each until shortly before it expires.
type BackendServices struct {
	HTTP     *http.Client
	TokenURL string
	ClientID string
	Scope    string
	Key      crypto.Signer
	KeyID    string
	Now      func() time.Time

	mu      sync.Mutex
	token   string
	expires time.Time
}

// ParsePrivateKey reads an RSA or EC private key in PEM.
func ParsePrivateKey(pemBytes []byte) (crypto.Signer, error) {
	if k, err := jwt.ParseRSAPrivateKeyFromPEM(pemBytes); err == nil {
		return k, nil
	}
	if k, err := jwt.ParseECPrivateKeyFromPEM(pemBytes); err == nil {
		return k, nil
	}
	return nil, fmt.Errorf("backend services key: not an RSA or EC private key in PEM")
}

func (b *BackendServices) now() time.Time {
	if b.Now != nil {
		return b.Now()
	}
	return time.Now()
}

// Token returns a cached token or fetches a new one.
func (b *BackendServices) Token(ctx context.Context) (string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.token != "" && b.now().Before(b.expires) {
		return b.token, nil
	}
	assertion, err := b.assertion()
	if err != nil {
		return "", err
	}
	form := url.Values{
		"grant_type":            {"client_credentials"},
		"scope":                 {b.Scope},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion":      {assertion},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", fmt.Errorf("backend services: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := b.HTTP.Do(req)
	if err != nil {
		return "", fmt.Errorf("backend services: token request: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", fmt.Errorf("backend services: token response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("backend services: token endpoint answered HTTP %d", resp.StatusCode)
	}
	var tr struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	if err := json.Unmarshal(body, &tr); err != nil || tr.AccessToken == "" {
		return "", fmt.Errorf("backend services: token response has no access_token")
	}
	if tr.ExpiresIn <= 0 {
		tr.ExpiresIn = 300
	}
	// Renew a little early so a token never expires mid-hook.
	b.token = tr.AccessToken
	b.expires = b.now().Add(time.Duration(tr.ExpiresIn)*time.Second - 30*time.Second)
	return b.token, nil
}

func (b *BackendServices) assertion() (string, error) {
	var method jwt.SigningMethod
	switch b.Key.(type) {
	case *rsa.PrivateKey:
		method = jwt.SigningMethodRS384
	case *ecdsa.PrivateKey:
		method = jwt.SigningMethodES384
	default:
		return "", fmt.Errorf("backend services: unsupported key type %T", b.Key)
	}
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", fmt.Errorf("backend services: jti: %w", err)
	}
	now := b.now()
	t := jwt.NewWithClaims(method, jwt.RegisteredClaims{
		Issuer:    b.ClientID,
		Subject:   b.ClientID,
		Audience:  jwt.ClaimStrings{b.TokenURL},
		ExpiresAt: jwt.NewNumericDate(now.Add(5 * time.Minute)),
		IssuedAt:  jwt.NewNumericDate(now),
		ID:        hex.EncodeToString(jti),
	})
	if b.KeyID != "" {
		t.Header["kid"] = b.KeyID
	}
	s, err := t.SignedString(b.Key)
	if err != nil {
		return "", fmt.Errorf("backend services: sign assertion: %w", err)
	}
	return s, nil
}

// BaseKey is how a FHIR base names its backend token source: without a
// trailing slash.
func BaseKey(base string) string { return strings.TrimRight(base, "/") }
