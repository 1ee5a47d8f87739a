"""SQL and Redis calls of the live features: what was stored since a place in the log, which
of some events are stored, a reply's message; the "stored" channel the ingest announces on.

A row's place in the log is (tx, position) (migration 0017, `activitylog.domain.followers`).
Live readers keep a horizon (`log_followers.HORIZON_TX`): every row of a transaction below
it is visible or never will be, so rows above the horizon are all a reader still has to look at; the
rows it has seen above it are remembered by the caller (use_cases.live), not re-sent.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import redis.asyncio as aioredis

from activitylog.domain.followers import LogPlace
from activitylog.storage.log_followers import HORIZON_TX

# Every column a read of the log returns (the API's views and the UI's rows take theirs),
# with the lead's as the admin browser reads them, and the row's place in the log.
_COLUMNS = """a.id, a."timestamp", a.event_type, a.event_category, a.description,
    a.message_content, a.metadata, a.source, a.execution_id, a.lead_id, a.lead_airtable_id,
    a.client_id, a.created_by, a.created_at,
    l.id AS lead_row_id, l.first_name, l.last_name,
    lead_display_name(l.first_name, l.last_name, l.email, l.airtable_record_id) AS lead_name,
    l.email AS lead_email,
    a.tx::text::bigint AS place_tx, a.position AS place_position"""


def stored_channel(stream: str) -> str:
    """The pub/sub channel on which the ingest of `stream` announces what it stored."""
    return f"{stream}:stored"


async def announce(client: aioredis.Redis, channel: str, message: bytes) -> int:
    """PUBLISH one announcement; returns how many subscribers got it."""
    return int(await client.publish(channel, message))


@dataclass(frozen=True, slots=True)
class Scope:
    """What a live reader may see and asked for (None/empty: any). Applied in SQL to the few
    rows above a horizon, so each value is a plain condition."""

    lead_id: uuid.UUID | None = None
    lead_airtable_id: str | None = None
    client_id: uuid.UUID | None = None
    categories: tuple[str, ...] = ()
    event_types: tuple[str, ...] = ()
    source: str | None = None
    source_prefix: str | None = None
    execution_id: str | None = None
    created_by: uuid.UUID | None = None
    since: datetime | None = None  # the event's own time, inclusive
    before: datetime | None = None  # exclusive


def _like_prefix(text: str) -> str:
    return re.sub(r"([\\%_])", r"\\\1", text) + "%"


def _conditions(scope: Scope, values: list[Any]) -> list[str]:
    def add(value: Any) -> str:
        values.append(value)
        return f"${len(values)}"

    conds: list[str] = []
    if scope.lead_id is not None:
        conds.append(f"a.lead_id = {add(scope.lead_id)}")
    if scope.lead_airtable_id is not None:
        conds.append(f"l.airtable_record_id = {add(scope.lead_airtable_id)}")
    if scope.client_id is not None:
        conds.append(f"a.client_id = {add(scope.client_id)}")
    if scope.categories:
        conds.append(f"a.event_category = ANY({add(list(scope.categories))}::text[])")
    if scope.event_types:
        conds.append(f"a.event_type = ANY({add(list(scope.event_types))}::text[])")
    if scope.source is not None:
        conds.append(f"a.source = {add(scope.source)}")
    if scope.source_prefix is not None:
        conds.append(f"a.source LIKE {add(_like_prefix(scope.source_prefix))}")
    if scope.execution_id is not None:
        conds.append(f"a.execution_id = {add(scope.execution_id)}")
    if scope.created_by is not None:
        conds.append(f"a.created_by = {add(scope.created_by)}")
    if scope.since is not None:
        conds.append(f'a."timestamp" >= {add(scope.since)}')
    if scope.before is not None:
        conds.append(f'a."timestamp" < {add(scope.before)}')
    return conds


@dataclass(frozen=True, slots=True)
class Tail:
    """Rows above a horizon (in log order) and the horizon now: every row below it is one
    of an ended transaction."""

    rows: list[asyncpg.Record]
    horizon: LogPlace


def place_of(row: asyncpg.Record) -> LogPlace:
    return LogPlace(int(row["place_tx"]), int(row["place_position"]))


async def horizon(conn: asyncpg.Connection) -> LogPlace:
    """Where a reader starting now begins: before the oldest transaction still running."""
    xmin = await conn.fetchval(f"SELECT {HORIZON_TX}::text::bigint")
    return LogPlace(int(xmin), 0)


async def tail(conn: asyncpg.Connection, after: LogPlace, scope: Scope, limit: int) -> Tail:
    """Up to `limit` rows in `scope` placed after `after`, in log order, and the horizon of
    the same snapshot (the (tx, position) index finds them; rows of older versions have no
    place and are never new). One statement: a horizon read apart, later, could pass a
    transaction that committed in between, unread."""
    values: list[Any] = [after.tx, after.position]
    conds = [
        "a.tx IS NOT NULL",
        "a.tx >= $1::xid8",
        "(a.tx, a.position) > ($1::xid8, $2::bigint)",
        *_conditions(scope, values),
    ]
    values.append(limit)
    sql = f"""
        SELECT h.horizon_tx, r.*
        FROM (SELECT {HORIZON_TX}::text::bigint AS horizon_tx) AS h
        LEFT JOIN LATERAL (
            SELECT {_COLUMNS}
            FROM lead_activity_log AS a JOIN leads AS l ON l.id = a.lead_id
            WHERE {" AND ".join(conds)}
            ORDER BY a.tx, a.position
            LIMIT ${len(values)}
        ) AS r ON true
        ORDER BY r.place_tx, r.place_position
        """
    found = list(await conn.fetch(sql, *values))
    xmin = int(found[0]["horizon_tx"])
    rows = [r for r in found if r["id"] is not None]
    return Tail(rows, LogPlace(xmin, 0))


async def arrived_since(
    conn: asyncpg.Connection, since: datetime, scope: Scope, limit: int
) -> list[asyncpg.Record]:
    """Up to `limit` rows in `scope` stored at or after `since` (arrival time), oldest
    first: what a page rendered at `since` may lack (the BRIN index on created_at)."""
    values: list[Any] = [since]
    conds = ["a.created_at >= $1", "a.tx IS NOT NULL", *_conditions(scope, values)]
    values.append(limit)
    sql = f"""
        SELECT {_COLUMNS}
        FROM lead_activity_log AS a JOIN leads AS l ON l.id = a.lead_id
        WHERE {" AND ".join(conds)}
        ORDER BY a.created_at, a.id
        LIMIT ${len(values)}
        """
    return list(await conn.fetch(sql, *values))


async def stored_ids(conn: asyncpg.Connection, ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Which of `ids` are rows of the log."""
    rows = await conn.fetch(
        "SELECT id FROM lead_activity_log WHERE id = ANY($1::uuid[])", list(ids)
    )
    return {r["id"] for r in rows}


