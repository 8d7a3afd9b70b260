// Package pg gives tests their own Postgres database on the server named
// by BALINT_TEST_DATABASE_URL (which .ci/run starts). Without it tests
// skip, except with CI=true, where a missing Postgres fails them.
package pg

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"
)

// URL creates a fresh database for the test and returns its URL; it is
// dropped when the test ends.
func URL(t testing.TB) string {
	t.Helper()
	admin := os.Getenv("BALINT_TEST_DATABASE_URL")
	if admin == "" {
		msg := "Postgres unavailable: set BALINT_TEST_DATABASE_URL (bash .ci/run starts one)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	db, err := sql.Open("pgx", admin)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 6)
	rand.Read(b)
	name := "balint_test_" + hex.EncodeToString(b)
	if _, err := db.ExecContext(context.Background(), "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		db.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		db.Close()
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}
