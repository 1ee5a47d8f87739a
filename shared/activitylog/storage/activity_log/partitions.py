"""The log's monthly partitions (migration 0019): which exist, creating one, the copy of an
old unpartitioned table into them, and what retention reads, drops and deletes."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import asyncpg

from activitylog.domain.partitions import add_months

# The archive's columns, in the log's order.
COLUMNS = (
    "timestamp",
    "created_at",
    "tx",
    "position",
    "id",
    "lead_id",
    "client_id",
    "created_by",
    "event_type",
    "event_category",
    "source",
    "lead_airtable_id",
    "execution_id",
    "description",
    "message_content",
    "metadata",
)
# As read for the archive: ids as text, tx as a number, metadata as its JSON text.
_SELECT = (
    '"timestamp", created_at, tx::text::bigint AS tx, position, id::text AS id, '
    "lead_id::text AS lead_id, client_id::text AS client_id, created_by::text AS created_by, "
    "event_type, event_category, source, lead_airtable_id, execution_id, description, "
    "message_content, metadata::text AS metadata"
)


def partition_name(month: date) -> str:
    """The partition of `month`, as migration 0019's activity_log_add_month names it."""
    return f"lead_activity_log_y{month.year:04d}m{month.month:02d}"


def _bounds(month: date) -> tuple[date, date]:
    return month, add_months(month, 1)


async def months(conn: asyncpg.Connection) -> list[date]:
    """The months that have a partition."""
    rows = await conn.fetch(
        r"""
        SELECT make_date(substr(c.relname, 20, 4)::int, substr(c.relname, 25, 2)::int, 1) AS m
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'lead_activity_log'::regclass
          AND c.relname ~ '^lead_activity_log_y\d{4}m\d{2}$'
        ORDER BY 1
        """
    )
    return [r["m"] for r in rows]


async def waiting_months(conn: asyncpg.Connection) -> list[date]:
    """Months of the events waiting in the default partition (no partition of their own)."""
    rows = await conn.fetch(
        """
        SELECT DISTINCT date_trunc('month', "timestamp", 'UTC')::date AS m
        FROM lead_activity_log_default ORDER BY 1
        """
    )
    return [r["m"] for r in rows]


async def lock_for_ddl(conn: asyncpg.Connection) -> None:
    """Before creating or dropping a partition (the caller's transaction): the locks that
    takes, in the write path's order (leads, then the log), each waited for 2 s at most.
    A partition's foreign key locks `leads` against writes; a batch holds `leads`, then
    writes the log. Taken first, a cycle can only form while this waits, and then this is
    the transaction the deadlock check cancels, not a batch."""
    await conn.execute("SET LOCAL lock_timeout = '2s'")
    await conn.execute("LOCK TABLE leads IN SHARE ROW EXCLUSIVE MODE")


async def add_month(
    conn: asyncpg.Connection, month: date, parent: str = "lead_activity_log"
) -> bool:
    """Create `month`'s partition (its waiting rows moved in); False if it existed."""
    return bool(await conn.fetchval("SELECT activity_log_add_month($1, $2)", month, parent))


# The copy of an unpartitioned table (`activitylog partitions migrate`).


@dataclass(frozen=True, slots=True)
class MigrationState:
    """Where the copy is: None when there is nothing to copy (already partitioned)."""

    pending: bool
    copied: int
    total: int | None
    last_id: uuid.UUID | None


async def migration_state(conn: asyncpg.Connection) -> MigrationState:
    pending = await conn.fetchval("SELECT to_regclass('lead_activity_log_partitioned') IS NOT NULL")
    row = await conn.fetchrow("SELECT copied, total, last_id FROM activity_log_migration")
    if row is None:
        return MigrationState(bool(pending), 0, None, None)
    return MigrationState(bool(pending), row["copied"], row["total"], row["last_id"])


async def start_migration(conn: asyncpg.Connection) -> tuple[date | None, date | None, int]:
    """Record the copy's start (kept if it has begun) and return the old table's first and
    last month and its estimated size (the planner's count: exact is a full scan)."""
    span = await conn.fetchrow(
        """
        SELECT date_trunc('month', min("timestamp"), 'UTC')::date AS lo,
               date_trunc('month', max("timestamp"), 'UTC')::date AS hi
        FROM lead_activity_log
        """
    )
    estimate = int(
        await conn.fetchval(
            "SELECT greatest(reltuples, 0)::bigint FROM pg_class "
            "WHERE oid = 'lead_activity_log'::regclass"
        )
    )
    await conn.execute(
        """
        INSERT INTO activity_log_migration (total) VALUES ($1)
        ON CONFLICT (one) DO UPDATE SET total = EXCLUDED.total
        """,
        estimate,
    )
    assert span is not None
    return span["lo"], span["hi"], estimate


