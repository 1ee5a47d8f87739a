-- Retention with an archive (docs/RUNBOOK.md §18).

-- A client's own retention, where it differs from the installation's RETENTION_MONTHS.
-- A table rather than a setting: set per client by `activitylog retention set-client`.
CREATE TABLE client_retention (
    client_id    uuid PRIMARY KEY,
    keep_months  integer NOT NULL CHECK (keep_months >= 1),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- Every Parquet file retention wrote, with its row count as read back from the file: what
-- `archive list` shows and `archive restore` loads. A month whose partition was dropped is
-- known here (and by its ids in lead_activity_ids).
CREATE TABLE activity_log_archives (
    path         text PRIMARY KEY,
    month        date NOT NULL,
    -- NULL: the whole month (its partition dropped); else the rows of some clients deleted.
    client_id    uuid,
    scope        text NOT NULL CHECK (scope IN ('month', 'client', 'default-clients')),
    rows         bigint NOT NULL,
    bytes        bigint NOT NULL,
    archived_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX activity_log_archives_month_idx ON activity_log_archives (month);

-- Months brought back by `archive restore`: retention leaves them alone until `until`.
CREATE TABLE activity_log_restores (
    month        date PRIMARY KEY,
    rows         bigint NOT NULL,
    restored_at  timestamptz NOT NULL DEFAULT now(),
    until        timestamptz NOT NULL
);
