package store

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	_ "modernc.org/sqlite"             // database/sql driver "sqlite"
)

//go:embed migrations/*.sql
var migrations embed.FS

// ErrNotFound is returned for an unknown card or an expired snapshot.
var ErrNotFound = errors.New("not found")

// DB is the store over SQLite or Postgres.
type DB struct {
	db       *sql.DB
	postgres bool
	secret   []byte
	purged   atomic.Int64 // when expired evidence was last purged, Unix ms
	hook     hookStmts
}

// hookStmts are the statements every hook call runs, prepared once: on
// SQLite, parsing them again on each call cost more than running them.
type hookStmts struct {
	snooze, evidence, card *sql.Stmt
}

func (s *DB) prepare(ctx context.Context) error {
	for _, p := range []struct {
		to  **sql.Stmt
		sql string
	}{
		{&s.hook.snooze, "SELECT MAX(snooze_until) FROM feedback WHERE patient_key = $1"},
		{&s.hook.evidence, "INSERT INTO evidence (id, body, expires_at) VALUES ($1, $2, $3)"},
		{&s.hook.card, "INSERT INTO cards (card_uuid, service_id, patient_key, issued_at, caller_key) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (card_uuid) DO NOTHING"},
	} {
		stmt, err := s.db.PrepareContext(ctx, p.sql)
		if err != nil {
			return fmt.Errorf("store: prepare: %w", err)
		}
		*p.to = stmt
	}
	return nil
}

// Open connects and migrates. url is a Postgres URL (postgres://...) or a
// SQLite file path; "" means balint.db in the working directory.
func Open(ctx context.Context, url string) (*DB, error) {
	s := &DB{}
	var err error
	switch {
	case strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://"):
		s.postgres = true
		s.db, err = sql.Open("pgx", url)
		if err == nil {
			s.db.SetMaxOpenConns(20)
			s.db.SetMaxIdleConns(5)
			s.db.SetConnMaxIdleTime(5 * time.Minute)
		}
	default:
		path := strings.TrimPrefix(url, "sqlite://")
		if path == "" {
			path = "balint.db"
		}
		// WAL lets another process (balint snooze, balint scan) read
		// while the service writes; synchronous=FULL makes an
		// acknowledged write survive a crash. Within the service, reads
		// and writes take turns on one connection: readers of their own
		// made the typical rate test no faster (docs/performance.md).
		dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(5000)&_pragma=foreign_keys(ON)"
		s.db, err = sql.Open("sqlite", dsn)
		if err == nil {
			s.db.SetMaxOpenConns(1)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("store: open: %w", err)
	}
	if err := s.migrate(ctx); err != nil {
		s.db.Close()
		return nil, err
	}
	if err := s.loadSecret(ctx); err != nil {
		s.db.Close()
		return nil, err
	}
	if err := s.prepare(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the pool, and with each connection the statements
// prepared on it (hookStmts).
func (s *DB) Close() error { return s.db.Close() }

// Ping checks the database answers (readiness).
func (s *DB) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

// Postgres reports whether the store is Postgres (shared by replicas).
func (s *DB) Postgres() bool { return s.postgres }

// migrationLock is the Postgres advisory lock key replicas take while
// migrating, so several can start together.
const migrationLock = 0x62616c696e74 // "balint"

func (s *DB) migrate(ctx context.Context) error {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("store: connect: %w", err)
	}
	defer conn.Close()
	if s.postgres {
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", migrationLock); err != nil {
			return fmt.Errorf("store: migration lock: %w", err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrationLock)
	}
	if _, err := conn.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS schema_migrations (version TEXT PRIMARY KEY)"); err != nil {
		return fmt.Errorf("store: migrations table: %w", err)
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return fmt.Errorf("store: migrations: %w", err)
	}
	sort.Strings(names)
	for _, name := range names {
		var n int
		if err := conn.QueryRowContext(ctx, "SELECT COUNT(*) FROM schema_migrations WHERE version = $1", name).Scan(&n); err != nil {
			return fmt.Errorf("store: migration %s: %w", name, err)
		}
		if n > 0 {
			continue
		}
		body, _ := migrations.ReadFile(name)
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("store: migration %s: %w", name, err)
		}
		for _, stmt := range strings.Split(string(body), ";") {
			if strings.TrimSpace(stripComments(stmt)) == "" {
				continue
			}
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				tx.Rollback()
				return fmt.Errorf("store: migration %s: %w", name, err)
			}
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations (version) VALUES ($1)", name); err != nil {
			tx.Rollback()
			return fmt.Errorf("store: migration %s: %w", name, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("store: migration %s: %w", name, err)
		}
	}
	return nil
}

