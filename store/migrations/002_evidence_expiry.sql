-- Expired snapshots are purged by expiry, which without an index read the
-- whole table: a hook's time grew with the snapshots kept.
CREATE INDEX IF NOT EXISTS evidence_expiry ON evidence (expires_at);
