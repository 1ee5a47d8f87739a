"""Lead identity without the HTTP API: the resolution rules, the lead sync from a fake portal
database (full, then incremental), the CSV import with awkward cells, and soft delete and
purge through the `activitylog leads` commands."""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import orjson
import pytest
import pytest_asyncio

from activitylog.contract.events import parse_event
from activitylog.contract.identity import AcceptedEvent
from activitylog.domain.leads.airtable_csv import header_fields
from activitylog.domain.leads.identity import Action, Known, plan
from activitylog.domain.leads.records import LeadInput
from activitylog.runtime.settings import Settings
from activitylog.storage import leads
from activitylog.storage.portal_leads import PortalTable
from activitylog.use_cases.leads import saving as lead_saving
from activitylog.use_cases.leads import sync as lead_sync
from activitylog.use_cases.store_batch import store_batch
from activitylog_cli.leads import sync_every
from activitylog_testing.databases import empty_database
from activitylog_testing.polling import wait_for
from activitylog_testing.serving import running
from cli_invoke import run
from support import event

U1, U2 = uuid.uuid4(), uuid.uuid4()
T0 = datetime(2026, 3, 1, tzinfo=UTC)

PORTAL_TABLE = """
CREATE TABLE leads (
    id                 uuid PRIMARY KEY,
    airtable_record_id text UNIQUE,
    client_id          uuid,
    first_name         text,
    last_name          text,
    email              text,
    phone              text,
    status             text,
    updated_at         timestamptz NOT NULL DEFAULT now()
)
"""


@pytest.mark.parametrize(
    ("lead_id", "airtable_id", "by_airtable", "by_id", "expected"),
    [
        (U1, "recA001", None, None, (Action.INSERT, None)),
        (None, "recA001", Known(U2, "recA001"), None, (Action.UPDATE, U2)),
        (U1, None, None, Known(U1, None), (Action.UPDATE, U1)),
        (U1, "recA001", Known(U1, "recA001"), Known(U1, "recA001"), (Action.UPDATE, U1)),
        (U1, "recA001", None, Known(U1, None), (Action.UPDATE, U1)),
        (U1, "recA001", Known(U2, "recA001"), None, (Action.ADOPT, U2)),
        (U1, "recA001", Known(U2, "recA001"), Known(U1, None), (Action.MERGE, U2)),
        (U1, "recA001", None, Known(U1, "recB002"), (Action.CONFLICT, U1)),
        (U1, "recA001", Known(U2, "recA001"), Known(U1, "recB002"), (Action.CONFLICT, U1)),
    ],
)
def test_how_an_upsert_meets_stored_leads(lead_id, airtable_id, by_airtable, by_id, expected):
    got = plan(lead_id, airtable_id, by_airtable, by_id)
    assert (got.action, got.target) == expected
    if got.action == Action.CONFLICT:
        assert str(U1) in got.message
        assert "recB002" in got.message


def test_csv_header_aliases() -> None:
    headers = ["Record ID", "First Name", "Last name", "E-mail", "Phone Number", "Stage", "x"]
    assert header_fields(headers) == {
        0: "airtable_id",
        1: "first_name",
        2: "last_name",
        3: "email",
        4: "phone",
        5: "status",
    }


async def _store(pool: asyncpg.Pool, bodies: list[dict]) -> None:
    events = [
        AcceptedEvent.accept(
            parse_event(b), received_at=T0, origin=f"t-{n}", raw=orjson.dumps(b).decode()
        )
        for n, b in enumerate(bodies)
    ]
    async with pool.acquire() as conn:
        result = await store_batch(conn, events)
    assert not result.refused


@pytest_asyncio.fixture
async def portal(infra) -> AsyncIterator[tuple[str, asyncpg.Connection]]:
    """A fake portal database with the portal's `leads` table, dropped afterwards."""
    async with empty_database(infra.admin_url, "portal") as url:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(PORTAL_TABLE)
            yield url, conn
        finally:
            await conn.close()


async def _add_portal(conn: asyncpg.Connection, rows: list[tuple]) -> None:
    await conn.executemany(
        """
        INSERT INTO leads (id, airtable_record_id, client_id, first_name, last_name, email,
                           phone, status, updated_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
        ON CONFLICT (id) DO UPDATE SET first_name = EXCLUDED.first_name,
            status = EXCLUDED.status, updated_at = EXCLUDED.updated_at
        """,
        rows,
    )


