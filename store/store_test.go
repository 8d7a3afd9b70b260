package store

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/balint-health/balint/testing/pg"
)

func stores(t *testing.T) map[string]func(t *testing.T) string {
	return map[string]func(t *testing.T) string{
		"sqlite":   func(t *testing.T) string { return filepath.Join(t.TempDir(), "s.db") },
		"postgres": func(t *testing.T) string { return pg.URL(t) },
	}
}

func TestStore(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	for name, url := range stores(t) {
		t.Run(name, func(t *testing.T) {
			u := url(t)
			s, err := Open(ctx, u)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := s.Issue(ctx, []Card{{UUID: "c1", ServiceID: "svc", PatientID: "p1", IssuedAt: now}}, nil, now); err != nil {
				t.Fatal(err)
			}
			if err := s.Issue(ctx, []Card{{UUID: "c1", ServiceID: "svc", PatientID: "p1", IssuedAt: now}}, nil, now); err != nil {
				t.Fatalf("recording a card twice: %v", err)
			}
			if _, err := s.AddFeedback(ctx, "svc", "", []Feedback{{CardUUID: "nope", Outcome: "accepted"}}); !errors.Is(err, ErrNotFound) {
				t.Fatalf("unknown card: %v", err)
			}
			until := now.AddDate(0, 6, 0)
			fb := Feedback{CardUUID: "c1", Outcome: "overridden", ReasonCode: "already-addressed", OutcomeAt: now, ReceivedAt: now, SnoozeUntil: until}
			if _, err := s.AddFeedback(ctx, "other-service", "", []Feedback{fb}); !errors.Is(err, ErrNotFound) {
				t.Fatalf("feedback on a card another service issued: %v", err)
			}
			// All or nothing: a good item beside an unknown card is not kept.
			var ue *UnknownCardError
			if _, err := s.AddFeedback(ctx, "svc", "", []Feedback{fb, {CardUUID: "nope", Outcome: "accepted"}}); !errors.As(err, &ue) || ue.Index != 1 {
				t.Fatalf("batch with an unknown card: %v", err)
			}
			if got, _ := s.SnoozedUntil(ctx, "", "p1"); !got.IsZero() {
				t.Fatal("a failed batch stored its good item")
			}
			if ins, err := s.AddFeedback(ctx, "svc", "", []Feedback{fb}); err != nil || !ins[0] {
				t.Fatalf("first feedback: %v %v", ins, err)
			}
			if ins, err := s.AddFeedback(ctx, "svc", "", []Feedback{fb}); err != nil || ins[0] {
				t.Fatalf("repeated feedback inserted=%v %v", ins, err)
			}
			// Every item is kept: two accepted suggestions, one after the other.
			a1 := Feedback{CardUUID: "c1", Outcome: "accepted", Suggestions: []string{"s1"}, OutcomeAt: now, ReceivedAt: now}
			a2 := Feedback{CardUUID: "c1", Outcome: "accepted", Suggestions: []string{"s2"}, OutcomeAt: now.Add(time.Minute), ReceivedAt: now}
			if ins, err := s.AddFeedback(ctx, "svc", "", []Feedback{a1, a2}); err != nil || !ins[0] || !ins[1] {
				t.Fatalf("two accepted suggestions: %v %v", ins, err)
			}
			// Two EHRs, one patient id: each is its own patient, and
			// feedback goes only to the caller the card was issued to.
			for _, c := range []Card{{UUID: "ca", ServiceID: "svc", Caller: "https://ehr-a\x00t", PatientID: "same", IssuedAt: now},
				{UUID: "cb", ServiceID: "svc", Caller: "https://ehr-b\x00t", PatientID: "same", IssuedAt: now}} {
				if err := s.Issue(ctx, []Card{c}, nil, now); err != nil {
					t.Fatal(err)
				}
			}
			snooze := Feedback{CardUUID: "ca", Outcome: "overridden", OutcomeAt: now, ReceivedAt: now, SnoozeUntil: until}
			if _, err := s.AddFeedback(ctx, "svc", "https://ehr-b\x00t", []Feedback{snooze}); !errors.Is(err, ErrNotFound) {
				t.Fatalf("EHR B's feedback on EHR A's card: %v", err)
			}
			if _, err := s.AddFeedback(ctx, "svc", "https://ehr-a\x00t", []Feedback{snooze}); err != nil {
				t.Fatal(err)
			}
			if got, _ := s.SnoozedUntil(ctx, "https://ehr-a\x00t", "same"); !got.Equal(until) {
				t.Fatalf("EHR A's patient snoozed until %v", got)
			}
			if got, _ := s.SnoozedUntil(ctx, "https://ehr-b\x00t", "same"); !got.IsZero() {
				t.Fatalf("EHR A's dismissal silenced EHR B's patient of the same id until %v", got)
			}
			if got, err := s.SnoozedUntil(ctx, "", "p1"); err != nil || !got.Equal(until) {
				t.Fatalf("snoozed until %v %v", got, err)
			}
			if got, _ := s.SnoozedUntil(ctx, "", "p2"); !got.IsZero() {
				t.Fatalf("another patient snoozed until %v", got)
			}
			for _, body := range []string{`{"v":1}`, `{"v":2}`} {
				if err := s.PutExpansion(ctx, "http://snomed.info/sct?fhir_vs=isa/1", []byte(body), now); err != nil {
					t.Fatal(err)
				}
			}
			if got, err := s.Expansions(ctx); err != nil || len(got) != 1 || string(got["http://snomed.info/sct?fhir_vs=isa/1"]) != `{"v":2}` {
				t.Fatalf("expansions %q %v, want the latest only", got, err)
			}
			if fresh, _ := s.UseJTI(ctx, "iss", "j1", now.Add(time.Minute), now); !fresh {
				t.Fatal("first jti refused")
			}
			if fresh, _ := s.UseJTI(ctx, "iss", "j1", now.Add(time.Minute), now); fresh {
				t.Fatal("replayed jti accepted")
			}
			if fresh, _ := s.UseJTI(ctx, "other", "j1", now.Add(time.Minute), now); !fresh {
				t.Fatal("jti is per issuer")
			}
			if fresh, _ := s.UseJTI(ctx, "iss", "j1", now.Add(3*time.Minute), now.Add(2*time.Minute)); !fresh {
				t.Fatal("an expired jti is forgotten")
			}
			if err := s.Issue(ctx, nil, &Evidence{"e1", []byte(`{"a":1}`), now.Add(10 * time.Minute)}, now); err != nil {
				t.Fatal(err)
			}
			if b, err := s.Evidence(ctx, "e1", now); err != nil || string(b) != `{"a":1}` {
				t.Fatalf("evidence %s %v", b, err)
			}
			if _, err := s.Evidence(ctx, "e1", now.Add(11*time.Minute)); !errors.Is(err, ErrNotFound) {
				t.Fatalf("expired evidence: %v", err)
			}
			// Expiry follows the clock given, not the wall clock.
			if err := s.Issue(ctx, nil, &Evidence{"e2", []byte(`{}`), now.Add(15 * time.Minute)}, now.Add(5*time.Minute)); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Evidence(ctx, "e1", now.Add(9*time.Minute)); err != nil {
				t.Fatalf("a live snapshot was dropped: %v", err)
			}
			// Expired rows are deleted, by the next write a minute on.
			if err := s.Issue(ctx, nil, &Evidence{"e3", []byte(`{}`), now.Add(30 * time.Minute)}, now.Add(20*time.Minute)); err != nil {
				t.Fatal(err)
			}
			var rows int
			if err := s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM evidence WHERE id IN ('e1', 'e2', 'e3')").Scan(&rows); err != nil || rows != 1 {
				t.Fatalf("%d snapshots kept after the purge, want 1 (%v)", rows, err)
			}
			// A card and its page are kept together or not at all: here
			// the page cannot be stored (its id is taken).
			orphan := Card{UUID: "c-orphan", ServiceID: "svc", PatientID: "p1", IssuedAt: now}
			if err := s.Issue(ctx, []Card{orphan}, &Evidence{"e3", []byte(`{}`), now.Add(40 * time.Minute)}, now.Add(20*time.Minute)); err == nil {
				t.Fatal("a snapshot stored twice under one id")
			}
			if _, err := s.AddFeedback(ctx, "svc", "", []Feedback{{CardUUID: "c-orphan", Outcome: "accepted", OutcomeAt: now, ReceivedAt: now}}); !errors.Is(err, ErrNotFound) {
				t.Fatalf("a card recorded without its page: %v", err)
			}
			secret := s.Secret()
			s.Close()
			// Reopening runs no migration twice and keeps the secret.
			s2, err := Open(ctx, u)
			if err != nil {
				t.Fatal(err)
			}
			defer s2.Close()
			if string(s2.Secret()) != string(secret) {
				t.Fatal("the instance secret changed on restart")
			}
			if got, _ := s2.SnoozedUntil(ctx, "", "p1"); !got.Equal(until) {
				t.Fatal("snooze lost on reopen")
			}
		})
	}
}

