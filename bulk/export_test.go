package bulk

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// ig is a FHIR server's $export as the Bulk Data Access IG describes it.
type ig struct {
	srv      *httptest.Server
	token    string
	pending  int  // polls answered 202 before the manifest
	requires bool // requiresAccessToken
	errors   bool // the manifest lists an error file
	kickoff  int  // the kick-off's status (default 202)

	mu      sync.Mutex
	seen    []string // method, path and whether a token came
	deleted bool
}

func (s *ig) start(t *testing.T) {
	mux := http.NewServeMux()
	log := func(r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.seen = append(s.seen, r.Method+" "+r.URL.Path+" token="+boolText(r.Header.Get("Authorization") == "Bearer "+s.token))
	}
	mux.HandleFunc("GET /fhir/Group/g1/$export", func(w http.ResponseWriter, r *http.Request) {
		log(r)
		if s.kickoff != 0 {
			w.WriteHeader(s.kickoff)
			w.Write([]byte(`{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"processing","diagnostics":"export not allowed"}]}`))
			return
		}
		if r.Header.Get("Prefer") != "respond-async" || r.Header.Get("Accept") != "application/fhir+json" ||
			!strings.Contains(r.URL.Query().Get("_type"), "Observation") {
			http.Error(w, "bad kick-off", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Location", "/status/9")
		w.WriteHeader(http.StatusAccepted)
	})
	mux.HandleFunc("GET /status/9", func(w http.ResponseWriter, r *http.Request) {
		log(r)
		s.mu.Lock()
		left := s.pending
		s.pending--
		s.mu.Unlock()
		if left > 0 {
			w.Header().Set("X-Progress", "half way")
			w.Header().Set("Retry-After", time.Now().Add(-time.Second).UTC().Format(http.TimeFormat))
			w.WriteHeader(http.StatusAccepted)
			return
		}
		m := Manifest{TransactionTime: "2026-11-25T09:00:00Z", RequiresAccessToken: s.requires,
			Output: []File{{Type: "Patient", URL: s.srv.URL + "/files/p"}, {Type: "Observation", URL: s.srv.URL + "/files/o"}}}
		if s.errors {
			m.Error = []File{{Type: "OperationOutcome", URL: s.srv.URL + "/files/e"}}
		}
		json.NewEncoder(w).Encode(m)
	})
	mux.HandleFunc("DELETE /status/9", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.deleted = true
		s.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	})
	mux.HandleFunc("GET /files/{f}", func(w http.ResponseWriter, r *http.Request) {
		log(r)
		if s.requires && r.Header.Get("Authorization") != "Bearer "+s.token {
			http.Error(w, "token required", http.StatusUnauthorized)
			return
		}
		switch r.PathValue("f") {
		case "p":
			w.Write([]byte(`{"resourceType":"Patient","id":"p1"}` + "\n"))
		case "o":
			w.Write([]byte(`{"resourceType":"Observation","id":"o1","subject":{"reference":"Patient/p1"},"status":"final","code":{"text":"x"}}` + "\n"))
		default:
			w.Write([]byte(`{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"exception"}]}` + "\n"))
		}
	})
	s.srv = httptest.NewServer(mux)
	t.Cleanup(s.srv.Close)
}

func boolText(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func TestExport(t *testing.T) {
	tests := []struct {
		name    string
		server  *ig
		wantErr string
		// tokens are whether each request carried the token, in order.
		tokens []string
	}{
		{"files that require the token get it", &ig{token: "t0k", pending: 2, requires: true}, "",
			[]string{"GET /fhir/Group/g1/$export token=yes", "GET /status/9 token=yes", "GET /status/9 token=yes", "GET /status/9 token=yes",
				"GET /files/p token=yes", "GET /files/o token=yes"}},
		{"files that do not, do not", &ig{token: "t0k", requires: false}, "",
			[]string{"GET /fhir/Group/g1/$export token=yes", "GET /status/9 token=yes", "GET /files/p token=no", "GET /files/o token=no"}},
		{"errors in the export fail it", &ig{token: "t0k", errors: true}, "reported errors", nil},
		{"a refused kick-off says why", &ig{token: "t0k", kickoff: http.StatusForbidden}, "HTTP 403: export not allowed", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.server
			polls := s.pending
			s.start(t)
			dir := t.TempDir()
			var progress []string
			e := &Exporter{Types: []string{"Patient", "Observation"}, Wait: time.Millisecond,
				Token:    func(context.Context) (string, error) { return "t0k", nil },
				Progress: func(p string) { progress = append(progress, p) }}
			m, err := e.Export(context.Background(), s.srv.URL+"/fhir", "g1", dir)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("%v, want %q", err, tt.wantErr)
				}
				if tt.server.errors && !errors.Is(err, ErrExportErrors) {
					t.Fatalf("%v is not ErrExportErrors", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(s.seen, "\n") != strings.Join(tt.tokens, "\n") {
				t.Fatalf("requests:\n%s\nwant\n%s", strings.Join(s.seen, "\n"), strings.Join(tt.tokens, "\n"))
			}
			if !s.deleted || len(m.Output) != 2 || len(progress) != polls {
				t.Fatalf("deleted %v, %d outputs, progress %v", s.deleted, len(m.Output), progress)
			}
			got, err := os.ReadFile(filepath.Join(dir, "Observation.1.ndjson"))
			if err != nil || !strings.Contains(string(got), `"id":"o1"`) {
				t.Fatalf("Observation file: %q %v", got, err)
			}
		})
	}
}
