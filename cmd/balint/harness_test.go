package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/balint-health/balint/cdshooks"
)

var update = flag.Bool("update", false, "rewrite golden files")

// clock is a test clock that tests move.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var testNow = time.Date(2026, 11, 25, 9, 30, 0, 0, time.UTC)

// instance is a running app behind httptest.
type instance struct {
	*parts
	URL   string
	Clock *clock
	Logs  *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// defaults is the configuration with nothing set: the Env table's.
func defaults(t testing.TB) Config {
	t.Helper()
	cfg, _, _, err := configure(nil, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// start runs an instance in dev mode on a fresh SQLite file unless the
// config says otherwise.
func start(t testing.TB, mutate func(*Config)) *instance {
	t.Helper()
	cfg := defaults(t)
	cfg.Dev = true
	cfg.SQLitePath = filepath.Join(t.TempDir(), "balint.db")
	clk := &clock{t: testNow}
	cfg.Now = clk.Now
	logs := &syncBuffer{}
	cfg.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv := httptest.NewUnstartedServer(nil)
	cfg.BaseURL = "http://" + srv.Listener.Addr().String()
	if mutate != nil {
		mutate(&cfg)
	}
	a, err := wire(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = a.Handler
	srv.Start()
	t.Cleanup(func() { srv.Close(); a.Close() })
	return &instance{parts: a, URL: srv.URL, Clock: clk, Logs: logs}
}

type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r response) json(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("response %d is not JSON: %v: %.300s", r.Status, err, r.Body)
	}
}

// cardsOf are the cards of a hook's 200 answer; any other answer fails.
func cardsOf(t *testing.T, r response) []cdshooks.Card {
	t.Helper()
	if r.Status != 200 {
		t.Fatalf("hook: %d %s", r.Status, r.Body)
	}
	var resp cdshooks.Response
	r.json(t, &resp)
	return resp.Cards
}

func do(t testing.TB, method, url, body string, header ...string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

const hookInstance = "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea"

func patientView(patient string, extra string) string {
	return `{"hook":"patient-view","hookInstance":"` + hookInstance + `","context":{"userId":"Practitioner/dr-1","patientId":"` + patient + `"}` + extra + `}`
}

func (in *instance) hook(t testing.TB, service, body string) response {
	return do(t, http.MethodPost, in.URL+"/cds-services/"+service, body)
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		os.MkdirAll(filepath.Dir(path), 0o755)
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./cmd/balint -update to create it)", err)
	}
	if !bytes.Equal(bytes.TrimSpace(got), bytes.TrimSpace(want)) {
		t.Fatalf("%s differs from the golden file:\n%s", name, diffLine(got, want))
	}
}

func diffLine(a, b []byte) string {
	al, bl := strings.Split(string(a), "\n"), strings.Split(string(b), "\n")
	for i := 0; i < len(al) && i < len(bl); i++ {
		if al[i] != bl[i] {
			return "got:  " + al[i] + "\nwant: " + bl[i]
		}
	}
	return "lengths differ"
}

func pretty(t testing.TB, v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
