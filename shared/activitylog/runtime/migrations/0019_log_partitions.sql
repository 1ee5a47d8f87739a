-- The log in monthly partitions of its event time (docs/RUNBOOK.md §18), so a month can be
-- archived and dropped as a whole (retention) instead of deleted row by row.
--
-- Exactly-once across months. A partitioned table's unique keys must hold the partition key,
-- so the log's own key is (id, "timestamp"): unique within a month, not across them. The
-- event id's uniqueness lives in a narrow registry, lead_activity_ids: the write path
-- inserts a batch's ids there first (ON CONFLICT DO NOTHING RETURNING id) and stores only
-- the rows whose id was new (storage.activity_log.writes). Two batches carrying one id
-- serialise on the registry's primary key as they did on the log's. The registry keeps the
-- ids of archived months (retention drops the log's rows, not the ids): a replay into an
-- archived month is recognised as already stored, not stored a second time.
CREATE TABLE lead_activity_ids (
    id          uuid PRIMARY KEY,
    -- Where the event lives: a lookup by id reads one partition, not every month's.
    "timestamp" timestamptz NOT NULL
);

-- The partitioned log, created beside the old table and swapped in by activity_log_swap():
-- here at once when the old table is empty (a new database), else by
-- `activitylog partitions migrate`, which copies the old rows in batches first (a long
-- copy inside this migration would hold the table for as long as it takes).
--
-- The full-text words are an expression index (activity_search_idx), no longer a stored
-- tsvector column: that column was about a fifth of each row (docs/RUNBOOK.md §18), and a
-- search reads the index, which holds the same words.
--
-- Columns in alignment order (8-byte ones first, then the 16-byte uuids, then the
-- variable ones): no padding between them. lead_airtable_id repeats what the lead row
-- holds for events whose lead was named by its Airtable id; it stays, as the readers and
-- the exports show the id the event was sent with.
CREATE TABLE lead_activity_log_partitioned (
    "timestamp"      timestamptz NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    tx               xid8 DEFAULT pg_current_xact_id(),
    position         bigint DEFAULT nextval('lead_activity_log_position_seq'),
    id               uuid NOT NULL,
    lead_id          uuid NOT NULL,
    client_id        uuid,
    created_by       uuid,
    event_type       text NOT NULL,
    event_category   text NOT NULL,
    source           text NOT NULL,
    lead_airtable_id text,
    execution_id     text,
    description      text NOT NULL,
    message_content  text,
    metadata         jsonb,
    CONSTRAINT lead_activity_log_partitioned_pkey PRIMARY KEY (id, "timestamp"),
    CONSTRAINT lead_activity_log_partitioned_lead_id_fkey FOREIGN KEY (lead_id)
        REFERENCES leads (id) ON UPDATE CASCADE ON DELETE RESTRICT
) PARTITION BY RANGE ("timestamp");

-- lz4 where the server has it (PostgreSQL built --with-lz4; the embedded server may not
-- be): compresses the long texts about as well as pglz at a fraction of the CPU.
DO $$
BEGIN
    ALTER TABLE lead_activity_log_partitioned
        ALTER COLUMN message_content SET COMPRESSION lz4,
        ALTER COLUMN metadata SET COMPRESSION lz4,
        ALTER COLUMN description SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
    NULL;
END
$$;

-- The same indexes as before (docs/RUNBOOK.md §12.1 and §18: every one serves a browser
-- filter, the timeline, the search or the followers), declared once on the parent. The
-- _pidx suffix avoids the old table's names until the swap renames them back.
CREATE INDEX activity_lead_time_pidx ON lead_activity_log_partitioned
    (lead_id, "timestamp" DESC, id DESC);
CREATE INDEX activity_time_pidx ON lead_activity_log_partitioned ("timestamp" DESC, id DESC);
CREATE INDEX activity_type_time_pidx ON lead_activity_log_partitioned
    (event_type, "timestamp" DESC);
CREATE INDEX activity_category_time_pidx ON lead_activity_log_partitioned
    (event_category, "timestamp" DESC);
CREATE INDEX activity_client_time_pidx ON lead_activity_log_partitioned
    (client_id, "timestamp" DESC);
CREATE INDEX activity_source_time_pidx ON lead_activity_log_partitioned
    (source, "timestamp" DESC);
CREATE INDEX activity_execution_pidx ON lead_activity_log_partitioned (execution_id)
    WHERE execution_id IS NOT NULL;
CREATE INDEX activity_created_brin_pidx ON lead_activity_log_partitioned USING brin (created_at);
CREATE INDEX activity_search_pidx ON lead_activity_log_partitioned
    USING gin (to_tsvector('english', description || ' ' || coalesce(message_content, '')));
CREATE INDEX activity_metadata_search_pidx ON lead_activity_log_partitioned
    USING gin (jsonb_to_tsvector('simple', coalesce(metadata, '{}'::jsonb), '["string", "numeric"]'));
CREATE INDEX activity_client_type_time_pidx ON lead_activity_log_partitioned
    (client_id, event_type, "timestamp" DESC, id DESC);
CREATE INDEX activity_log_tail_pidx ON lead_activity_log_partitioned (tx, position)
    WHERE tx IS NOT NULL;
CREATE INDEX activity_created_by_time_pidx ON lead_activity_log_partitioned
    (created_by, "timestamp" DESC, id DESC) WHERE created_by IS NOT NULL;

-- Events outside every month created so far (far in the future, or older than the oldest
-- month) land here: never refused. The maintainer creates their month and moves them in.
CREATE TABLE lead_activity_log_default PARTITION OF lead_activity_log_partitioned DEFAULT;

-- The columns a row is copied by.
CREATE FUNCTION activity_log_columns() RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN '"timestamp", created_at, tx, position, id, lead_id, client_id, created_by, '
        'event_type, event_category, source, lead_airtable_id, execution_id, description, '
        'message_content, metadata';

-- The partition of the month starting `month` (UTC), created if missing; rows of that month
-- waiting in the default partition move into it in the same transaction. True if created.
-- The product's maintainer (use_cases.partitions) calls it for the months ahead and for
-- months found in the default partition. pg_partman is not used: the embedded server of
-- `make up` has no partman, and one maintainer everywhere is one behaviour to test.
CREATE FUNCTION activity_log_add_month(month date, parent text DEFAULT 'lead_activity_log')
    RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    part text := format('lead_activity_log_y%sm%s', to_char(month, 'YYYY'), to_char(month, 'MM'));
    lo timestamptz := date_trunc('month', month)::timestamp AT TIME ZONE 'UTC';
    hi timestamptz := (date_trunc('month', month) + interval '1 month')::timestamp AT TIME ZONE 'UTC';
    cols text := activity_log_columns();
    waiting boolean;
BEGIN
    IF to_regclass(part) IS NOT NULL THEN
        RETURN false;
    END IF;
    EXECUTE 'SELECT EXISTS (SELECT 1 FROM lead_activity_log_default '
        'WHERE "timestamp" >= $1 AND "timestamp" < $2)' INTO waiting USING lo, hi;
    IF waiting THEN
        EXECUTE format('CREATE TEMP TABLE activity_log_moving ON COMMIT DROP AS '
            'SELECT %s FROM lead_activity_log_default WITH NO DATA', cols);
        EXECUTE format('WITH moved AS (DELETE FROM lead_activity_log_default '
            'WHERE "timestamp" >= $1 AND "timestamp" < $2 RETURNING %s) '
            'INSERT INTO activity_log_moving SELECT * FROM moved', cols) USING lo, hi;
    END IF;
    EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
        part, parent, lo, hi);
    IF waiting THEN
        EXECUTE format('INSERT INTO %I (%s) SELECT %s FROM activity_log_moving', parent, cols, cols);
        DROP TABLE activity_log_moving;
    END IF;
    RETURN true;
