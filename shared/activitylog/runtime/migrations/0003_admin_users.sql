-- People who log in to the admin UI, their server-side sessions, and the UI's signing secret.

CREATE TABLE admin_users (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email           text NOT NULL,
    password_hash   text NOT NULL,
    disabled        boolean NOT NULL DEFAULT false,
    -- Lock-out after repeated failures: counted per account, cleared by a good login.
    failed_logins   integer NOT NULL DEFAULT 0,
    locked_until    timestamptz,
    last_login_at   timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX admin_users_email_idx ON admin_users (lower(email));

-- The cookie holds a random id; only its SHA-256 is stored, so a database reader cannot
-- take over a session.
CREATE TABLE admin_sessions (
    id_hash     bytea PRIMARY KEY,
    data        bytea NOT NULL,
    expires_at  timestamptz NOT NULL
);
CREATE INDEX admin_sessions_expiry_idx ON admin_sessions (expires_at);

-- Secrets shared by every api replica (the CSRF token signature key), made by the first
-- replica that needs one, so a deployment needs no configuration and tokens survive restarts.
CREATE TABLE ui_secrets (
    name        text PRIMARY KEY,
    value       text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
