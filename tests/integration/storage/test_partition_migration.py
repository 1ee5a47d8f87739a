"""`partitions migrate` on a database whose log predates partitions: copied in batches while
events are stored, updated and purged, cut off mid-copy and resumed: nothing lost, nothing
doubled, then swapped in."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import asyncpg

from activitylog.contract.events import parse_event
from activitylog.contract.identity import AcceptedEvent
from activitylog.runtime.db import connect
from activitylog.runtime.migrate import migrate
from activitylog.use_cases import partitions as upkeep
from activitylog.use_cases.store_batch import store_batch
from activitylog_testing.databases import database_url
from support import at_version, event

if TYPE_CHECKING:
    from conftest import Infra

NOW = datetime.now(UTC)


def accepted(n: int) -> AcceptedEvent:
    body = event(n, timestamp=f"2025-0{n % 3 + 1}-15T10:00:00Z", leadAirtableId="recMig00001")
    return AcceptedEvent.accept(parse_event(body), received_at=NOW, origin=f"m-{n}", raw="")


async def old_event(conn: asyncpg.Connection, event_id: uuid.UUID) -> AcceptedEvent:
    """The event of a stored old row, as its producer would send it again."""
    at = await conn.fetchval('SELECT "timestamp" FROM lead_activity_log WHERE id = $1', event_id)
    body = event(
        0,
        eventId=str(event_id),
        timestamp=at.isoformat(),
        leadAirtableId="recOld",
        source="n8n:old",
    )
    return AcceptedEvent.accept(parse_event(body), received_at=NOW, origin="m-old", raw="")


async def test_an_interrupted_migration_resumes_and_loses_nothing(infra: Infra) -> None:
    name = f"activitylog_partmig_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(infra.admin_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = database_url(infra.admin_url, name)
    try:
        await at_version(url, 18)
        conn = await connect(url)
        try:
            await conn.execute(
                """
                INSERT INTO leads (id, airtable_record_id) VALUES (gen_random_uuid(), 'recOld');
                INSERT INTO lead_activity_log
                    (id, event_type, event_category, lead_id, description, source, "timestamp")
                SELECT gen_random_uuid(), 'MESSAGE_SENT', 'SMS',
                       (SELECT id FROM leads WHERE airtable_record_id = 'recOld'),
                       'old ' || i, 'n8n:old', '2025-01-01Z'::timestamptz + i * interval '1 hour'
                FROM generate_series(1, 2000) AS i;
                """
            )
            await migrate(url)  # 0019 sees rows: it adds the trigger, the command copies
            assert await conn.fetchval("SELECT to_regclass('lead_activity_log_partitioned')")
            before = {r["id"] for r in await conn.fetch("SELECT id FROM lead_activity_log")}
            done = await upkeep.migrate(conn, now=NOW, batch=300, max_batches=2)
            assert done is not None
            assert not done.swapped
            assert done.copied == 600

            # Meanwhile the product writes: new events, a campaign filled in, purges.
            stored = await store_batch(conn, [accepted(n) for n in range(20)])
            assert len(stored.inserted) == 20
            replay = await store_batch(conn, [accepted(n) for n in range(20)])
            assert replay.inserted == set()
            ordered = sorted(before)
            # An old event sent again before the copy reached it: the old table holds its
            # id, the registry not yet, so its COPY fails in a savepoint and falls back.
            resent = await store_batch(conn, [await old_event(conn, ordered[-30])])
            assert resent.inserted == set()
            assert resent.duplicates == {ordered[-30]}
            early, late = ordered[10], ordered[-10]  # copied already / not yet
            await conn.execute(
                'UPDATE lead_activity_log SET metadata = \'{"campaignId": "c9"}\' '
                "WHERE id = ANY($1::uuid[])",
                [early, late],
            )
            gone = [ordered[11], ordered[-11]]
            await conn.execute("DELETE FROM lead_activity_log WHERE id = ANY($1::uuid[])", gone)

            # Cut off mid-copy: a connection lost in the middle of a batch.
            cut = await connect(url)
            seen = asyncio.Event()

            def progress(copied: int, total: int | None) -> None:
                if copied >= 900:
                    seen.set()

            task = asyncio.create_task(upkeep.migrate(cut, now=NOW, batch=100, progress=progress))
            await asyncio.wait_for(seen.wait(), timeout=60)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, asyncpg.PostgresError):
                await task
            cut.terminate()

            resumed = await upkeep.migrate(conn, now=NOW, batch=500)
            assert resumed is not None
            assert resumed.swapped
            assert await upkeep.migrate(conn, now=NOW) is None  # done: nothing to do

            kind = await conn.fetchval(
                "SELECT relkind FROM pg_class WHERE oid = 'lead_activity_log'::regclass"
            )
            assert kind == b"p"
            # Statistics of the whole log at once: autovacuum never analyses a partitioned
            # parent, and the browser's category estimates read them.
            analysed = await conn.fetchval(
                "SELECT count(*) FROM pg_stats WHERE tablename = 'lead_activity_log' "
                "AND attname = 'event_category' AND inherited"
            )
            assert analysed == 1
            after = [r["id"] for r in await conn.fetch("SELECT id FROM lead_activity_log")]
            assert len(after) == len(set(after))
            assert set(after) == (before - set(gone)) | stored.inserted
            registry = await conn.fetchval("SELECT count(*) FROM lead_activity_ids")
            assert registry == len(after)
            filled = await conn.fetch(
                "SELECT metadata->>'campaignId' AS c FROM lead_activity_log "
                "WHERE id = ANY($1::uuid[])",
                [early, late],
            )
            assert [r["c"] for r in filled] == ["c9", "c9"]
            # The swapped table takes writes and keeps exactly-once.
            again = await store_batch(conn, [accepted(n) for n in range(25)])
            assert len(again.inserted) == 5
            tail = await conn.fetchval(
                "SELECT count(*) FROM lead_activity_log WHERE position IS NOT NULL"
            )
            assert tail >= 25
        finally:
            await conn.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
