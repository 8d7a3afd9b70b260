package auth_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

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

// A JWKS that cannot be fetched is logged with why and where (the status
// or error class, the host), never with a key.
func TestJWKSFailureIsLoggedWithWhy(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	var logs bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err := auth.NewAuthenticator(ctx, auth.Config{Audience: "https://b.example/cds-services", Algorithms: []string{"ES384"},
		Issuers: []auth.Issuer{{ID: "https://ehr.example", JWKSURL: srv.URL + "/jwks.json"}}, Replay: testStore(t),
		Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for !strings.Contains(logs.String(), "JWKS refresh failed") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	line := logs.String()
	u, _ := url.Parse(srv.URL)
	if !strings.Contains(line, `"why":"HTTP 503"`) || !strings.Contains(line, `"host":"`+u.Host+`"`) {
		t.Fatalf("log: %s", line)
	}
}
