"""The ingest's pool hands a connection back without asyncpg's reset round trip
(runtime.db.keep_session). That is safe only while the write path leaves no session state
on its connection: no advisory lock, setting, cursor or LISTEN outlives a batch."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import asyncpg

from activitylog.contract.events import parse_event
from activitylog.contract.identity import AcceptedEvent
from activitylog.runtime.db import create_pool, keep_session
from activitylog.use_cases.store_batch import store_batch
from support import event

if TYPE_CHECKING:
    from conftest import Infra

NOW = datetime.now(UTC)


def accepted(n: int, **fields: object) -> AcceptedEvent:
    body = event(n, eventId=str(uuid.uuid4()), **fields)
    return AcceptedEvent.accept(parse_event(body), received_at=NOW, origin=f"s-{n}", raw="")


async def session_state(conn: asyncpg.Connection) -> dict[str, object]:
    row = await conn.fetchrow(
        """
        SELECT (SELECT count(*) FROM pg_locks
                WHERE pid = pg_backend_pid() AND locktype = 'advisory') AS advisory_locks,
               (SELECT count(*) FROM pg_cursors) AS cursors,
               (SELECT count(*) FROM pg_listening_channels()) AS channels
        """
    )
    # Core settings only: an extension's (pg_trgm.*) appear once its library is loaded.
    settings = await conn.fetch("SELECT name, setting FROM pg_settings WHERE name !~ '[.]'")
    return {**dict(row or {}), "settings": {r["name"]: r["setting"] for r in settings}}


async def test_a_batch_leaves_its_connection_as_it_found_it(
    pool: asyncpg.Pool, infra: Infra
) -> None:
    ingest = await create_pool(infra.database_url, min_size=1, max_size=1, reset=keep_session)
    try:
        async with ingest.acquire() as conn:
            before = await session_state(conn)
            client = str(uuid.uuid4())
            # New leads as stubs, one adopting a client (the client locks), a replay.
            batch = [
                accepted(1, leadAirtableId="recPoolA"),
                accepted(2, leadAirtableId="recPoolB", clientId=client),
                accepted(3, leadAirtableId="recPoolB", clientId=client),
            ]
            done = await store_batch(conn, batch)
            again = await store_batch(conn, batch)
        assert len(done.inserted) == 3
        assert again.duplicates == done.inserted
        async with ingest.acquire() as conn:  # the same connection: the pool holds one
            assert not conn.is_in_transaction()
            assert await session_state(conn) == before
    finally:
        await ingest.close()