END
$$;

-- While `partitions migrate` copies, every write to the old table is repeated on the new one
-- (an update as an upsert: the copy may not have reached the row yet, and never overwrites).
CREATE FUNCTION activity_log_mirror() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        DELETE FROM lead_activity_log_partitioned
        WHERE id = OLD.id AND "timestamp" = OLD."timestamp";
        DELETE FROM lead_activity_ids WHERE id = OLD.id;
        RETURN OLD;
    END IF;
    INSERT INTO lead_activity_ids (id, "timestamp") VALUES (NEW.id, NEW."timestamp")
    ON CONFLICT DO NOTHING;
    INSERT INTO lead_activity_log_partitioned (
        "timestamp", created_at, tx, position, id, lead_id, client_id, created_by, event_type,
        event_category, source, lead_airtable_id, execution_id, description, message_content,
        metadata
    ) VALUES (
        NEW."timestamp", NEW.created_at, NEW.tx, NEW.position, NEW.id, NEW.lead_id,
        NEW.client_id, NEW.created_by, NEW.event_type, NEW.event_category, NEW.source,
        NEW.lead_airtable_id, NEW.execution_id, NEW.description, NEW.message_content,
        NEW.metadata
    )
    ON CONFLICT (id, "timestamp") DO UPDATE SET
        lead_id = EXCLUDED.lead_id, client_id = EXCLUDED.client_id,
        lead_airtable_id = EXCLUDED.lead_airtable_id, metadata = EXCLUDED.metadata,
        description = EXCLUDED.description, message_content = EXCLUDED.message_content,
        created_by = EXCLUDED.created_by, tx = EXCLUDED.tx, position = EXCLUDED.position;
    RETURN NEW;
