"""SQL for the `retry_queue` table (the dead-letter store)."""

from __future__ import annotations

import asyncpg

from activitylog.domain.dead_letters import (
    DeadLetter,
    ImportedRow,
    RetryRow,
    RetryStatus,
    RowUpdate,
)


def storable_text(text: str) -> str:
    """PostgreSQL text cannot hold NUL; keep the payload readable and lossless otherwise."""
    return text.replace("\x00", "\\u0000")


async def add(conn: asyncpg.Connection, letters: list[DeadLetter]) -> int:
    """Insert dead letters; a queue_id already present is left alone (redelivery)."""
    if not letters:
        return 0
    letters = sorted(letters, key=lambda d: d.queue_id)
    result = await conn.execute(
        """
        INSERT INTO retry_queue
            (queue_id, operation_type, lead_id, payload, last_error, status, next_retry_at,
             waiting_for)
        SELECT q, o, l, p, e, s, n, nullif(string_to_array(w, E'\\x1f'), '{}')
        FROM unnest(
            $1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
            $7::timestamptz[], $8::text[]
        ) AS t(q, o, l, p, e, s, n, w)
        ON CONFLICT (queue_id) DO NOTHING
        """,
        [d.queue_id for d in letters],
        [d.operation_type for d in letters],
        [storable_text(d.lead_id) if d.lead_id else None for d in letters],
        [storable_text(d.payload) for d in letters],
        [storable_text(d.reason) for d in letters],
        [d.status.value for d in letters],
        [d.next_retry_at for d in letters],
        # unnest cannot take a ragged array of arrays: each list travels as one text.
        [_UNIT.join(d.waiting_for) for d in letters],
    )
    return int(result.rsplit(" ", 1)[-1])


_UNIT = "\x1f"  # the unit separator: no key (a phone, an email, an id) holds it


async def wake(conn: asyncpg.Connection, keys: list[str]) -> int:
    """Make the rows waiting for any of `keys` due now, dead ones (given up waiting) pending
    again: what they waited for has come. Returns how many."""
    if not keys:
        return 0
    result = await conn.execute(
        """
        UPDATE retry_queue SET status = 'pending', next_retry_at = now(), updated_at = now()
        WHERE status IN ('pending', 'dead') AND waiting_for && $1::text[]
          AND (status = 'dead' OR next_retry_at IS NULL OR next_retry_at > now())
        """,
        sorted(set(keys)),
    )
    return int(result.rsplit(" ", 1)[-1])


async def count_waiting(conn: asyncpg.Connection) -> int:
    """Rows whose lead (or send) is not known yet, pending or given up: events no lead took."""
    return int(
        await conn.fetchval(
            "SELECT count(*) FROM retry_queue "
            "WHERE status IN ('pending', 'dead') AND waiting_for IS NOT NULL"
        )
    )


async def count_by_status(conn: asyncpg.Connection) -> dict[str, int]:
    """Rows per status (health figures, tests)."""
    rows = await conn.fetch("SELECT status, count(*) AS n FROM retry_queue GROUP BY status")
    counts = {s.value: 0 for s in RetryStatus}
    counts.update({r["status"]: int(r["n"]) for r in rows})
    return counts


# -- re-drive, operators and import ------------------------------------------------

_COLUMNS = """id, queue_id, operation_type, lead_id, payload, retry_count, next_retry_at,
    last_error, status, created_at, updated_at, alerted_at"""


def _row(record: asyncpg.Record) -> RetryRow:
    values = dict(record)
    values["status"] = RetryStatus(values["status"])
    return RetryRow(**values)


async def claim_due(conn: asyncpg.Connection, limit: int) -> list[RetryRow]:
    """Lock up to `limit` due pending rows that no other replica holds (inside a transaction)."""
    rows = await conn.fetch(
        f"""
        SELECT {_COLUMNS} FROM retry_queue
        WHERE status = 'pending' AND (next_retry_at IS NULL OR next_retry_at <= now())
        ORDER BY next_retry_at NULLS FIRST, id
        LIMIT $1
        FOR UPDATE SKIP LOCKED
        """,
        limit,
    )
    return [_row(r) for r in rows]


