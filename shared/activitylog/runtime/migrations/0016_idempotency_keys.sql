-- Idempotency keys of events the API stored directly while Redis was down (docs/CONTRACT.md
-- §5): the key's hash, the hash of the body first sent with it, and what that first answer
-- needs to be given again (its status and the time the events were received). While Redis
-- is up the same record lives in Redis, beside the stream entries it names.
CREATE TABLE idempotency_keys (
    key_hash     bytea PRIMARY KEY,
    body_hash    bytea NOT NULL,
    status       smallint NOT NULL,
    received_at  timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL
);
CREATE INDEX idempotency_keys_expires_idx ON idempotency_keys (expires_at);
