package evidence

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// ErrToken is any invalid, tampered or expired link token.
var ErrToken = errors.New("evidence link is invalid or expired")

const audience = "balint-evidence"

// Sign returns a token for snapshot id valid until exp.
func Sign(secret []byte, id string, now, exp time.Time) (string, error) {
	t := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{
		Subject:   id,
		Audience:  jwt.ClaimStrings{audience},
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(exp),
	})
	s, err := t.SignedString(secret)
	if err != nil {
		return "", fmt.Errorf("evidence: sign: %w", err)
	}
	return s, nil
}

// Verify returns the snapshot id of a valid token at now.
func Verify(secret []byte, token string, now time.Time) (string, error) {
	var claims jwt.RegisteredClaims
	_, err := jwt.ParseWithClaims(token, &claims, func(*jwt.Token) (any, error) { return secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithAudience(audience),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(func() time.Time { return now }),
	)
	if err != nil || claims.Subject == "" {
		return "", ErrToken
	}
	return claims.Subject, nil
}