func stripComments(s string) string {
	var b strings.Builder
	for _, line := range strings.Split(s, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "--") {
			b.WriteString(line)
		}
	}
	return b.String()
}

// loadSecret reads the instance secret, creating it once: replicas sharing
// a database share it, and a restart keeps it.
func (s *DB) loadSecret(ctx context.Context) error {
	fresh := make([]byte, 32)
	if _, err := rand.Read(fresh); err != nil {
		return fmt.Errorf("store: secret: %w", err)
	}
	if _, err := s.db.ExecContext(ctx, "INSERT INTO settings (name, value) VALUES ('secret', $1) ON CONFLICT (name) DO NOTHING", hex.EncodeToString(fresh)); err != nil {
		return fmt.Errorf("store: secret: %w", err)
	}
	var v string
	if err := s.db.QueryRowContext(ctx, "SELECT value FROM settings WHERE name = 'secret'").Scan(&v); err != nil {
		return fmt.Errorf("store: secret: %w", err)
	}
	b, err := hex.DecodeString(v)
	if err != nil || len(b) < 32 {
		return fmt.Errorf("store: secret in settings is malformed")
	}
	s.secret = b
	return nil
}

// Secret is the instance secret (signing evidence links, card uuids,
// patient keys). Never log it.
func (s *DB) Secret() []byte { return s.secret }

// PatientKey pseudonymises a patient for storage. A patient is an id
// within one caller's record (caller: the EHR issuer and tenant, "" in
// development mode): the same id at another EHR is another patient, and
// its snoozes and cards are its own.
func (s *DB) PatientKey(caller, patientID string) string {
	m := hmac.New(sha256.New, s.secret)
	if caller == "" {
		m.Write([]byte("patient\x00" + patientID))
	} else {
		m.Write([]byte("patient\x00" + caller + "\x00" + patientID))
	}
	return hex.EncodeToString(m.Sum(nil))
}

// callerKey pseudonymises a caller for storage.
func (s *DB) callerKey(caller string) string {
	if caller == "" {
		return ""
	}
	m := hmac.New(sha256.New, s.secret)
	m.Write([]byte("caller\x00" + caller))
	return hex.EncodeToString(m.Sum(nil))
}

func ms(t time.Time) int64 { return t.UnixMilli() }

// Card is a card issued to a patient of a caller.
type Card struct {
	UUID      string
	ServiceID string
	// Caller is the EHR the card was issued to (issuer and tenant).
	Caller    string
	PatientID string
	IssuedAt  time.Time
}

// Evidence is an evidence snapshot, kept until it expires.
type Evidence struct {
	ID      string
	Body    []byte
	Expires time.Time
}