# Metadata keys naming a message (its provider's id) and, on a reply, the message it answers.
MESSAGE_KEYS = ("messageId", "message_id", "messageSid", "message_sid")
# An event whose metadata names the message $2.
_NAMES_MESSAGE = " OR ".join(f"metadata->>'{key}' = $2" for key in MESSAGE_KEYS)


async def send_of_message(
    conn: asyncpg.Connection, lead_id: uuid.UUID, message_ref: str
) -> asyncpg.Record | None:
    """The lead's MESSAGE_SENT of the message a report names (its provider's id)."""
    return await conn.fetchrow(
        f"""
        SELECT id, "timestamp" FROM lead_activity_log
        WHERE lead_id = $1 AND event_type = 'MESSAGE_SENT' AND ({_NAMES_MESSAGE})
        ORDER BY "timestamp", id LIMIT 1
        """,
        lead_id,
        message_ref,
    )


async def message_named(
    conn: asyncpg.Connection, lead_id: uuid.UUID, reference: str
) -> asyncpg.Record | None:
    """The lead's event a reply's `inReplyTo` names: its event id, or its message id."""
    try:
        event_id: uuid.UUID | None = uuid.UUID(reference)
    except ValueError:
        event_id = None
    if event_id is not None:
        row = await conn.fetchrow(
            'SELECT id, "timestamp" FROM lead_activity_log WHERE id = $1 AND lead_id = $2',
            event_id,
            lead_id,
        )
        if row is not None:
            return row
    return await conn.fetchrow(
        f"""
        SELECT id, "timestamp" FROM lead_activity_log
        WHERE lead_id = $1 AND ({_NAMES_MESSAGE})
        ORDER BY "timestamp" DESC, id DESC LIMIT 1
        """,
        lead_id,
        reference,
    )


async def latest_before(
    conn: asyncpg.Connection,
    lead_id: uuid.UUID,
    before: datetime,
    event_types: Sequence[str],
    within: timedelta,
) -> asyncpg.Record | None:
    """The lead's latest event of `event_types` before `before`, no older than `within`
    (the (lead_id, "timestamp") index)."""
    return await conn.fetchrow(
        """
        SELECT id, "timestamp" FROM lead_activity_log
        WHERE lead_id = $1 AND "timestamp" < $2 AND "timestamp" >= $3
          AND event_type = ANY($4::text[])
        ORDER BY "timestamp" DESC, id DESC LIMIT 1
        """,
        lead_id,
        before,
        before - within,
        list(event_types),
    )