func TestPatientIDsAreNotStored(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Issue(ctx, []Card{{UUID: "c1", ServiceID: "svc", PatientID: "patient-123", IssuedAt: time.Now()}}, nil, time.Now())
	var n int
	s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM cards WHERE patient_key LIKE '%patient-123%'").Scan(&n)
	if n != 0 {
		t.Fatal("the patient id is stored in clear")
	}
}

// Replicas starting together migrate once, under the advisory lock.
func TestConcurrentStartPostgres(t *testing.T) {
	u := pg.URL(t)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	secrets := make(chan string, 4)
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := Open(context.Background(), u)
			if err != nil {
				errs <- err
				return
			}
			secrets <- string(s.Secret())
			s.Close()
		}()
	}
	wg.Wait()
	close(errs)
	close(secrets)
	for err := range errs {
		t.Fatal(err)
	}
	first := ""
	for s := range secrets {
		if first == "" {
			first = s
		}
		if s != first {
			t.Fatal("replicas started with different secrets")
		}
	}
}

// The replay store follows the caller's clock, not the wall clock: a jti
// is refused until its expiry on that clock, then forgotten; of many
// concurrent uses of one id, one passes. On both stores, so a restart or
// another replica refuses a replayed token.
func TestReplayStore(t *testing.T) {
	ctx := context.Background()
	for name, url := range stores(t) {
		t.Run(name, func(t *testing.T) {
			u := url(t)
			s, err := Open(ctx, u)
			if err != nil {
				t.Fatal(err)
			}
			for _, at := range []time.Time{time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)} {
				exp := at.Add(5 * time.Minute)
				if ok, _ := s.UseJTI(ctx, "iss", at.String(), exp, at); !ok {
					t.Fatal("first use refused")
				}
				if ok, _ := s.UseJTI(ctx, "iss", at.String(), exp, at.Add(4*time.Minute)); ok {
					t.Fatalf("replay accepted before expiry (%v)", at)
				}
				if ok, _ := s.UseJTI(ctx, "iss", at.String(), exp.Add(time.Minute), exp.Add(time.Second)); !ok {
					t.Fatalf("id still refused after its expiry (%v)", at)
				}
			}
			at := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
			results := make(chan bool, 20)
			for range 20 {
				go func() {
					ok, _ := s.UseJTI(ctx, "iss", "same", at.Add(time.Minute), at)
					results <- ok
				}()
			}
			fresh := 0
			for range 20 {
				if <-results {
					fresh++
				}
			}
			if fresh != 1 {
				t.Fatalf("%d of 20 concurrent uses of one jti passed, want 1", fresh)
			}
			// A restart: the same database still knows the id.
			s.Close()
			s2, err := Open(ctx, u)
			if err != nil {
				t.Fatal(err)
			}
			defer s2.Close()
			if ok, _ := s2.UseJTI(ctx, "iss", "same", at.Add(time.Minute), at.Add(time.Second)); ok {
				t.Fatal("a jti used before the restart was accepted after it")
			}
		})
	}
}
