"""No entry can stop a worker: generated entries, straight to the stream, each end up recorded.

Every entry must become exactly one stored row or exactly one retry_queue row with a reason,
and the worker process must still be running afterwards.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from hypothesis import HealthCheck, given
from hypothesis import settings as examples
from hypothesis import strategies as st

from activitylog.contract.identity import AcceptedEvent
from activitylog.domain.stream_entries import decode_entry
from activitylog.storage.stream import ensure_group
from activitylog_testing.polling import wait_for
from activitylog_testing.streams import stream_drained
from poison_strategies import entry_fields
from support import spawn, stop_process


@pytest_asyncio.fixture
async def worker(pool, redis, settings, artifacts) -> AsyncIterator[object]:
    """One real ingest process for the whole property run."""
    await ensure_group(redis, settings.activity_stream, settings.ingest_group)
    log = artifacts / "ingest.log"
    log.unlink(missing_ok=True)
    proc = spawn(["ingest"], settings, log_path=log)

    async def started() -> bool:
        return log.exists() and b"ingest worker started" in log.read_bytes()

    await wait_for(started, timeout=60, message="the ingest worker to start")
    try:
        yield proc
    finally:
        assert stop_process(proc) == 0, log.read_text(errors="replace")[-3000:]


@given(batch=st.lists(entry_fields, min_size=1, max_size=8))
@examples(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
async def test_every_entry_is_stored_or_queued_and_the_worker_lives(
    batch, worker, pool, redis, settings
) -> None:
    stream = settings.activity_stream
    ids = [(await redis.xadd(stream, fields)).decode() for fields in batch]

    async def handled() -> bool:
        assert worker.poll() is None, "the ingest worker died"
        return await stream_drained(redis, settings)

    await wait_for(handled, timeout=30, message="the entries handled")

    letters = {
        r["queue_id"]: r["last_error"]
        for r in await pool.fetch(
            "SELECT queue_id, last_error FROM retry_queue WHERE queue_id = ANY($1::text[])", ids
        )
    }
    decoded = {i: decode_entry(i, f) for i, f in zip(ids, batch, strict=True)}
    event_ids = [d.id for d in decoded.values() if isinstance(d, AcceptedEvent)]
    stored = {
        r["id"]
        for r in await pool.fetch(
            "SELECT id FROM lead_activity_log WHERE id = ANY($1::uuid[])", event_ids
        )
    }
    for entry_id, item in decoded.items():
        in_log = isinstance(item, AcceptedEvent) and item.id in stored
        in_queue = entry_id in letters
        assert in_log != in_queue, (entry_id, batch[ids.index(entry_id)], in_log, in_queue)
        if in_queue:
            assert letters[entry_id], f"retry_queue row {entry_id} has no reason"
    # Stored rows must come back out through the same codec the pages read them with.
    rows = await pool.fetch(
        'SELECT metadata, "timestamp", description FROM lead_activity_log WHERE id = ANY($1)',
        list(stored),
    )
    assert len(rows) == len(stored)


pytestmark = pytest.mark.faults
