"""What the benchmark scripts share: a synthetic activity log loaded by COPY, its words."""

from __future__ import annotations

import contextlib
import random
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx

from activitylog.contract.taxonomy import CATEGORY_OF, EventType
from activitylog.domain.counters.rollups import compaction_cutoffs
from activitylog.runtime.db import connect
from activitylog.storage import event_counts
from activitylog.storage.activity_log import writes as activity_writes

FIRST = ["Jane", "Bob", "Ana", "Luis", "Mei", "Omar", "Sara", "Tom", "Ivy", "Raj", "Eva", "Kim"]
LAST = ["Doe", "Stone", "Lopez", "Chen", "Khan", "Novak", "Smith", "Ito", "Berg", "Rossi"]
WORDS = [
    "hello",
    "quick",
    "reminder",
    "about",
    "your",
    "appointment",
    "tomorrow",
    "reply",
    "yes",
    "to",
    "confirm",
    "stop",
    "roof",
    "inspection",
    "estimate",
    "quote",
    "window",
    "solar",
    "panel",
    "install",
    "schedule",
    "visit",
    "thanks",
    "call",
    "back",
    "price",
    "discount",
    "offer",
    "spring",
    "winter",
    "campaign",
    "booking",
    "cancel",
    "reschedule",
    "monday",
    "friday",
]
# bench/api.py's messages: word frequencies fall off like natural text, the first words are
# in most messages.
COMMON = ["appointment", "tomorrow", "reply", "confirm", "thanks", "quick", "reminder", "call"]
RARE = [
    f"{w}{n}" for w in ("solar", "roof", "panel", "quote", "budget", "install") for n in range(40)
]
_LEAD_COLUMNS = [
    "id",
    "airtable_record_id",
    "client_id",
    "first_name",
    "last_name",
    "email",
    "phone",
]
# The stored columns less created_by, and created_at set to just after each event's time.
_EVENT_COLUMNS = [*(c for c in activity_writes.COLUMNS if c != "created_by"), "created_at"]
_TYPES = list(EventType)
_CHUNK = 100_000


async def secondary_indexes(conn: asyncpg.Connection, table: str) -> list[tuple[str, str]]:
    """`table`'s indexes that back no constraint (name, CREATE statement), GIN first: the
    ones a bulk load drops and builds again after."""
    indexes = await conn.fetch(
        """
        SELECT i.indexname, i.indexdef FROM pg_indexes AS i
        WHERE i.tablename = $1 AND i.schemaname = current_schema()
          AND NOT EXISTS (SELECT 1 FROM pg_constraint AS c
                          WHERE c.conindid = format('%I', i.indexname)::regclass)
        ORDER BY i.indexdef LIKE '%USING gin%' DESC, i.indexname
        """,
        table,
    )
    # A partitioned table's index is listed ON ONLY the parent (its partitions' indexes
    # attached one by one); without ONLY, one statement builds it on every partition.
    return [(r["indexname"], r["indexdef"].replace(" ON ONLY ", " ON ", 1)) for r in indexes]


@contextlib.asynccontextmanager
async def secondary_indexes_dropped(conn: asyncpg.Connection, table: str) -> AsyncIterator[None]:
    """Bulk loads run without `table`'s secondary indexes; they are rebuilt afterwards."""
    indexes = await secondary_indexes(conn, table)
    for name, _ in indexes:
        # On a partitioned table this drops every partition's index with it.
        await conn.execute(f'DROP INDEX "{name}"')
    yield
    print("  rebuilding indexes ...", flush=True)
    for _, definition in indexes:
        await conn.execute(definition)


