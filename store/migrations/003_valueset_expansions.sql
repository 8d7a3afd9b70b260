-- Value-set expansions fetched from the terminology server, kept so that an
-- instance that cannot reach it uses the last good expansion, not only the
-- one shipped with Balint. body is a FHIR ValueSet with its expansion.
CREATE TABLE IF NOT EXISTS valueset_expansions (
    url        TEXT PRIMARY KEY,
    body       TEXT NOT NULL,
    fetched_at BIGINT NOT NULL
);