async def lock(conn: asyncpg.Connection, row_ids: list[int]) -> list[RetryRow]:
    """Lock the given rows, waiting for a replica that holds one (inside a transaction)."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM retry_queue WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE",
        row_ids,
    )
    return [_row(r) for r in rows]


async def get(conn: asyncpg.Connection, row_id: int) -> RetryRow | None:
    record = await conn.fetchrow(f"SELECT {_COLUMNS} FROM retry_queue WHERE id = $1", row_id)
    return _row(record) if record else None


async def get_by_queue_id(conn: asyncpg.Connection, queue_id: str) -> RetryRow | None:
    record = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM retry_queue WHERE queue_id = $1", queue_id
    )
    return _row(record) if record else None


async def list_rows(
    conn: asyncpg.Connection,
    *,
    status: RetryStatus | None = None,
    lead_id: str | None = None,
    before_id: int | None = None,
    limit: int = 50,
    unplaced: bool = False,
) -> list[RetryRow]:
    """Newest first, keyset-paged on id; filters are optional (`unplaced`: rows no lead took
    yet, see `count_waiting`)."""
    rows = await conn.fetch(
        f"""
        SELECT {_COLUMNS} FROM retry_queue
        WHERE ($1::text IS NULL OR status = $1)
          AND ($2::text IS NULL OR lead_id = $2)
          AND ($3::bigint IS NULL OR id < $3)
          AND (NOT $5 OR (status IN ('pending', 'dead') AND waiting_for IS NOT NULL))
        ORDER BY id DESC
        LIMIT $4
        """,
        status.value if status else None,
        lead_id,
        before_id,
        limit,
        unplaced,
    )
    return [_row(r) for r in rows]


async def update_outcomes(conn: asyncpg.Connection, updates: list[RowUpdate]) -> None:
    """Write each attempt's outcome back (one statement for the batch)."""
    if not updates:
        return
    updates = sorted(updates, key=lambda u: u.id)
    await conn.execute(
        """
        UPDATE retry_queue AS q
        SET status = u.status, retry_count = u.retry_count, next_retry_at = u.next_retry_at,
            last_error = coalesce(u.last_error, q.last_error), updated_at = now(),
            waiting_for = CASE WHEN u.waiting IS NULL THEN q.waiting_for
                               ELSE nullif(string_to_array(u.waiting, E'\\x1f'), '{}') END
        FROM unnest($1::bigint[], $2::text[], $3::int[], $4::timestamptz[], $5::text[],
                    $6::text[])
            AS u(id, status, retry_count, next_retry_at, last_error, waiting)
        WHERE q.id = u.id
        """,
        [u.id for u in updates],
        [u.status.value for u in updates],
        [u.retry_count for u in updates],
        [u.next_retry_at for u in updates],
        [storable_text(u.last_error) if u.last_error else None for u in updates],
        [None if u.waiting_for is None else _UNIT.join(u.waiting_for) for u in updates],
    )


async def set_status(
    conn: asyncpg.Connection, row_id: int, status: RetryStatus, note: str | None = None
) -> None:
    """An operator's decision (discard); `note` replaces last_error when given."""
    await conn.execute(
        """
        UPDATE retry_queue
        SET status = $2, last_error = coalesce($3, last_error), updated_at = now()
        WHERE id = $1
        """,
        row_id,
        status.value,
        note,
    )


async def import_rows(conn: asyncpg.Connection, rows: list[ImportedRow]) -> set[str]:
    """Insert imported rows as `pending`; a queue_id already present is left alone."""
    if not rows:
        return set()
    rows = sorted(rows, key=lambda r: r.queue_id)
    inserted = await conn.fetch(
        """
        INSERT INTO retry_queue (queue_id, operation_type, lead_id, payload, retry_count,
                                 next_retry_at, status, created_at, updated_at)
        SELECT q, o, l, p, c, n, 'pending', cr, now()
        FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[],
                    $6::timestamptz[], $7::timestamptz[]) AS t(q, o, l, p, c, n, cr)
        ON CONFLICT (queue_id) DO NOTHING
        RETURNING queue_id
        """,
        [r.queue_id for r in rows],
        [r.operation_type for r in rows],
        [storable_text(r.lead_id) if r.lead_id else None for r in rows],
        [storable_text(r.payload) for r in rows],
        [r.retry_count for r in rows],
        [r.next_retry_at for r in rows],
        [r.created_at for r in rows],
    )
    return {r["queue_id"] for r in inserted}


async def ids_for_queue_ids(
    conn: asyncpg.Connection, queue_ids: list[str], status: RetryStatus
) -> list[int]:
    """Row ids of the given queue ids that are in `status`."""
    rows = await conn.fetch(
        "SELECT id FROM retry_queue WHERE queue_id = ANY($1::text[]) AND status = $2 ORDER BY id",
        queue_ids,
        status.value,
    )
    return [r["id"] for r in rows]


async def lock_unalerted_dead(conn: asyncpg.Connection, limit: int) -> list[RetryRow]:
    """Dead rows nobody has announced yet, locked so one replica announces each (in a tx)."""
    rows = await conn.fetch(
        f"""
        SELECT {_COLUMNS} FROM retry_queue
        WHERE status = 'dead' AND alerted_at IS NULL
        ORDER BY id
        LIMIT $1
        FOR UPDATE SKIP LOCKED
        """,
        limit,
    )
    return [_row(r) for r in rows]


async def mark_alerted(conn: asyncpg.Connection, row_ids: list[int]) -> None:
    await conn.execute(
        "UPDATE retry_queue SET alerted_at = now() WHERE id = ANY($1::bigint[])", row_ids
    )