async def load_log(
    url: str,
    *,
    events: int,
    leads: int,
    message: Callable[[random.Random], str],
    clients: int = 0,
    days: int = 90,
    seed: int = 42,
    arrived_now: bool = False,
    sources: int = 12,
    arrived_within: timedelta | None = None,
) -> None:
    """`leads` leads (one in ten a stub, without details) spread over `clients` clients, and
    `events` events of the last `days` days with messages from `message`, loaded by COPY.

    Each event arrives a second after it happened, or, with `arrived_now`, all of them now
    (as after a large backfill, or an hour at full ingest speed), or with `arrived_within`
    at a random time in that span before now (diverse traffic: every minute and hour of it
    from many of the `sources`). The counters are then recounted from the log, as
    `activitylog counters rebuild` does."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    client_ids = [uuid.UUID(int=c + 1) for c in range(clients)]
    conn = await connect(url)  # binary jsonb codec: COPY writes metadata as dicts
    try:
        started = time.perf_counter()
        lead_rows = []
        for n in range(leads):
            stub = n % 10 == 9
            first, last = rng.choice(FIRST), rng.choice(LAST)
            lead_rows.append(
                (
                    uuid.uuid4(),
                    f"recBench{n:08d}",
                    client_ids[n % clients] if clients else None,
                    "" if stub else first,
                    "" if stub else last,
                    None if stub else f"{first.lower()}.{last.lower()}{n}@example.com",
                    None if stub else f"+1555{n:07d}",
                )
            )
        await conn.copy_records_to_table("leads", records=lead_rows, columns=_LEAD_COLUMNS)
        await month_partitions(conn, now - timedelta(days=days), now)
        async with secondary_indexes_dropped(conn, "lead_activity_log"):
            span = days * 86_400
            # Oldest first, as events arrive: the table's physical order follows created_at
            # (what the BRIN index of the health counts relies on), as it does in production.
            offsets = sorted((rng.random() * span for _ in range(events)), reverse=True)
            for start in range(0, events, _CHUNK):
                rows = []
                for i in range(start, min(start + _CHUNK, events)):
                    lead_n = rng.randrange(leads)
                    lead = lead_rows[lead_n]
                    event_type = rng.choice(_TYPES)
                    ts = now - timedelta(seconds=offsets[i])
                    if arrived_within is not None:
                        arrived = now - arrived_within * (1 - i / events)
                    else:
                        arrived = now if arrived_now else ts + timedelta(seconds=1)
                    rows.append(
                        (
                            uuid.uuid4(),
                            event_type.value,
                            CATEGORY_OF[event_type].value,
                            lead[0],
                            lead[1],
                            lead[2],
                            f"{event_type.value.replace('_', ' ').title()} #{i}",
                            message(rng),
                            {"campaign_id": f"camp{i % 40}", "phone": f"+1555{lead_n:07d}"},
                            f"n8n:wf-{i % sources}",
                            f"exec-{i}",
                            ts,
                            arrived,
                        )
                    )
                await conn.copy_records_to_table(
                    "lead_activity_log", records=rows, columns=_EVENT_COLUMNS
                )
                print(f"  loaded {min(start + _CHUNK, events):,} events", flush=True)
        await claim_ids(conn)
        # As the write path keeps it: each lead's newest event time (the browser's lead
        # search reads it to skip leads with nothing recent enough).
        await conn.execute(
            """
            UPDATE leads AS l SET last_activity_at = m.ts
            FROM (SELECT lead_id, max("timestamp") AS ts FROM lead_activity_log
                  GROUP BY lead_id) AS m
            WHERE m.lead_id = l.id
            """
        )
        await conn.execute("VACUUM ANALYZE leads")
        await conn.execute("VACUUM ANALYZE lead_activity_log")
        print(f"  load took {time.perf_counter() - started:.0f} s", flush=True)
        started = time.perf_counter()
        await event_counts.rebuild(conn, compaction_cutoffs(datetime.now(UTC)))
        await conn.execute("VACUUM ANALYZE event_counts")
        print(f"  counters rebuilt in {time.perf_counter() - started:.1f} s", flush=True)
    finally:
        await conn.close()


async def month_partitions(conn: asyncpg.Connection, first: datetime, last: datetime) -> None:
    """The months the load spans, each its own partition (migration 0019), so the load does
    not go to the default partition."""
    if await conn.fetchval("SELECT to_regproc('activity_log_add_month') IS NULL"):
        return
    await conn.execute(
        """
        SELECT activity_log_add_month(m::date)
        FROM generate_series(date_trunc('month', $1::timestamptz, 'UTC'),
                             $2::timestamptz, interval '1 month') AS m
        """,
        first,
        last,
    )


async def claim_ids(conn: asyncpg.Connection) -> None:
    """The loaded ids in the id registry (migration 0019), as the write path claims them:
    its key dropped for the bulk insert and built again after."""
    if await conn.fetchval("SELECT to_regclass('lead_activity_ids') IS NULL"):
        return
    await conn.execute("ALTER TABLE lead_activity_ids DROP CONSTRAINT lead_activity_ids_pkey")
    await conn.execute(
        """
        INSERT INTO lead_activity_ids (id, "timestamp")
        SELECT id, "timestamp" FROM lead_activity_log AS a
        WHERE NOT EXISTS (SELECT 1 FROM lead_activity_ids AS r WHERE r.id = a.id)
        """
    )
    await conn.execute("ALTER TABLE lead_activity_ids ADD PRIMARY KEY (id)")
    await conn.execute("VACUUM ANALYZE lead_activity_ids")


# -- timing pages as a signed-in admin --------------------------------------------------------

EMAIL = "bench@example.com"
PASSWORD = "bench-password-123"


async def sign_in(http: httpx.AsyncClient) -> None:
    page = await http.get("/admin/login")
    token = re.search(r'name="_csrf_token" value="([^"]+)"', page.text)
    assert token, "no CSRF token on the login page"
    response = await http.post(
        "/admin/login",
        data={"email": EMAIL, "password": PASSWORD, "_csrf_token": token[1], "next": ""},
    )
    assert response.status_code == 303, response.text


async def measure(http: httpx.AsyncClient, path: str, runs: int) -> tuple[float, list[float]]:
    """The first request's time (cold caches) and `runs` more after one more warm-up."""
    started = time.perf_counter()
    (await http.get(path)).raise_for_status()
    first = (time.perf_counter() - started) * 1000
    (await http.get(path)).raise_for_status()
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        response = await http.get(path)
        timings.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    return first, timings


# -- the COPY ceiling ---------------------------------------------------------------------------


async def copy_ceiling_of_stored(conn: asyncpg.Connection, limit: int) -> tuple[int, float]:
    """Up to `limit` of the events stored, COPYed again into the emptied table: the fastest
    any write path could go on this machine (rows, rows/s). Empties the table after."""
    columns = list(activity_writes.COLUMNS)
    quoted = ", ".join(f'"{c}"' for c in columns)  # "timestamp" is a keyword
    rows = await conn.fetch(f"SELECT {quoted} FROM lead_activity_log LIMIT $1", limit)
    records = [tuple(r) for r in rows]
    await conn.execute("TRUNCATE lead_activity_log, lead_activity_ids CASCADE")
    await conn.execute("VACUUM ANALYZE lead_activity_log")
    started = time.perf_counter()
    for i in range(0, len(records), 10_000):
        await conn.copy_records_to_table(
            "lead_activity_log", records=records[i : i + 10_000], columns=columns
        )
    elapsed = time.perf_counter() - started
    await conn.execute("TRUNCATE lead_activity_log, lead_activity_ids CASCADE")
    return len(records), len(records) / elapsed
