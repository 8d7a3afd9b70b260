package client

import (
	"context"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/balint-health/balint/synth"
	"github.com/balint-health/balint/testing/fhirserver"
)

// TestCacheReuse: a second hook of the same session (issuer, server,
// patient, token) reads nothing from the server; any other scope, an
// expired token or an aged entry fetches again.
func TestCacheReuse(t *testing.T) {
	s := fhirserver.Start(t)
	rec := synth.Generate(synth.Options{Seed: 12, Now: testNow, Pattern: true, Observations: 40})
	s.Load(t, rec)
	other := synth.Generate(synth.Options{Seed: 13, Now: testNow, PatientID: "other-1", Pattern: true})
	s.Load(t, other)

	now := testNow
	clock := func() time.Time { return now }
	cache, err := NewCache(64<<20, 5*time.Minute, clock)
	if err != nil {
		t.Fatal(err)
	}
	var hits, misses atomic.Int64
	cache.OnLookup = func(hit bool) {
		if hit {
			hits.Add(1)
		} else {
			misses.Add(1)
		}
	}
	l := testLoader(t, s.URL)
	l.Cache = cache
	var fetched atomic.Int64
	l.Observe = func(string, time.Duration, error) { fetched.Add(1) }

	req := func(patient, token string, expires time.Duration) Request {
		return Request{Server: s.URL, Queries: queries(patient), Issuer: "https://ehr.example", Patient: patient,
			Token: token, TokenExpires: now.Add(expires)}
	}
	load := func(r Request) (pages int64, resources int) {
		t.Helper()
		before := fetched.Load()
		h, err := l.Load(context.Background(), r)
		if err != nil {
			t.Fatal(err)
		}
		return fetched.Load() - before, h.Len()
	}

	first, n := load(req(rec.PatientID, "token-a", time.Hour))
	if first < 7 || n != len(rec.Resources) {
		t.Fatalf("first load: %d pages, %d resources (want >= 7, %d)", first, n, len(rec.Resources))
	}
	tests := []struct {
		name    string
		advance time.Duration
		req     Request
		fetches bool
	}{
		{"same session", 0, req(rec.PatientID, "token-a", time.Hour), false},
		{"same session a minute later", time.Minute, req(rec.PatientID, "token-a", time.Hour), false},
		{"another token", 0, req(rec.PatientID, "token-b", time.Hour), true},
		{"another patient", 0, req(other.PatientID, "token-a", time.Hour), true},
		{"another issuer", 0, func() Request {
			r := req(rec.PatientID, "token-a", time.Hour)
			r.Issuer = "https://other.example"
			return r
		}(), true},
		{"token lifetime unknown", 0, req(rec.PatientID, "token-a", 0), true},
		{"after the cache's TTL", 5 * time.Minute, req(rec.PatientID, "token-a", time.Hour), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now = now.Add(tt.advance)
			pages, got := load(tt.req)
			if (pages > 0) != tt.fetches {
				t.Fatalf("%d pages fetched, want fetching=%v", pages, tt.fetches)
			}
			if tt.req.Patient == rec.PatientID && got != n {
				t.Fatalf("%d resources, want %d", got, n)
			}
		})
	}

	// A token that lapses before the TTL ends reuse when it lapses.
	load(req(rec.PatientID, "token-c", 2*time.Minute))
	now = now.Add(time.Minute)
	if pages, _ := load(req(rec.PatientID, "token-c", time.Minute)); pages != 0 {
		t.Fatalf("within the token's lifetime: %d pages fetched", pages)
	}
	now = now.Add(90 * time.Second)
	if pages, _ := load(req(rec.PatientID, "token-c", time.Hour)); pages == 0 {
		t.Fatal("reused past the token's expiry")
	}
	if hits.Load() == 0 || misses.Load() == 0 {
		t.Fatalf("lookups: %d hits, %d misses", hits.Load(), misses.Load())
	}
}

// TestCachedHistoryIsTheSame: the history built from cached pages equals
// the one built from the server.
func TestCachedHistoryIsTheSame(t *testing.T) {
	s := fhirserver.Start(t)
	rec := synth.Generate(synth.Options{Seed: 14, Now: testNow, Pattern: true, Observations: 300})
	s.Load(t, rec)
	cache, err := NewCache(64<<20, time.Minute, func() time.Time { return testNow })
	if err != nil {
		t.Fatal(err)
	}
	l := testLoader(t, s.URL)
	l.Cache = cache
	r := Request{Server: s.URL, Queries: queries(rec.PatientID), Patient: rec.PatientID, Token: "t", TokenExpires: testNow.Add(time.Hour)}
	a, err := l.Load(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	b, err := l.Load(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	if ca, cb := canonical(t, a), canonical(t, b); !reflect.DeepEqual(ca, cb) || len(ca["Observation"]) != 300 {
		t.Fatalf("cached history differs (%d vs %d Observations)", len(ca["Observation"]), len(cb["Observation"]))
	}
}
