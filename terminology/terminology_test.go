package terminology

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/balint-health/balint/rules"
	"github.com/balint-health/balint/store"
)

// server answers ValueSet/$expand the way FHIR terminology servers do:
// pages of count codes from offset, with the total. Every value set
// expands to its root and n made-up descendants.
func server(t *testing.T, n int, up *atomic.Bool) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !up.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		if r.URL.Path != "/fhir/ValueSet/$expand" {
			http.NotFound(w, r)
			return
		}
		vs := r.URL.Query().Get("url")
		offset, _ := strconv.Atoi(r.URL.Query().Get("offset"))
		count, _ := strconv.Atoi(r.URL.Query().Get("count"))
		count = min(count, 400) // servers cap pages below what was asked
		var contains []map[string]string
		for i := offset; i < min(offset+count, n); i++ {
			contains = append(contains, map[string]string{"system": "http://snomed.info/sct", "code": fmt.Sprintf("9%06d", i)})
		}
		w.Header().Set("Content-Type", "application/fhir+json")
		json.NewEncoder(w).Encode(map[string]any{"resourceType": "ValueSet", "url": vs,
			"expansion": map[string]any{"total": n, "offset": offset, "contains": contains}})
	}))
	t.Cleanup(s.Close)
	return s
}

type applied struct{ p atomic.Pointer[rules.Policy] }

func (a *applied) set(p *rules.Policy) { a.p.Store(p) }

// cancer reports whether the policy in force reads code as a cancer.
func (a *applied) cancer(t *testing.T, code string) bool {
	t.Helper()
	d := rules.Evaluate(a.p.Load(), rules.Input{History: conditionHistory(t, code), Now: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)})
	for _, e := range d.Exclusions() {
		if e == rules.ExclCancer {
			return true
		}
	}
	return false
}

func TestRefreshFetchesKeepsAndFallsBack(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var up atomic.Bool
	up.Store(true)
	srv := server(t, 2500, &up)
	var a applied
	r := &Refresher{
		Client: &Client{Base: srv.URL + "/fhir", HTTP: srv.Client(), Timeout: 5 * time.Second},
		Cache:  db, Policy: rules.DefaultPolicy(), Apply: a.set, Now: time.Now, Logger: slog.New(slog.DiscardHandler),
	}
	const fromServer = "9002499" // the last code of the last page
	if a.p.Store(rules.DefaultPolicy()); a.cancer(t, fromServer) {
		t.Fatal("the shipped expansion already holds the server's made-up code")
	}
	if err := r.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if !a.cancer(t, fromServer) {
		t.Fatal("an expansion fetched over several pages was not applied")
	}
	kept, _ := db.Expansions(ctx)
	if len(kept) != len(rules.DefaultPolicy().ValueSets()) {
		t.Fatalf("kept %d expansions, want one per value set (%v)", len(kept), rules.DefaultPolicy().ValueSets())
	}

	// The server goes down: a new instance uses what was kept.
	up.Store(false)
	var b applied
	r2 := *r
	r2.Apply = b.set
	if err := r2.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if !b.cancer(t, fromServer) {
		t.Fatal("with the server down, the kept expansion was not used")
	}

	// Nothing kept and no server: the shipped expansion.
	db2, err := store.Open(ctx, filepath.Join(t.TempDir(), "s2.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	var c applied
	r3 := Refresher{Client: r.Client, Cache: db2, Policy: rules.DefaultPolicy(), Apply: c.set, Now: time.Now, Logger: slog.New(slog.DiscardHandler)}
	if err := r3.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if c.cancer(t, fromServer) || !c.cancer(t, "363443007") {
		t.Fatal("with no server and nothing kept, the shipped expansion should apply")
	}
}

func TestExpandRefusesWhatIsNotAnExpansion(t *testing.T) {
	for name, body := range map[string]string{
		"not json":            `<html>`,
		"not a ValueSet":      `{"resourceType":"OperationOutcome"}`,
		"empty expansion":     `{"resourceType":"ValueSet","expansion":{"contains":[]}}`,
		"no expansion at all": `{"resourceType":"ValueSet"}`,
	} {
		t.Run(name, func(t *testing.T) {
			s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(body)) }))
			defer s.Close()
			c := &Client{Base: s.URL, HTTP: s.Client(), Timeout: time.Second}
			if _, err := c.Expand(context.Background(), rules.IsaURL("363346000")); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}
