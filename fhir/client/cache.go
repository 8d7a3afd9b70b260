package client

import (
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/maypok86/otter/v2"
)

// Cache keeps what FHIR searches returned so that the later hooks of one EHR
// session (patient-view, then order-select for the same patient) do not
// fetch the same history again. An entry is reused only by a call with the
// same issuer, fhirServer, patient, access token and query, and only until
// the earlier of TTL and the expiry of that token: data fetched under one
// grant never serves another. Pages are kept as the server sent them and
// decoded again on reuse (decoding is cheap beside the network).
type Cache struct {
	c   *otter.Cache[string, cached]
	ttl time.Duration
	now func() time.Time
	// OnLookup, if set, is told of every lookup (for metrics).
	OnLookup func(hit bool)
}

type cached struct {
	pages [][]byte
	until time.Time
}

// Scope is whose data a search is for.
type Scope struct {
	Issuer, Server, Patient, Token string
	// TokenExpires is when the access token lapses; zero means unknown,
	// and nothing is cached.
	TokenExpires time.Time
}

// NewCache returns a cache of at most maxBytes of pages, each kept at most
// ttl.
func NewCache(maxBytes int64, ttl time.Duration, now func() time.Time) (*Cache, error) {
	c, err := otter.New(&otter.Options[string, cached]{
		MaximumWeight: uint64(maxBytes),
		Weigher: func(_ string, v cached) uint32 {
			n := 0
			for _, p := range v.pages {
				n += len(p)
			}
			return uint32(min(n, 1<<31))
		},
		// Eviction by wall time; reuse is also checked against now, the
		// service's clock, in get.
		ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[string, cached]) time.Duration {
			return ttl
		}),
	})
	if err != nil {
		return nil, err
	}
	return &Cache{c: c, ttl: ttl, now: now}, nil
}

// key digests the scope and the query; the token is in it only as part of
// the digest.
func (s Scope) key(query string) string {
	h := sha256.New()
	for _, f := range []string{s.Issuer, s.Server, s.Patient, s.Token, query} {
		h.Write([]byte(f))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

func (c *Cache) usable(s Scope) bool {
	return c != nil && s.Token != "" && s.Patient != "" && c.now().Before(s.TokenExpires)
}

func (c *Cache) get(s Scope, query string) ([][]byte, bool) {
	if !c.usable(s) {
		return nil, false
	}
	v, ok := c.c.GetIfPresent(s.key(query))
	hit := ok && c.now().Before(v.until)
	if c.OnLookup != nil {
		c.OnLookup(hit)
	}
	return v.pages, hit
}

func (c *Cache) put(s Scope, query string, pages [][]byte) {
	if !c.usable(s) {
		return
	}
	until := c.now().Add(c.ttl)
	if s.TokenExpires.Before(until) {
		until = s.TokenExpires
	}
	c.c.Set(s.key(query), cached{pages: pages, until: until})
}