async def _sync(settings: Settings, url: str, *extra: str) -> str:
    done = await run(settings, "leads", "sync", "--from-postgres", url, "--batch", "2", *extra)
    assert done.returncode == 0, done.stderr
    return done.stdout


async def test_sync_from_the_portal_then_only_what_changed(pool, settings, portal) -> None:
    url, conn = portal
    client = uuid.uuid4()
    ids = [uuid.uuid4() for _ in range(5)]
    rows = [
        (
            ids[n],
            f"recPortal{n:04d}",
            client,
            f"Name{n}",
            "Last",
            f"p{n}@example.com",
            None,
            "new",
            T0 + timedelta(minutes=n),
        )
        for n in range(5)
    ]
    rows.append((uuid.uuid4(), "bad-record-id", client, "X", "", None, None, None, T0))
    await _add_portal(conn, rows)
    # A stub made from events before the first sync: the sync fills it and it adopts the id.
    await _store(
        pool, [event(1, leadAirtableId="recPortal0003"), event(2, leadAirtableId="recPortal0003")]
    )

    first = await _sync(settings, url)
    assert "read 6: 4 new, 0 updated, 0 unchanged, 0 merged, 1 stubs filled" in first
    assert "airtable_id: not an Airtable record id" in first
    stored = {r["id"]: r for r in await pool.fetch("SELECT * FROM leads")}
    assert set(stored) == set(ids)
    assert stored[ids[3]]["first_name"] == "Name3"
    assert {r["lead_id"] for r in await pool.fetch("SELECT lead_id FROM lead_activity_log")} == {
        ids[3]
    }

    # Later: two leads change, one is new; the rest is not read again.
    later = T0 + timedelta(hours=1)
    new_id = uuid.uuid4()
    await _add_portal(
        conn,
        [
            (ids[1], "recPortal0001", client, "Renamed", "Last", None, None, "won", later),
            (ids[4], "recPortal0004", client, "Name4", "Last", None, None, "lost", later),
            (new_id, "recPortal0099", client, "Newest", "", None, None, None, later),
        ],
    )
    second = await _sync(settings, url)
    assert "read 3: 1 new, 2 updated" in second
    assert await pool.fetchval("SELECT first_name FROM leads WHERE id = $1", ids[1]) == "Renamed"
    assert await pool.fetchval("SELECT status FROM leads WHERE id = $1", ids[4]) == "lost"
    # In-process (a CLI run costs seconds): nothing new, and --full reads everything again.
    table = PortalTable()
    source = lead_sync.source_name(url, table)
    async with pool.acquire() as ours:
        nothing = await lead_sync.sync_from_postgres(ours, conn, table, source=source)
        everything = await lead_sync.sync_from_postgres(ours, conn, table, source=source, full=True)
    assert nothing.read == 0
    assert (everything.read, everything.updated, everything.unchanged) == (7, 0, 6)


async def test_csv_import_with_bom_crlf_and_multiline_cells(pool, settings, tmp_path: Path) -> None:
    portal_id = uuid.uuid4()
    text = (
        '"Record ID","First Name","Last Name","Email","Phone Number","Status","Lead ID"\r\n'
        'recCsvLead01,"Anna\r\nMaria","O\'Neil, Jr.",anna@example.com,+1 555,'
        f'"Hot,\r\nvery",{portal_id}\r\n'
        'recCsvLead02,"Bob ""The"" Builder",,,,,\r\n'
        "not-an-id,Carl,,,,,\r\n"
        "\r\n"
    )
    path = tmp_path / "Leads-Grid view.csv"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))

    done = await run(settings, "leads", "import", str(path))
    assert done.returncode == 0, done.stderr
    assert "read 3: 2 new" in done.stdout
    assert "line 6: airtable_id: not an Airtable record id" in done.stdout
    anna = await pool.fetchrow("SELECT * FROM leads WHERE airtable_record_id = 'recCsvLead01'")
    assert anna["id"] == portal_id
    assert (anna["first_name"], anna["last_name"]) == ("Anna\r\nMaria", "O'Neil, Jr.")
    assert (anna["email"], anna["phone"], anna["status"]) == (
        "anna@example.com",
        "+1 555",
        "Hot,\r\nvery",
    )
    bob = await pool.fetchrow("SELECT * FROM leads WHERE airtable_record_id = 'recCsvLead02'")
    assert (bob["first_name"], bob["email"]) == ('Bob "The" Builder', None)
    async with pool.acquire() as conn:
        again = await lead_sync.import_csv(conn, path)
    assert (again.read, again.updated, again.unchanged) == (3, 0, 2)
    assert await pool.fetchval("SELECT count(*) FROM leads") == 2


