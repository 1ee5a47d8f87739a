-- One row per backfill run into the log (dry runs write nothing, so none), for
-- `activitylog backfill status`: what each run read, wrote and skipped, and when.
CREATE TABLE backfill_runs (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind         text        NOT NULL,
    source       text        NOT NULL,
    status       text        NOT NULL DEFAULT 'running'
                 CHECK (status IN ('running', 'finished', 'failed')),
    started_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz,
    rows_read    bigint      NOT NULL DEFAULT 0,
    written      bigint      NOT NULL DEFAULT 0,
    duplicates   bigint      NOT NULL DEFAULT 0,
    skipped      bigint      NOT NULL DEFAULT 0,
    summary      jsonb
);
CREATE INDEX backfill_runs_started_idx ON backfill_runs (started_at DESC);
