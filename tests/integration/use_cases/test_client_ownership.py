"""An event belongs to its lead's client: store_batch, moving a lead, migration 0005."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import asyncpg
import orjson

from activitylog.contract.events import parse_event
from activitylog.contract.identity import AcceptedEvent
from activitylog.domain.dead_letters import DeadLetter, RetryStatus
from activitylog.domain.retry.outcomes import RetryPolicy
from activitylog.runtime.migrate import available, migrate
from activitylog.storage import retry_queue
from activitylog.storage.activity_log import writes as activity_writes
from activitylog.use_cases.leads import saving as lead_saving
from activitylog.use_cases.retry.redrive import redrive_due
from activitylog.use_cases.store_batch import StoreResult, store_batch
from activitylog_testing.polling import wait_for
from support import event

if TYPE_CHECKING:
    from conftest import Infra

RECEIVED = datetime(2026, 3, 2, tzinfo=UTC)
CLIENT_A = uuid.UUID("aaaaaaaa-0000-4000-8000-000000000001")
CLIENT_B = uuid.UUID("bbbbbbbb-0000-4000-8000-000000000002")


def accepted(n: int, **overrides: Any) -> AcceptedEvent:
    body = event(n, **overrides)
    return AcceptedEvent.accept(
        parse_event(body), received_at=RECEIVED, origin=f"t-{n}", raw=orjson.dumps(body).decode()
    )


async def store(pool: asyncpg.Pool, events: list[AcceptedEvent]) -> StoreResult:
    async with pool.acquire() as conn:
        return await store_batch(conn, events)


async def add_lead(pool: asyncpg.Pool, airtable_id: str, client: uuid.UUID | None) -> uuid.UUID:
    async with pool.acquire() as conn, conn.transaction():
        row, _ = await lead_saving.upsert_details(conn, airtable_id, {"client_id": client})
    return row["id"]


async def clients_of(pool: asyncpg.Pool, lead_id: uuid.UUID) -> list[uuid.UUID | None]:
    rows = await pool.fetch(
        "SELECT client_id FROM lead_activity_log WHERE lead_id = $1 ORDER BY description",
        lead_id,
    )
    return [r["client_id"] for r in rows]


async def move_lead(conn: asyncpg.Connection, airtable_id: str, client: uuid.UUID) -> None:
    """What PUT /api/internal/leads/{airtableId} does in its transaction."""
    row, _ = await lead_saving.upsert_details(conn, airtable_id, {"client_id": client})
    await activity_writes.reassign_client(conn, {row["id"]: row["client_id"]})


def waiting_on_a_lock(
    pool: asyncpg.Pool, conn: asyncpg.Connection, task: asyncio.Task[Any]
) -> Callable[[], Awaitable[bool]]:
    """A check for wait_for: the task finished, or `conn` waits for a lock."""
    pid = conn.get_server_pid()

    async def check() -> bool:
        if task.done():
            return True
        kind = await pool.fetchval(
            "SELECT wait_event_type FROM pg_stat_activity WHERE pid = $1", pid
        )
        return bool(kind == "Lock")

    return check


async def test_a_contradicting_client_id_is_a_dead_letter_and_the_rest_is_stored(
    pool: asyncpg.Pool,
) -> None:
    lead = await add_lead(pool, "recOwnedByB01", CLIENT_B)
    batch = [
        accepted(1, leadAirtableId="recOwnedByB01", clientId=str(CLIENT_A)),
        accepted(2, leadAirtableId="recOwnedByB01", clientId=str(CLIENT_B)),
        accepted(3, leadAirtableId="recOwnedByB01"),
        accepted(4, leadId=str(lead), leadAirtableId=None),
        accepted(5, leadAirtableId="recOtherLead1", clientId=str(CLIENT_A)),
    ]
    result = await store(pool, batch)

    assert result.inserted == {a.id for a in batch[1:]}
    (letter,) = result.refused
    assert letter.status is RetryStatus.DEAD
    # Without clientId (3 and 4) the event takes its lead's client.
    assert await clients_of(pool, lead) == [CLIENT_B, CLIENT_B, CLIENT_B]
    row = await pool.fetchrow("SELECT * FROM retry_queue")
    assert (row["queue_id"], row["status"], row["lead_id"]) == ("t-1", "dead", "recOwnedByB01")
    assert row["last_error"] == (
        f"clientId {CLIENT_A} contradicts lead recOwnedByB01, which belongs to client {CLIENT_B}"
    )
    assert orjson.loads(row["payload"])["clientId"] == str(CLIENT_A)
    other = await pool.fetchrow(
        "SELECT client_id FROM leads WHERE airtable_record_id = $1", "recOtherLead1"
    )
    assert other["client_id"] == CLIENT_A  # a new stub takes the event's clientId


async def test_a_lead_without_a_client_adopts_the_first_one_its_events_name(
    pool: asyncpg.Pool,
) -> None:
    await store(pool, [accepted(1, leadAirtableId="recNoClient01")])
    lead = await pool.fetchval("SELECT id FROM leads WHERE airtable_record_id = 'recNoClient01'")
    assert await clients_of(pool, lead) == [None]

    result = await store(
        pool,
        [
            accepted(2, leadAirtableId="recNoClient01"),
            accepted(3, leadAirtableId="recNoClient01", clientId=str(CLIENT_A)),
            accepted(4, leadAirtableId="recNoClient01", clientId=str(CLIENT_B)),
        ],
    )

    assert await pool.fetchval("SELECT client_id FROM leads WHERE id = $1", lead) == CLIENT_A
    # The earlier event (1) and the one without clientId (2) follow the lead.
    assert await clients_of(pool, lead) == [CLIENT_A, CLIENT_A, CLIENT_A]
    assert [(w.queue_id, w.status) for w in result.refused] == [("t-4", RetryStatus.DEAD)]


async def test_a_batch_stored_during_a_move_ends_under_the_new_client(
    pool: asyncpg.Pool,
) -> None:
    lead = await add_lead(pool, "recRaceLead01", CLIENT_A)
    await store(pool, [accepted(1, leadAirtableId="recRaceLead01")])
    async with pool.acquire() as batch_conn, pool.acquire() as move_conn:
        # The batch has read the lead's client (A) and not committed when the move starts.
        # Its event is older than the lead's last activity, so it does not update the lead.
        batch_tx = batch_conn.transaction()
        await batch_tx.start()
        older = accepted(2, leadAirtableId="recRaceLead01", timestamp="2026-02-01T00:00:00Z")
        await store_batch(batch_conn, [older])

        async def moving() -> None:
            async with move_conn.transaction():
                await move_lead(move_conn, "recRaceLead01", CLIENT_B)

        move = asyncio.create_task(moving())
        await wait_for(waiting_on_a_lock(pool, move_conn, move), message="the move to wait")
        await batch_tx.commit()
        await move

    assert await clients_of(pool, lead) == [CLIENT_B, CLIENT_B]


async def test_a_batch_stored_after_a_move_began_reads_the_new_client(
    pool: asyncpg.Pool,
) -> None:
    lead = await add_lead(pool, "recRaceLead02", CLIENT_A)
    first = accepted(1, leadAirtableId="recRaceLead02", clientId=str(CLIENT_A))
    await store(pool, [first])
    async with pool.acquire() as batch_conn, pool.acquire() as move_conn:
        move_tx = move_conn.transaction()
        await move_tx.start()
        await move_lead(move_conn, "recRaceLead02", CLIENT_B)

        # 1 again (a redelivery) and a new event without clientId.
        again = [first, accepted(2, leadAirtableId="recRaceLead02")]
        batch = asyncio.create_task(store_batch(batch_conn, again))
        await wait_for(waiting_on_a_lock(pool, batch_conn, batch), message="the batch to wait")
        await move_tx.commit()
        result = await batch

    assert await clients_of(pool, lead) == [CLIENT_B, CLIENT_B]
    # Stored before its lead moved: a duplicate, not a contradiction.
    assert result.duplicates == {first.id}
    assert result.refused == []
    assert await pool.fetchval("SELECT count(*) FROM retry_queue") == 0


async def test_a_lead_adopting_a_client_takes_the_events_stored_meanwhile(
    pool: asyncpg.Pool,
) -> None:
    await store(pool, [accepted(1, leadAirtableId="recNoClient02")])
    lead = await pool.fetchval("SELECT id FROM leads WHERE airtable_record_id = 'recNoClient02'")
    async with pool.acquire() as plain_conn, pool.acquire() as adopting_conn:
        # A batch without clientId is storing (under no client) when another adopts one.
        # Its event is older than the lead's last activity, so it does not update the lead.
        plain_tx = plain_conn.transaction()
        await plain_tx.start()
        older = accepted(2, leadAirtableId="recNoClient02", timestamp="2026-02-01T00:00:00Z")
        await store_batch(plain_conn, [older])

        adopting = asyncio.create_task(
            store_batch(
                adopting_conn,
                [accepted(3, leadAirtableId="recNoClient02", clientId=str(CLIENT_A))],
            )
        )
        await wait_for(
            waiting_on_a_lock(pool, adopting_conn, adopting), message="the adoption to wait"
        )
        await plain_tx.commit()
        await adopting

    assert await clients_of(pool, lead) == [CLIENT_A, CLIENT_A, CLIENT_A]


async def test_a_retried_event_whose_lead_belongs_to_another_client_goes_dead_at_once(
    pool: asyncpg.Pool,
) -> None:
    lead = uuid.uuid4()
    body = event(1, leadId=str(lead), leadAirtableId=None, clientId=str(CLIENT_A))
    async with pool.acquire() as conn:
        await retry_queue.add(
            conn,
            [
                DeadLetter(
                    "1767225600000-7",
                    str(lead),
                    orjson.dumps(body).decode(),
                    f"lead {lead} does not exist (yet)",
                    RetryStatus.PENDING,
                    RECEIVED,
                )
            ],
        )
    await pool.execute(
        "INSERT INTO leads (id, airtable_record_id, client_id) VALUES ($1, 'recLateLead01', $2)",
        lead,
        CLIENT_B,
    )

    (outcome,) = await redrive_due(pool, RetryPolicy(max_attempts=10), 10)

    assert outcome.status is RetryStatus.DEAD
    assert f"contradicts lead recLateLead01, which belongs to client {CLIENT_B}" in (
        outcome.error or ""
    )
    assert await pool.fetchval("SELECT count(*) FROM lead_activity_log") == 0


async def test_migration_0005_puts_stored_events_under_their_leads_client(infra: Infra) -> None:
    name = f"activitylog_own_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(infra.admin_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = urlsplit(infra.admin_url)._replace(path=f"/{name}").geturl()
    try:
        conn = await asyncpg.connect(url)
        try:
            # The schema as it was before 0005, with events stored under the old rule.
            await conn.execute(
                "CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL, "
                "applied_at timestamptz NOT NULL DEFAULT now())"
            )
            for m in available():
                if m.version < 5:
                    await conn.execute(m.sql)
                    await conn.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                        m.version,
                        m.name,
                    )
            owned, single, mixed = (uuid.uuid4() for _ in range(3))
            await conn.executemany(
                "INSERT INTO leads (id, airtable_record_id, client_id) VALUES ($1, $2, $3)",
                [
                    (owned, "recOwned0001", CLIENT_B),
                    (single, "recSingle001", None),
                    (mixed, "recMixed0001", None),
                ],
            )
            rows = [
                (owned, CLIENT_A),
                (owned, CLIENT_B),
                (owned, None),
                (single, CLIENT_A),
                (single, None),
                (mixed, CLIENT_A),
                (mixed, CLIENT_B),
            ]
            await conn.executemany(
                """
                INSERT INTO lead_activity_log (id, event_type, event_category, lead_id,
                    client_id, description, source, "timestamp")
                VALUES (gen_random_uuid(), 'NOTE_ADDED', 'NOTE', $1, $2, 'x', 'ui:t', now())
                """,
                rows,
            )

            applied = await migrate(url)

            assert 5 in [m.version for m in applied]
            found = await conn.fetch(
                "SELECT l.airtable_record_id, l.client_id AS lead_client, "
                "array_agg(a.client_id) AS clients FROM leads l "
                "JOIN lead_activity_log a ON a.lead_id = l.id GROUP BY 1, 2"
            )
        finally:
            await conn.close()
        by_lead = {r["airtable_record_id"]: r for r in found}
        assert by_lead["recOwned0001"]["clients"] == [CLIENT_B] * 3
        # A lead without a client takes the only one its events named, as it would now.
        assert by_lead["recSingle001"]["lead_client"] == CLIENT_A
        assert by_lead["recSingle001"]["clients"] == [CLIENT_A] * 2
        # Events naming several clients: no portal sees them until the lead sync says whose.
        assert by_lead["recMixed0001"]["lead_client"] is None
        assert by_lead["recMixed0001"]["clients"] == [None] * 2
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