async def test_soft_delete_keeps_history_and_purge_says_what_goes(pool, settings) -> None:
    await _store(pool, [event(n, leadAirtableId="recGoingAway") for n in range(3)])
    lead_id = await pool.fetchval("SELECT id FROM leads")
    # No silent cascade: deleting the row while it has events is refused.
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        await pool.execute("DELETE FROM leads WHERE id = $1", lead_id)

    deleted = await run(settings, "leads", "delete", "recGoingAway")
    assert deleted.returncode == 0, deleted.stderr
    assert await pool.fetchval("SELECT deleted_at IS NOT NULL FROM leads") is True
    assert await pool.fetchval("SELECT count(*) FROM lead_activity_log") == 3
    async with pool.acquire() as conn:
        assert await leads.find_lead(conn, "recGoingAway") is None
        assert await leads.find_lead(conn, str(lead_id), include_deleted=True) is not None

    dry = await run(settings, "leads", "purge", str(lead_id))
    assert "its 3 event(s)" in dry.stdout
    assert "--yes" in dry.stdout
    assert await pool.fetchval("SELECT count(*) FROM lead_activity_log") == 3
    purged = await run(settings, "leads", "purge", str(lead_id), "--yes")
    assert purged.returncode == 0, purged.stderr
    assert f"purged lead {lead_id} and its 3 event(s)" in purged.stdout
    assert await pool.fetchval("SELECT count(*) FROM leads") == 0
    assert await pool.fetchval("SELECT count(*) FROM lead_activity_log") == 0
    # The counters the write path kept went with the events.
    assert await pool.fetchval("SELECT coalesce(sum(n), 0) FROM event_counts") == 0


async def test_sync_every_keeps_picking_up_changes(pool, settings, portal) -> None:
    """What the compose `lead-sync` service runs: `leads sync --every N` until stopped."""
    url, conn = portal
    first, later = uuid.uuid4(), uuid.uuid4()
    await _add_portal(conn, [(first, "recEvery0001", None, "One", "", None, None, None, T0)])
    loop = functools.partial(
        sync_every, settings.database_url, url, PortalTable(), 0.1, lead_sync.DEFAULT_BATCH
    )
    async with running(loop):
        await wait_for(
            lambda: pool.fetchval("SELECT count(*) = 1 FROM leads WHERE id = $1", first),
            message="the first lead synced",
        )
        await _add_portal(
            conn, [(later, "recEvery0002", None, "Two", "", None, None, None, T0 + timedelta(1))]
        )
        await wait_for(
            lambda: pool.fetchval("SELECT count(*) = 1 FROM leads WHERE id = $1", later),
            message="the later lead synced",
        )
    mark = await pool.fetchrow("SELECT synced_to, synced_id FROM lead_sync_state")
    assert (mark["synced_to"], mark["synced_id"]) == (T0 + timedelta(1), str(later))


async def test_events_stored_while_the_lead_adopts_its_uuid_all_follow(pool) -> None:
    """Batches for a stub race its adoption and a merge: every event ends under the UUID."""
    portal_id = uuid.uuid4()
    await _store(pool, [event(0, leadAirtableId="recRacing001")])

    async def batch(start: int) -> None:
        await _store(
            pool, [event(n, leadAirtableId="recRacing001") for n in range(start, start + 5)]
        )

    async def adopt() -> None:
        async with pool.acquire() as conn, conn.transaction():
            await lead_saving.save_leads(
                conn, [LeadInput(portal_id, "recRacing001", {"first_name": "Rae"})]
            )

    await asyncio.gather(*(batch(1 + 5 * n) for n in range(4)), adopt(), batch(21))
    rows = await pool.fetch("SELECT lead_id FROM lead_activity_log")
    assert len(rows) == 26
    assert {r["lead_id"] for r in rows} == {portal_id}
    assert await pool.fetchval("SELECT count(*) FROM leads") == 1
    assert await pool.fetchval("SELECT count(*) FROM retry_queue") == 0
