-- Times are Unix milliseconds (BIGINT) so SQLite and Postgres agree.
-- Patients are keyed by an HMAC of their id under the instance secret, so
-- the database holds no patient identifier in clear.
CREATE TABLE IF NOT EXISTS settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS cards (
    card_uuid   TEXT PRIMARY KEY,
    service_id  TEXT NOT NULL,
    patient_key TEXT NOT NULL,
    issued_at   BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS feedback (
    card_uuid     TEXT NOT NULL,
    outcome       TEXT NOT NULL,
    service_id    TEXT NOT NULL,
    patient_key   TEXT NOT NULL,
    reason_code   TEXT NOT NULL DEFAULT '',
    suggestions   TEXT NOT NULL DEFAULT '',
    user_comment  TEXT NOT NULL DEFAULT '',
    outcome_at    BIGINT NOT NULL,
    received_at   BIGINT NOT NULL,
    snooze_until  BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (card_uuid, outcome)
);

CREATE INDEX IF NOT EXISTS feedback_patient ON feedback (patient_key, snooze_until);

CREATE TABLE IF NOT EXISTS evidence (
    id         TEXT PRIMARY KEY,
    body       TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS jwt_ids (
    issuer     TEXT NOT NULL,
    jti        TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (issuer, jti)
);

CREATE INDEX IF NOT EXISTS jwt_ids_expiry ON jwt_ids (expires_at);
