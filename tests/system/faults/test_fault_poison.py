"""Poison: invalid entries and one that crashes its worker never block the good ones."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
from fault_support import count_events, supervised

from activitylog.storage.stream import ensure_group
from activitylog_testing.polling import wait_for
from activitylog_testing.streams import stream_drained
from support import dumps, event

pytestmark = pytest.mark.faults

CRASH_HOOK = Path(__file__).parent.parent / "crash_hook"
TOTAL = 10_000
BAD_EVERY = 100  # 1 %


def _with(n: int, **changes: Any) -> bytes:
    return dumps(event(n, **changes))


def _without(n: int, *fields: str) -> bytes:
    body = event(n)
    for name in fields:
        body.pop(name, None)
    return dumps(body)


def _deep(n: int, depth: int) -> bytes:
    """An event whose metadata nests `depth` levels (written as text: orjson stops at 254)."""
    return _with(n, metadata="@").replace(b'"@"', b'{"a":' * depth + b"1" + b"}" * depth)


# Every way an entry can break the contract, with what its reason must say.
POISON: list[tuple[dict[bytes, bytes], str]] = [
    ({b"payload": b'{"eventType": "MESSAGE_SENT",'}, "payload is not valid JSON"),
    ({b"payload": b"[1, 2, 3]"}, "an event must be a JSON object, not list"),
    ({b"payload": b'"MESSAGE_SENT"'}, "an event must be a JSON object, not str"),
    ({b"payload": b"null"}, "an event must be a JSON object, not NoneType"),
    ({b"payload": b"\xff\xfe\xfa not utf-8"}, "payload is not valid UTF-8"),
    ({b"data": _with(1)}, "entry has no 'payload' field (fields: data)"),
    ({b"payload": _without(2, "eventType")}, "eventType: field required"),
    ({b"payload": _with(3, eventType="SMS_TELEPATHY")}, "eventType: unknown event type"),
    ({b"payload": _with(4, eventType=42)}, "eventType:"),
    ({b"payload": _with(5, eventCategory="BOOKING")}, "eventCategory BOOKING does not match"),
    ({b"payload": _with(6, eventCategory="GOSSIP")}, "eventCategory:"),
    ({b"payload": _without(7, "description")}, "description: field required"),
    ({b"payload": _with(8, description="")}, "description:"),
    ({b"payload": _with(9, description="d" * 2_001)}, "description:"),
    ({b"payload": _with(10, description=12345)}, "description:"),
    ({b"payload": _with(11, messageContent="m" * 20_001)}, "messageContent:"),
    ({b"payload": _with(12, metadata="not an object")}, "metadata:"),
    ({b"payload": _with(13, metadata={"blob": "x" * 70_000})}, "metadata: metadata is larger"),
    ({b"payload": _without(14, "source")}, "source: field required"),
    ({b"payload": _with(15, source="email:campaign")}, "source: must look like"),
    ({b"payload": _without(16, "leadAirtableId")}, "leadAirtableId: leadAirtableId is required"),
    ({b"payload": _with(17, leadId="lead-42")}, "leadId:"),
    ({b"payload": _with(18, leadAirtableId="lead42")}, "leadAirtableId:"),
    ({b"payload": _with(19, clientId="acme")}, "clientId:"),
    ({b"payload": _with(20, createdBy="bob")}, "createdBy:"),
    ({b"payload": _with(21, eventId="not-a-uuid")}, "eventId:"),
    ({b"payload": _with(22, timestamp="yesterday")}, "timestamp:"),
    ({b"payload": _with(23, executionId="")}, "executionId:"),
    ({b"payload": _with(24, favouriteColour="blue")}, "favouriteColour: unknown field"),
    ({b"payload": _with(25, description="nul \x00 here")}, "description: text may not contain NUL"),
    ({b"payload": _with(26, metadata={"note": "a\x00b"})}, "metadata.note: text may not contain"),
    ({b"payload": _with(27, padding="p" * 300_000)}, "the limit is 262144"),
    # Each of these once stopped the worker (and the sweeper) or was stored as `infinity`.
    ({b"payload": _with(28, timestamp="0001-01-01T00:00:00Z")}, "timestamp: 0001-01-01"),
    ({b"payload": _with(29, timestamp="0001-01-01T00:00:00+14:00")}, "outside the accepted"),
    ({b"payload": _with(30, timestamp="9999-12-31T23:59:59.999999Z")}, "timestamp: 9999-12-31"),
    ({b"payload": _with(31, timestamp=253402300800)}, "timestamp: 253402300800 is not Unix"),
    ({b"payload": _deep(32, 300)}, "nested more than 32 levels deep"),
    ({b"payload": _deep(33, 1_100)}, "payload is not valid JSON"),
    ({b"payload": _with(34).replace(b'"n":34', b'"n":NaN')}, "payload is not valid JSON"),
    ({b"payload": _with(35).replace(b'"n":35', b'"n":1e999')}, "payload is not valid JSON"),
]


async def test_poison_entries_never_block_the_good_ones(
    pool, redis, fault_settings, artifacts, monkeypatch
) -> None:
    marker = f"CRASH-{uuid.uuid4().hex}"
    # The workers this test starts inherit the hook that crashes on the marker (test-only).
    monkeypatch.setenv("FAULT_CRASH_MARKER", marker)
    monkeypatch.setenv("PYTHONPATH", str(CRASH_HOOK))
    settings = fault_settings
    stream, group = settings.activity_stream, settings.ingest_group
    await ensure_group(redis, stream, group)

    expected: dict[str, str] = {}
    good = 0
    async with redis.pipeline(transaction=False) as pipe:
        for n in range(TOTAL):
            if n % BAD_EVERY == BAD_EVERY // 2:
                pipe.xadd(stream, POISON[(n // BAD_EVERY) % len(POISON)][0])
            else:
                pipe.xadd(stream, {b"payload": dumps(event(n))})
                good += 1
            if n == TOTAL // 2:
                pipe.xadd(stream, {b"payload": dumps(event(TOTAL, description=f"{marker} boom"))})
        ids = [i.decode() for i in await pipe.execute()]
    crash_id = ids[TOTAL // 2 + 1]
    for n, entry_id in enumerate(i for i in ids if i != crash_id):
        if n % BAD_EVERY == BAD_EVERY // 2:
            expected[entry_id] = POISON[(n // BAD_EVERY) % len(POISON)][1]
    assert good == 9_900
    assert len(expected) == 100

    async with supervised(["ingest"], settings, artifacts, count=2) as workers:
        crash_row = await wait_for(
            lambda: pool.fetchrow("SELECT * FROM retry_queue WHERE queue_id = $1", crash_id),
            timeout=120,
            interval=0.2,
            message="the crashing entry handed to retry_queue",
        )
        await wait_for(lambda: _stored(pool, good), timeout=60, message="every good event")
        await wait_for(lambda: stream_drained(redis, settings), timeout=30, message="drained")
        # No worker is stuck: a new entry is stored at once.
        await redis.xadd(stream, {b"payload": dumps(event(TOTAL + 1))})
        await wait_for(lambda: _stored(pool, good + 1), timeout=15, message="a fresh event")
        assert workers.all_running()
    crashes = workers.exit_codes
    assert crashes == [70] * settings.ingest_max_deliveries, crashes
    assert workers.final_codes == [0, 0]

    assert crash_row["status"] == "pending"
    assert f"delivered {settings.ingest_max_deliveries} times" in crash_row["last_error"]
    assert orjson.loads(crash_row["payload"])["description"] == f"{marker} boom"

    rows = {
        r["queue_id"]: r
        for r in await pool.fetch("SELECT * FROM retry_queue WHERE queue_id <> $1", crash_id)
    }
    assert set(rows) == set(expected)
    wrong = {
        qid: (rows[qid]["status"], rows[qid]["last_error"], why)
        for qid, why in expected.items()
        if rows[qid]["status"] != "dead" or why not in rows[qid]["last_error"]
    }
    assert not wrong, wrong
    assert await count_events(pool) == good + 1

    # The crash was the worker's, not the event's: the retry service stores it.
    async with supervised(["retry"], settings, artifacts) as retry:
        await wait_for(
            lambda: pool.fetchval(
                "SELECT status = 'resolved' FROM retry_queue WHERE queue_id = $1", crash_id
            ),
            timeout=30,
            message="the crashing entry re-driven",
        )
    assert retry.exit_codes == []
    assert await count_events(pool) == good + 2


async def _stored(pool, n: int) -> bool:
    return await count_events(pool) >= n
