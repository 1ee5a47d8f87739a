"""Operators' replay, discard and the import of the old Airtable Retry_Queue."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime

import orjson
import pytest

from activitylog.domain.airtable import parse_time
from activitylog.domain.dead_letters import RetryStatus
from activitylog.domain.retry.airtable_export import IMPORT_FIELDS, ImportFormatError
from activitylog.domain.retry.outcomes import DiscardRefused
from activitylog.use_cases.retry import airtable_import, redrive
from support import event


async def count_events(pool) -> int:
    return await pool.fetchval("SELECT count(*) FROM lead_activity_log")


async def test_replaying_a_resolved_row_twice_adds_nothing(pool, add_row, policy) -> None:
    row = await add_row(event(1))
    (first,) = await redrive.replay(pool, [row.id], policy)
    assert first.status is RetryStatus.RESOLVED
    assert first.inserted
    for _ in range(2):
        (again,) = await redrive.replay(pool, [row.id], policy)
        assert again.status is RetryStatus.RESOLVED
        assert again.previous is RetryStatus.RESOLVED
        assert not again.inserted
    assert await count_events(pool) == 1


async def test_a_dead_row_replays_once_its_cause_is_fixed(pool, add_row, policy, fetch_row) -> None:
    lead = uuid.uuid4()
    row = await add_row(
        event(2, leadId=str(lead), leadAirtableId=None),
        status=RetryStatus.DEAD,
        reason="gave up",
        lead_id=str(lead),
    )
    (failed,) = await redrive.replay(pool, [row.id], policy)
    # Still dead (an operator's replay does not re-arm automatic retries), error recorded.
    assert failed.status is RetryStatus.DEAD
    assert not failed.went_dead
    after = await fetch_row(row.id)
    assert after.retry_count == 1
    assert f"lead {lead} does not exist" in after.last_error

    await pool.execute("INSERT INTO leads (id, airtable_record_id) VALUES ($1, 'recFixed2')", lead)
    (fixed,) = await redrive.replay(pool, [row.id], policy)
    assert fixed.status is RetryStatus.RESOLVED
    assert fixed.inserted
    (again,) = await redrive.replay(pool, [row.id], policy)
    assert not again.inserted
    assert await count_events(pool) == 1


async def test_replay_of_an_event_stored_meanwhile_resolves_without_a_copy(
    pool, add_row, policy
) -> None:
    body = event(3)
    first = await add_row(body, queue_id="1767225600000-1")
    second = await add_row(body, queue_id="1767225600999-0", status=RetryStatus.DEAD)
    outcomes = await redrive.replay(pool, [first.id, second.id], policy)
    assert [o.status for o in outcomes] == [RetryStatus.RESOLVED, RetryStatus.RESOLVED]
    # Same content (timestamp and executionId given): same id, stored once.
    assert outcomes[0].event_id == outcomes[1].event_id
    assert await count_events(pool) == 1


async def test_discard(pool, add_row, policy, fetch_row) -> None:
    pending = await add_row(event(4))
    row = await redrive.discard(pool, pending.id, "test data")
    assert row is not None
    assert row.status is RetryStatus.DISCARDED
    assert row.last_error == "discarded by an operator: test data"
    assert await redrive.redrive_due(pool, policy, 10) == []
    assert (await redrive.discard(pool, pending.id)).status is RetryStatus.DISCARDED
    assert await redrive.discard(pool, 987654) is None

    # A discarded row can still be replayed on purpose; then it cannot be discarded.
    (outcome,) = await redrive.replay(pool, [pending.id], policy)
    assert outcome.status is RetryStatus.RESOLVED
    with pytest.raises(DiscardRefused):
        await redrive.discard(pool, pending.id)
    assert (await fetch_row(pending.id)).status is RetryStatus.RESOLVED


def airtable_csv(rows: list[dict[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(IMPORT_FIELDS))
    writer.writeheader()
    writer.writerows(rows)
    return "\ufeff" + out.getvalue()  # Airtable's exports start with a BOM


def old_row(queue_id: str, payload: object, **extra: str) -> dict[str, str]:
    text = payload if isinstance(payload, str) else orjson.dumps(payload).decode()
    row = {
        "queue_id": queue_id,
        "operation_type": "activity_log",
        "lead_id": "",
        "payload": text,
        "retry_count": "0",
        "next_retry_at": "",
        "created_at": "",
    }
    row.update(extra)
    return row


async def test_import_of_the_airtable_retry_queue(pool, policy) -> None:
    late = uuid.uuid4()
    text = airtable_csv(
        [
            old_row(
                "48213-0",
                event(10, timestamp=None, executionId=None),
                lead_id="recLead00010",
                retry_count="2",
                created_at="3/5/2025 10:15am",
                next_retry_at="3/5/2025 10:20am",
            ),
            old_row("48213-1", event(11), created_at="2025-03-05T10:16:00.000Z"),
            old_row("48214-0", event(12, leadId=str(late), leadAirtableId=None), retry_count="1"),
            old_row("48215-0", '{"eventType": "MESSAGE_SENT", "description": '),
            old_row("48216-0", event(13), operation_type="lead_update"),
            old_row("", event(14)),
            old_row("48217-0", event(15), retry_count="many"),
            old_row("48213-1", event(16)),
            old_row("48218-0", event(17), created_at="yesterday-ish"),
        ]
    )
    summary = await airtable_import.import_csv(pool, text, policy)
    report = summary.as_json()
    assert report["read"] == 9
    assert report["inserted"] == 5
    assert report["alreadyPresent"] == 0
    assert [line for line, _ in summary.skipped] == [7, 8, 9, 10]
    reasons = " | ".join(why for _, why in summary.skipped)
    assert "queue_id is empty" in reasons
    assert "retry_count 'many' is not a number" in reasons
    assert "repeats an earlier row" in reasons
    assert "not a date/time: 'yesterday-ish'" in reasons
    assert report["replayed"] == {"resolved": 2, "pending": 1, "dead": 2}

    rows = {r["queue_id"]: r for r in await pool.fetch("SELECT * FROM retry_queue")}
    assert rows["48213-0"]["created_at"] == datetime(2025, 3, 5, 10, 15, tzinfo=UTC)
    assert rows["48214-0"]["retry_count"] == 2
    assert f"lead {late} does not exist" in rows["48214-0"]["last_error"]
    assert "not valid JSON" in rows["48215-0"]["last_error"]
    assert "operation_type 'lead_update' cannot be replayed" in rows["48216-0"]["last_error"]
    # No timestamp in the payload: the old row's creation time is when it happened.
    ts = await pool.fetchval(
        "SELECT timestamp FROM lead_activity_log WHERE description = 'SMS 10 sent to lead'"
    )
    assert ts == datetime(2025, 3, 5, 10, 15, tzinfo=UTC)

    again = await airtable_import.import_csv(pool, text, policy)
    assert again.inserted == 0
    assert again.already_present == 5
    # Only the still-pending row is tried again; nothing new is stored.
    assert [o.queue_id for o in again.outcomes] == ["48214-0"]
    assert await count_events(pool) == 2


async def test_import_rejects_a_file_that_is_not_a_retry_queue_export(pool, policy) -> None:
    with pytest.raises(ImportFormatError, match="missing column"):
        await airtable_import.import_csv(pool, "Event,Phone\nsent,+1555\n", policy)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-03-05T10:15:00Z", datetime(2025, 3, 5, 10, 15, tzinfo=UTC)),
        ("2025-03-05T12:15:00+02:00", datetime(2025, 3, 5, 10, 15, tzinfo=UTC)),
        ("2025-03-05 10:15", datetime(2025, 3, 5, 10, 15, tzinfo=UTC)),
        ("3/5/2025 10:15pm", datetime(2025, 3, 5, 22, 15, tzinfo=UTC)),
        ("3/5/2025 22:15", datetime(2025, 3, 5, 22, 15, tzinfo=UTC)),
        ("3/5/2025", datetime(2025, 3, 5, tzinfo=UTC)),
    ],
)
def test_airtable_times(text: str, expected: datetime) -> None:
    assert parse_time(text) == expected