// Issue records the cards a hook issued and the evidence snapshot they
// link to (nil: none) in one transaction: a hook's writes wait for the
// disk once, and no card is recorded without the page it links to.
// Recording a card again is harmless. Snapshots expired at now are
// dropped, at most once a minute.
func (s *DB) Issue(ctx context.Context, cards []Card, ev *Evidence, now time.Time) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: issue: %w", err)
	}
	defer tx.Rollback()
	if ev != nil {
		// Expired snapshots go at most once a minute (by index), not on
		// every hook.
		if last := s.purged.Load(); now.UnixMilli()-last >= time.Minute.Milliseconds() && s.purged.CompareAndSwap(last, now.UnixMilli()) {
			if _, err := tx.ExecContext(ctx, "DELETE FROM evidence WHERE expires_at < $1", ms(now)); err != nil {
				return fmt.Errorf("store: evidence: %w", err)
			}
		}
		if _, err := tx.StmtContext(ctx, s.hook.evidence).ExecContext(ctx, ev.ID, string(ev.Body), ms(ev.Expires)); err != nil {
			return fmt.Errorf("store: evidence: %w", err)
		}
	}
	for _, c := range cards {
		if _, err := tx.StmtContext(ctx, s.hook.card).ExecContext(ctx,
			c.UUID, c.ServiceID, s.PatientKey(c.Caller, c.PatientID), ms(c.IssuedAt), s.callerKey(c.Caller)); err != nil {
			return fmt.Errorf("store: record card: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: issue: %w", err)
	}
	return nil
}

// Feedback is one clinician's outcome on a card.
type Feedback struct {
	CardUUID    string
	Outcome     string
	ReasonCode  string
	Suggestions []string
	UserComment string
	OutcomeAt   time.Time
	ReceivedAt  time.Time
	// SnoozeUntil, if set, suppresses the card for the card's patient.
	SnoozeUntil time.Time
}

// UnknownCardError names the first item of a feedback batch whose card
// this service did not issue. It is ErrNotFound.
type UnknownCardError struct{ Index int }

func (e *UnknownCardError) Error() string { return fmt.Sprintf("feedback[%d]: no such card", e.Index) }
func (e *UnknownCardError) Unwrap() error { return ErrNotFound }

// AddFeedback stores a batch of feedback on cards issued earlier, all or
// nothing: a card this service did not issue to this caller (another
// service's, another EHR's, or none) is an *UnknownCardError and nothing is
// stored. Every item is kept; an item repeated exactly (a retried batch)
// is kept once, and inserted reports, per item, whether it was new.
func (s *DB) AddFeedback(ctx context.Context, serviceID, caller string, items []Feedback) (inserted []bool, err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("store: feedback: %w", err)
	}
	defer tx.Rollback()
	for i, f := range items {
		var key, issuedBy, issuedTo string
		err := tx.QueryRowContext(ctx, "SELECT patient_key, service_id, caller_key FROM cards WHERE card_uuid = $1", f.CardUUID).Scan(&key, &issuedBy, &issuedTo)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && (issuedBy != serviceID || issuedTo != s.callerKey(caller))) {
			return nil, &UnknownCardError{Index: i}
		}
		if err != nil {
			return nil, fmt.Errorf("store: feedback: %w", err)
		}
		var snooze int64
		if !f.SnoozeUntil.IsZero() {
			snooze = ms(f.SnoozeUntil)
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO feedback
			(card_uuid, outcome, service_id, patient_key, reason_code, suggestions, user_comment, outcome_at, received_at, snooze_until)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING`,
			f.CardUUID, f.Outcome, serviceID, key, f.ReasonCode, strings.Join(f.Suggestions, ","), f.UserComment,
			ms(f.OutcomeAt), ms(f.ReceivedAt), snooze)
		if err != nil {
			return nil, fmt.Errorf("store: feedback: %w", err)
		}
		n, _ := res.RowsAffected()
		inserted = append(inserted, n > 0)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("store: feedback: %w", err)
	}
	return inserted, nil
}

// SnoozedUntil is the latest snooze for a caller's patient (zero when
// none).
func (s *DB) SnoozedUntil(ctx context.Context, caller, patientID string) (time.Time, error) {
	var v sql.NullInt64
	err := s.hook.snooze.QueryRowContext(ctx, s.PatientKey(caller, patientID)).Scan(&v)
	if err != nil {
		return time.Time{}, fmt.Errorf("store: snooze: %w", err)
	}
	if !v.Valid || v.Int64 == 0 {
		return time.Time{}, nil
	}
	return time.UnixMilli(v.Int64).UTC(), nil
}

// Evidence returns a snapshot not yet expired at now.
func (s *DB) Evidence(ctx context.Context, id string, now time.Time) ([]byte, error) {
	var body string
	err := s.db.QueryRowContext(ctx, "SELECT body FROM evidence WHERE id = $1 AND expires_at >= $2", id, ms(now)).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: evidence: %w", err)
	}
	return []byte(body), nil
}

// UseJTI records a JWT id for an issuer until expires. It reports false
// when the id was already used and has not expired: a replay.
func (s *DB) UseJTI(ctx context.Context, issuer, jti string, expires, now time.Time) (bool, error) {
	if _, err := s.db.ExecContext(ctx, "DELETE FROM jwt_ids WHERE expires_at < $1", ms(now)); err != nil {
		return false, fmt.Errorf("store: jti: %w", err)
	}
	res, err := s.db.ExecContext(ctx, "INSERT INTO jwt_ids (issuer, jti, expires_at) VALUES ($1, $2, $3) ON CONFLICT (issuer, jti) DO NOTHING",
		issuer, jti, ms(expires))
	if err != nil {
		return false, fmt.Errorf("store: jti: %w", err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// PutExpansion keeps the latest expansion of a value set (a FHIR ValueSet
// with its expansion), replacing the one before.
func (s *DB) PutExpansion(ctx context.Context, url string, body []byte, at time.Time) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO valueset_expansions (url, body, fetched_at) VALUES ($1, $2, $3)
		ON CONFLICT (url) DO UPDATE SET body = excluded.body, fetched_at = excluded.fetched_at`, url, string(body), ms(at))
	if err != nil {
		return fmt.Errorf("store: expansion: %w", err)
	}
	return nil
}

