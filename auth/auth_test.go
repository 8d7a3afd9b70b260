package auth_test

import (
	"context"
	"testing"
	"time"

	"github.com/balint-health/balint/auth"
)

func TestRefusesUnsafeConfiguration(t *testing.T) {
	replay, _ := auth.NewMemoryReplay(10)
	for _, algs := range [][]string{{"none"}, {"HS256"}, nil} {
		_, err := auth.NewAuthenticator(context.Background(), auth.Config{Audience: "x", Replay: replay, Algorithms: algs})
		if err == nil {
			t.Errorf("%v accepted as the algorithms", algs)
		}
	}
}

// The in-process replay store follows the caller's clock, not the wall
// clock: a jti is refused until its expiry on that clock, then forgotten.
func TestMemoryReplayUsesTheGivenClock(t *testing.T) {
	m, _ := auth.NewMemoryReplay(100)
	for _, at := range []time.Time{time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)} {
		exp := at.Add(5 * time.Minute)
		ctx := context.Background()
		if ok, _ := m.UseJTI(ctx, "iss", at.String(), exp, at); !ok {
			t.Fatal("first use refused")
		}
		if ok, _ := m.UseJTI(ctx, "iss", at.String(), exp, at.Add(4*time.Minute)); ok {
			t.Fatalf("replay accepted before expiry (%v)", at)
		}
		if ok, _ := m.UseJTI(ctx, "iss", at.String(), exp.Add(time.Minute), exp.Add(time.Second)); !ok {
			t.Fatalf("id still refused after its expiry (%v)", at)
		}
	}
}

func TestMemoryReplayConcurrentUse(t *testing.T) {
	m, _ := auth.NewMemoryReplay(100)
	at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	results := make(chan bool, 50)
	for i := 0; i < 50; i++ {
		go func() {
			ok, _ := m.UseJTI(context.Background(), "iss", "same", at.Add(time.Minute), at)
			results <- ok
		}()
	}
	fresh := 0
	for i := 0; i < 50; i++ {
		if <-results {
			fresh++
		}
	}
	if fresh != 1 {
		t.Fatalf("%d of 50 concurrent uses of one jti passed, want 1", fresh)
	}
}
