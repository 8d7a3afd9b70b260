// Package store keeps what Balint must remember across calls and replicas:
// the cards it issued (so feedback can be tied to a patient), feedback and
// the snoozes it creates, evidence-page snapshots, JWT ids seen (replay
// protection) and the instance secret. One implementation over
// database/sql serves SQLite (embedded default) and Postgres (pgx);
// migrations are embedded and run at start.
package store
