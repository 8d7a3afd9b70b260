package auth_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/balint-health/balint/auth"
	"github.com/balint-health/balint/store"
)

// testStore is the real replay store, on SQLite in the test's directory.
func testStore(t testing.TB) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "replay.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestRefusesUnsafeConfiguration(t *testing.T) {
	replay := testStore(t)
	for _, algs := range [][]string{{"none"}, {"HS256"}, nil} {
		_, err := auth.NewAuthenticator(context.Background(), auth.Config{Audience: "x", Replay: replay, Algorithms: algs})
		if err == nil {
			t.Errorf("%v accepted as the algorithms", algs)
		}
	}
}
