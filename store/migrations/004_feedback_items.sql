-- Every feedback item is kept: a second accepted suggestion, an override
-- after another. An item repeated exactly (a client retrying a batch) is
-- still kept once: the key is the whole item, not (card, outcome).
CREATE TABLE IF NOT EXISTS feedback_items (
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
    PRIMARY KEY (card_uuid, outcome, outcome_at, suggestions, reason_code)
);
INSERT INTO feedback_items SELECT card_uuid, outcome, service_id, patient_key, reason_code, suggestions,
    user_comment, outcome_at, received_at, snooze_until FROM feedback;
DROP TABLE feedback;
ALTER TABLE feedback_items RENAME TO feedback;
CREATE INDEX IF NOT EXISTS feedback_patient_snooze ON feedback (patient_key, snooze_until);
