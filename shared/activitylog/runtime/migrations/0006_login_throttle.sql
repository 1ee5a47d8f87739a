-- Admin sign-in attempts, counted per client address, per account from one address and per
-- account from everywhere, in PostgreSQL so that every api process sees the same counts.
-- A key that reached its limit is refused (429) until `blocked_until`. Emails that are no
-- account are counted like real ones, so a refusal does not tell which accounts exist.
CREATE TABLE login_throttle (
    key             text PRIMARY KEY,
    attempts        integer NOT NULL,
    -- Attempts count within a window that starts with the first one.
    window_ends_at  timestamptz NOT NULL,
    blocked_until   timestamptz
);
CREATE INDEX login_throttle_window_idx ON login_throttle (window_ends_at);

-- This replaces the lock-out of admin_users.failed_logins / locked_until (anyone could lock
-- any admin out with it); the columns stay, unused, for api processes of the previous
-- release still running during an upgrade.
