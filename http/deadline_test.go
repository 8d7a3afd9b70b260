package http

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/balint-health/balint/advice"
	"github.com/balint-health/balint/cdshooks"
	"github.com/balint-health/balint/memory"
	"github.com/balint-health/balint/metrics"
)

// stallingAdvisor answers after stall, whatever its context says: a store
// or an evaluation that does not heed the deadline.
type stallingAdvisor struct {
	stubAdvisor
	stall time.Duration
}

func (a stallingAdvisor) Answer(context.Context, *advice.Call) (*cdshooks.Response, error) {
	time.Sleep(a.stall)
	return &cdshooks.Response{}, nil
}

const hookBody = `{"hook":"patient-view","hookInstance":"d1577c69-dfbe-44ad-ba6d-3e05e953b2ea","context":{"userId":"Practitioner/1","patientId":"p1"}}`

func serve(t *testing.T, cfg Config, d Deps) *httptest.Server {
	t.Helper()
	if cfg.BodyLimit == "" {
		cfg.BodyLimit = "1M"
	}
	d.Metrics, d.Logger = metrics.New(), slog.New(slog.DiscardHandler)
	srv := httptest.NewServer(New(cfg, d).Handler)
	t.Cleanup(srv.Close)
	return srv
}

func post(t *testing.T, url string) (*http.Response, time.Duration) {
	t.Helper()
	start := time.Now()
	r, err := http.Post(url, "application/json", strings.NewReader(hookBody))
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	return r, time.Since(start)
}

// The hook deadline holds for the whole answer: work that ignores it is
// answered 503 at the deadline, and its memory is released when it ends.
func TestAnswerByTheDeadline(t *testing.T) {
	gate := memory.NewGate(64<<20, 50*time.Millisecond)
	srv := serve(t, Config{HookTimeout: 300 * time.Millisecond}, Deps{Advisor: stallingAdvisor{stall: time.Second}, Memory: gate})
	r, took := post(t, srv.URL+"/cds-services/svc")
	// Well before the stalled work ends (1 s); the margin is for a loaded
	// machine, not a timing target.
	if r.StatusCode != http.StatusServiceUnavailable || took > 700*time.Millisecond {
		t.Fatalf("status %d after %v, want 503 at the 300 ms deadline, before the work ends", r.StatusCode, took)
	}
	if gate.Held() == 0 {
		t.Fatal("the stalled work's memory was released before it ended")
	}
	time.Sleep(time.Second)
	if gate.Held() != 0 {
		t.Fatalf("%d bytes still held after the stalled work ended", gate.Held())
	}
	fast := serve(t, Config{HookTimeout: 300 * time.Millisecond}, Deps{Advisor: stallingAdvisor{stall: 10 * time.Millisecond}})
	if r, _ := post(t, fast.URL+"/cds-services/svc"); r.StatusCode != http.StatusOK {
		t.Fatalf("status %d for work within the deadline", r.StatusCode)
	}
}

// With the memory of the calls in flight spent, a call queues, then is
// refused 503 with Retry-After, and is answered once the memory is back.
func TestBusyWhenMemoryIsSpent(t *testing.T) {
	gate := memory.NewGate(1<<20, 50*time.Millisecond)
	srv := serve(t, Config{HookTimeout: time.Second}, Deps{Advisor: stubAdvisor{}, Memory: gate})
	held, err := gate.Admit(context.Background(), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	r, took := post(t, srv.URL+"/cds-services/svc")
	if r.StatusCode != http.StatusServiceUnavailable || r.Header.Get("Retry-After") != "1" || took < 50*time.Millisecond {
		t.Fatalf("status %d, Retry-After %q after %v: want 503, 1, after queueing", r.StatusCode, r.Header.Get("Retry-After"), took)
	}
	held.Release()
	if r, _ := post(t, srv.URL+"/cds-services/svc"); r.StatusCode != http.StatusOK {
		t.Fatalf("status %d once memory was released", r.StatusCode)
	}
	if gate.Held() != 0 {
		t.Fatalf("%d bytes held after the call", gate.Held())
	}
}
