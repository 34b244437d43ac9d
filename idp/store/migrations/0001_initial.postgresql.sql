-- The first schema. Every table has expires_at (epoch seconds): expired rows read as absent
-- and the purge deletes them.

CREATE TABLE store_state (
    name TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO store_state (name, value) VALUES ('keys_version', 0);

CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY,
    alg TEXT NOT NULL,
    sealed BYTEA,
    created_at BIGINT NOT NULL,
    activates_at BIGINT NOT NULL,
    retires_at BIGINT NOT NULL,
    removes_at BIGINT NOT NULL,
    revoked_at BIGINT,
    expires_at BIGINT NOT NULL
);

CREATE TABLE reference_tokens (
    digest BYTEA PRIMARY KEY,
    client_id TEXT NOT NULL,
    data BYTEA NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX reference_tokens_expiry ON reference_tokens (expires_at);

CREATE TABLE revoked_tokens (
    digest BYTEA PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX revoked_tokens_expiry ON revoked_tokens (expires_at);

CREATE TABLE used_ids (
    digest BYTEA PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX used_ids_expiry ON used_ids (expires_at);

CREATE TABLE throttle (
    subject BYTEA PRIMARY KEY,
    failures BIGINT NOT NULL,
    blocked_until DOUBLE PRECISION NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX throttle_expiry ON throttle (expires_at);

CREATE TABLE throttle_credentials (
    subject BYTEA NOT NULL,
    mac BYTEA NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (subject, mac)
);
CREATE INDEX throttle_credentials_expiry ON throttle_credentials (expires_at);