// Expansions are the kept expansions, by value-set URL.
func (s *DB) Expansions(ctx context.Context) (map[string][]byte, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT url, body FROM valueset_expansions")
	if err != nil {
		return nil, fmt.Errorf("store: expansions: %w", err)
	}
	defer rows.Close()
	out := map[string][]byte{}
	for rows.Next() {
		var url, body string
		if err := rows.Scan(&url, &body); err != nil {
			return nil, fmt.Errorf("store: expansions: %w", err)
		}
		out[url] = []byte(body)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: expansions: %w", err)
	}
	return out, nil
}

// Snooze is one override that silences a patient's card.
type Snooze struct {
	ServiceID  string
	ReasonCode string
	OutcomeAt  time.Time
	Until      time.Time
}

// Snoozes are a caller's patient's snoozes still in force at now, latest
// first.
func (s *DB) Snoozes(ctx context.Context, caller, patientID string, now time.Time) ([]Snooze, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT service_id, reason_code, outcome_at, snooze_until FROM feedback
		WHERE patient_key = $1 AND snooze_until > $2 ORDER BY snooze_until DESC`, s.PatientKey(caller, patientID), ms(now))
	if err != nil {
		return nil, fmt.Errorf("store: snoozes: %w", err)
	}
	defer rows.Close()
	var out []Snooze
	for rows.Next() {
		var sn Snooze
		var at, until int64
		if err := rows.Scan(&sn.ServiceID, &sn.ReasonCode, &at, &until); err != nil {
			return nil, fmt.Errorf("store: snoozes: %w", err)
		}
		sn.OutcomeAt, sn.Until = time.UnixMilli(at).UTC(), time.UnixMilli(until).UTC()
		out = append(out, sn)
	}
	return out, rows.Err()
}

// ClearSnoozes ends a caller's patient's snoozes: the feedback stays on
// record, the card may show again. It reports how many were cleared.
func (s *DB) ClearSnoozes(ctx context.Context, caller, patientID string, now time.Time) (int, error) {
	res, err := s.db.ExecContext(ctx, "UPDATE feedback SET snooze_until = 0 WHERE patient_key = $1 AND snooze_until > $2",
		s.PatientKey(caller, patientID), ms(now))
	if err != nil {
		return 0, fmt.Errorf("store: clear snoozes: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}