_COPY = """
WITH batch AS MATERIALIZED (
    SELECT * FROM lead_activity_log
    WHERE $1::uuid IS NULL OR id > $1::uuid
    ORDER BY id LIMIT $2
    -- A purge waits for the batch (and the batch for a purge): a row deleted meanwhile is
    -- not copied back to life. Updates pass: the mirror trigger upserts them.
    FOR KEY SHARE
), claimed AS (
    INSERT INTO lead_activity_ids (id, "timestamp")
    SELECT id, "timestamp" FROM batch ORDER BY id
    ON CONFLICT DO NOTHING
), copied AS (
    INSERT INTO lead_activity_log_partitioned (COLS)
    SELECT COLS FROM batch ORDER BY id
    -- The trigger's copy of a row written meanwhile is newer than this one.
    ON CONFLICT DO NOTHING
)
UPDATE activity_log_migration
SET copied = copied + (SELECT count(*) FROM batch),
    last_id = coalesce((SELECT id FROM batch ORDER BY id DESC LIMIT 1), last_id)
RETURNING (SELECT count(*) FROM batch) AS n, copied, last_id
""".replace("COLS", ", ".join(f'"{c}"' for c in COLUMNS))


async def copy_batch(
    conn: asyncpg.Connection, after: uuid.UUID | None, limit: int
) -> tuple[int, int, uuid.UUID | None]:
    """Copy the next `limit` old rows (by id) and move the recorded place, in one
    transaction; returns (rows copied now, copied in all, the last id copied)."""
    async with conn.transaction():
        row = await conn.fetchrow(_COPY, after, limit)
    assert row is not None
    return int(row["n"]), int(row["copied"]), row["last_id"]


async def swap(conn: asyncpg.Connection) -> None:
    """The partitioned table takes the log's name (migration 0019's activity_log_swap)."""
    async with conn.transaction():
        await conn.execute("SET LOCAL lock_timeout = '10s'")
        await conn.execute("SELECT activity_log_swap()")


# What retention reads, drops and deletes.


@dataclass(frozen=True, slots=True)
class Rows:
    """Which rows of a month: all of them, one client's, or every client's but some."""

    month: date
    client: uuid.UUID | None = None
    sparing: frozenset[uuid.UUID] | None = None  # with client None: all but these

    def where(self) -> tuple[str, list[Any]]:
        """The condition on the month's partition, and its parameters ($1 on)."""
        if self.client is not None:
            return "client_id = $1", [self.client]
        if self.sparing is not None:
            return (
                "(client_id IS NULL OR client_id <> ALL($1::uuid[]))",
                [sorted(self.sparing)],
            )
        return "true", []


async def lock_month(conn: asyncpg.Connection, month: date) -> bool:
    """Hold `month`'s partition against writes for the caller's transaction (reads go on):
    what is archived is what is then dropped or deleted. False if it has no partition."""
    name = partition_name(month)
    if not await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", name):
        return False
    await conn.execute(f'LOCK TABLE "{name}" IN SHARE MODE')
    return True


async def count_rows(conn: asyncpg.Connection, rows: Rows) -> int:
    where, args = rows.where()
    return int(
        await conn.fetchval(
            f'SELECT count(*) FROM "{partition_name(rows.month)}" WHERE {where}', *args
        )
    )


async def read_rows(
    conn: asyncpg.Connection, rows: Rows, batch: int = 50_000
) -> AsyncIterator[list[asyncpg.Record]]:
    """The rows, `batch` at a time, through a cursor (the caller's transaction is open)."""
    where, args = rows.where()
    # A cursor of its own, closed at the end: the partition is dropped in this transaction.
    await conn.execute(
        f"DECLARE activity_log_archiving NO SCROLL CURSOR FOR SELECT {_SELECT} "
        f'FROM "{partition_name(rows.month)}" WHERE {where} ORDER BY id',
        *args,
    )
    try:
        while chunk := await conn.fetch(f"FETCH {int(batch)} FROM activity_log_archiving"):
            yield chunk
    finally:
        await conn.execute("CLOSE activity_log_archiving")


async def untaken(conn: asyncpg.Connection, month: date) -> bool:
    """Whether a follower (the counters, the analytics) has yet to take in a row of
    `month`: a late event is counted before its month goes."""
    return bool(
        await conn.fetchval(
            f"""
            SELECT EXISTS (
                SELECT 1 FROM "{partition_name(month)}" AS a
                WHERE a.tx IS NOT NULL AND (
                    (a.tx, a.position) > (log_follower_tx('counters'),
                                          log_follower_position('counters'))
                    OR (a.tx, a.position) > (log_follower_tx('analytics'),
                                             log_follower_position('analytics'))))
            """
        )
    )


