-- The first schema. Every table has expires_at (epoch seconds): expired rows read as absent
-- and the purge deletes them.

CREATE TABLE store_state (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT INTO store_state (name, value) VALUES ('keys_version', 0);

CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY,
    alg TEXT NOT NULL,
    sealed BLOB,
    created_at INTEGER NOT NULL,
    activates_at INTEGER NOT NULL,
    retires_at INTEGER NOT NULL,
    removes_at INTEGER NOT NULL,
    revoked_at INTEGER,
    expires_at INTEGER NOT NULL
);

CREATE TABLE reference_tokens (
    digest BLOB PRIMARY KEY,
    client_id TEXT NOT NULL,
    data BLOB NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX reference_tokens_expiry ON reference_tokens (expires_at);

CREATE TABLE revoked_tokens (
    digest BLOB PRIMARY KEY,
    expires_at INTEGER NOT NULL
);
CREATE INDEX revoked_tokens_expiry ON revoked_tokens (expires_at);

CREATE TABLE used_ids (
    digest BLOB PRIMARY KEY,
    expires_at INTEGER NOT NULL
);
CREATE INDEX used_ids_expiry ON used_ids (expires_at);

CREATE TABLE throttle (
    subject BLOB PRIMARY KEY,
    failures INTEGER NOT NULL,
    blocked_until REAL NOT NULL,
    expires_at REAL NOT NULL
);
CREATE INDEX throttle_expiry ON throttle (expires_at);

CREATE TABLE throttle_credentials (
    subject BLOB NOT NULL,
    mac BLOB NOT NULL,
    expires_at REAL NOT NULL,
    PRIMARY KEY (subject, mac)
);
CREATE INDEX throttle_credentials_expiry ON throttle_credentials (expires_at);