END
$$;

-- Where `partitions migrate` is: the last old-table id copied (ids are copied in order), so
-- an interrupted copy resumes after it.
CREATE TABLE activity_log_migration (
    one          boolean PRIMARY KEY DEFAULT true CHECK (one),
    last_id      uuid,
    copied       bigint NOT NULL DEFAULT 0,
    total        bigint,
    started_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz
);

-- The partitioned table takes the old one's name, in one short transaction: both hold the
-- same rows (checked under the lock, in one snapshot), the old table and its trigger go.
CREATE FUNCTION activity_log_swap() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    idx record;
    old_n bigint;
    new_n bigint;
BEGIN
    LOCK TABLE lead_activity_log IN ACCESS EXCLUSIVE MODE;
    SELECT count(*) INTO old_n FROM lead_activity_log;
    SELECT count(*) INTO new_n FROM lead_activity_log_partitioned;
    IF old_n <> new_n THEN
        RAISE EXCEPTION 'the partitioned log holds % rows, the old one %: not swapped', new_n, old_n;
    END IF;
    ALTER SEQUENCE lead_activity_log_position_seq OWNED BY NONE;
    DROP TABLE lead_activity_log;
    ALTER TABLE lead_activity_log_partitioned RENAME TO lead_activity_log;
    ALTER TABLE lead_activity_log
        RENAME CONSTRAINT lead_activity_log_partitioned_lead_id_fkey TO lead_activity_log_lead_id_fkey;
    ALTER INDEX lead_activity_log_partitioned_pkey RENAME TO lead_activity_log_pkey;
    ALTER SEQUENCE lead_activity_log_position_seq OWNED BY lead_activity_log.position;
    FOR idx IN
        SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        WHERE i.indrelid = 'lead_activity_log'::regclass AND c.relname LIKE '%\_pidx'
    LOOP
        EXECUTE format('ALTER INDEX %I RENAME TO %I', idx.relname,
            regexp_replace(idx.relname, '_pidx$', CASE WHEN idx.relname LIKE '%brin_pidx'
                THEN '' ELSE '_idx' END));
    END LOOP;
    INSERT INTO activity_log_migration (copied, total, finished_at)
    VALUES (new_n, new_n, now())
    ON CONFLICT (one) DO UPDATE SET finished_at = now();
END
$$;

DO $$
DECLARE
    first_month date := date_trunc('month', now() - interval '1 month');
BEGIN
    FOR m IN 0..4 LOOP
        PERFORM activity_log_add_month((first_month + make_interval(months => m))::date,
            'lead_activity_log_partitioned');
    END LOOP;
    IF EXISTS (SELECT 1 FROM lead_activity_log) THEN
        CREATE TRIGGER activity_log_mirror AFTER INSERT OR UPDATE OR DELETE
            ON lead_activity_log FOR EACH ROW EXECUTE FUNCTION activity_log_mirror();
    ELSE
        PERFORM activity_log_swap();
    END IF;
END
$$;