async def drop_month(conn: asyncpg.Connection, month: date) -> None:
    """Drop `month`'s partition (its ids stay in the registry: replays are recognised).
    The drop locks the whole log, and queries queue behind a waiting lock: it waits 2 s at
    most, else the month waits for the next run."""
    await lock_for_ddl(conn)
    await conn.execute(f'DROP TABLE "{partition_name(month)}"')


async def delete_rows(conn: asyncpg.Connection, rows: Rows) -> int:
    where, args = rows.where()
    done = await conn.execute(f'DELETE FROM "{partition_name(rows.month)}" WHERE {where}', *args)
    return int(done.rsplit(" ", 1)[-1])


_RESTORED = (
    '"timestamp", created_at, tx::text::xid8, position, id::uuid, lead_id::uuid, '
    "client_id::uuid, created_by::uuid, event_type, event_category, source, lead_airtable_id, "
    "execution_id, description, message_content, metadata::jsonb"
)


async def restore_rows(conn: asyncpg.Connection, records: list[tuple[Any, ...]]) -> int:
    """Insert archived rows (in COLUMNS order, as the archive holds them) that are not in
    the log, their ids claimed again where they are not. Returns how many were new."""
    await conn.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS activity_log_restoring ON COMMIT DELETE ROWS AS "
        f"SELECT {_SELECT} FROM lead_activity_log WITH NO DATA"
    )
    await conn.copy_records_to_table(
        "activity_log_restoring", records=records, columns=list(COLUMNS)
    )
    cols = ", ".join(f'"{c}"' for c in COLUMNS)
    await conn.execute(
        'INSERT INTO lead_activity_ids (id, "timestamp") '
        'SELECT id::uuid, "timestamp" FROM activity_log_restoring ORDER BY id '
        "ON CONFLICT DO NOTHING"
    )
    done = await conn.execute(
        f"INSERT INTO lead_activity_log ({cols}) SELECT {_RESTORED} FROM activity_log_restoring "
        "ORDER BY id ON CONFLICT DO NOTHING"
    )
    await conn.execute("TRUNCATE activity_log_restoring")
    return int(done.rsplit(" ", 1)[-1])


# The archive's record and the per-client policy (migration 0020).


@dataclass(frozen=True, slots=True)
class ArchivedFile:
    path: str
    month: date
    client_id: uuid.UUID | None
    scope: str
    rows: int
    bytes: int
    archived_at: datetime


async def record_archive(conn: asyncpg.Connection, file: ArchivedFile) -> None:
    await conn.execute(
        """
        INSERT INTO activity_log_archives (path, month, client_id, scope, rows, bytes)
        VALUES ($1, $2, $3, $4, $5, $6)
        ON CONFLICT (path) DO UPDATE SET rows = EXCLUDED.rows, bytes = EXCLUDED.bytes
        """,
        file.path,
        file.month,
        file.client_id,
        file.scope,
        file.rows,
        file.bytes,
    )


async def archived(conn: asyncpg.Connection, month: date | None = None) -> list[ArchivedFile]:
    rows = await conn.fetch(
        """
        SELECT path, month, client_id, scope, rows, bytes, archived_at
        FROM activity_log_archives WHERE $1::date IS NULL OR month = $1
        ORDER BY month, archived_at, path
        """,
        month,
    )
    return [ArchivedFile(*r) for r in rows]


async def client_keep(conn: asyncpg.Connection) -> dict[uuid.UUID, int]:
    rows = await conn.fetch("SELECT client_id, keep_months FROM client_retention")
    return {r["client_id"]: r["keep_months"] for r in rows}


async def set_client_keep(conn: asyncpg.Connection, client: uuid.UUID, keep: int | None) -> None:
    """Set a client's own retention in months, or (None) return it to the installation's."""
    if keep is None:
        await conn.execute("DELETE FROM client_retention WHERE client_id = $1", client)
        return
    await conn.execute(
        """
        INSERT INTO client_retention (client_id, keep_months) VALUES ($1, $2)
        ON CONFLICT (client_id) DO UPDATE SET keep_months = EXCLUDED.keep_months,
                                              updated_at = now()
        """,
        client,
        keep,
    )


async def held_months(conn: asyncpg.Connection, now: datetime) -> list[date]:
    """Months restored lately, which retention leaves alone until their time is up."""
    rows = await conn.fetch("SELECT month FROM activity_log_restores WHERE until > $1", now)
    return [r["month"] for r in rows]


async def record_restore(conn: asyncpg.Connection, month: date, rows: int, until: datetime) -> None:
    await conn.execute(
        """
        INSERT INTO activity_log_restores (month, rows, until) VALUES ($1, $2, $3)
        ON CONFLICT (month) DO UPDATE SET rows = EXCLUDED.rows, until = EXCLUDED.until,
                                          restored_at = now()
        """,
        month,
        rows,
        until,
    )
