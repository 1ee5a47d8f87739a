"""The retry rules on their own: what an attempt means for a row, without a database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from activitylog.domain.dead_letters import RetryRow, RetryStatus
from activitylog.domain.retry.outcomes import (
    NotReplayable,
    RetryPolicy,
    accept_row,
    after_failure,
    after_success,
    already_resolved,
    is_stream_id,
)
from support import event

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
POLICY = RetryPolicy(max_attempts=3, backoff_initial_s=30, backoff_max_s=3_600)


def row(
    status: RetryStatus = RetryStatus.PENDING,
    *,
    attempts: int = 0,
    payload: str | None = None,
    queue_id: str = "1772366400000-0",
    operation: str = "activity_log",
) -> RetryRow:
    text = payload or orjson.dumps(event(1, timestamp=None, executionId=None)).decode()
    return RetryRow(
        id=7,
        queue_id=queue_id,
        operation_type=operation,
        lead_id="recLead00001",
        payload=text,
        retry_count=attempts,
        next_retry_at=NOW,
        last_error=None,
        status=status,
        created_at=NOW - timedelta(days=1),
        updated_at=NOW,
    )


def test_a_failed_pending_row_backs_off_within_the_policy() -> None:
    outcome = after_failure(row(attempts=0), "lead missing", False, POLICY, NOW)
    assert outcome.status is RetryStatus.PENDING
    assert outcome.retry_count == 1
    assert outcome.error == "lead missing"
    assert outcome.next_retry_at is not None
    # The first wait is the initial back-off, with jitter that never exceeds it.
    assert NOW < outcome.next_retry_at <= NOW + timedelta(seconds=30)
    assert not outcome.went_dead


def test_the_last_allowed_failure_makes_the_row_dead() -> None:
    outcome = after_failure(row(attempts=2), "lead missing", False, POLICY, NOW)
    assert outcome.status is RetryStatus.DEAD
    assert outcome.went_dead
    assert outcome.error == "lead missing (gave up after 3 attempts)"
    assert outcome.next_retry_at is None


def test_a_permanent_failure_is_dead_at_once() -> None:
    outcome = after_failure(row(attempts=0), "not an event", True, POLICY, NOW)
    assert outcome.status is RetryStatus.DEAD
    assert outcome.retry_count == 1
    assert outcome.error == "not an event"


@pytest.mark.parametrize("status", [RetryStatus.DEAD, RetryStatus.DISCARDED])
def test_a_replayed_dead_or_discarded_row_keeps_its_status(status: RetryStatus) -> None:
    outcome = after_failure(row(status, attempts=5), "still broken", False, POLICY, NOW)
    assert outcome.status is status
    assert not outcome.went_dead
    assert outcome.retry_count == 6


def test_success_resolves_and_says_whether_the_event_was_new() -> None:
    event_id = uuid.uuid4()
    outcome = after_success(row(RetryStatus.DEAD), event_id, inserted=False)
    assert outcome.succeeded
    assert outcome.previous is RetryStatus.DEAD
    assert outcome.as_json()["eventId"] == str(event_id)
    assert outcome.as_json()["inserted"] is False


def test_back_off_is_capped() -> None:
    policy = RetryPolicy(max_attempts=100, backoff_initial_s=30, backoff_max_s=60)
    assert max(policy.delay_s(n) for n in range(1, 40)) <= 60


def test_a_row_keeps_the_id_the_stream_path_gives_its_payload() -> None:
    stream_row = row()
    accepted = accept_row(stream_row)
    assert accepted.id == accept_row(stream_row).id
    # Without a timestamp or executionId the id names the delivery: the stream entry id.
    assert accepted.id != accept_row(row(queue_id="1772366400000-1")).id
    # An entry id's time is when Redis received it: the event's time when it has none.
    assert accepted.timestamp == datetime(2026, 3, 1, 12, tzinfo=UTC)
    assert already_resolved(stream_row).event_id == accepted.id


@pytest.mark.parametrize(
    ("queue_id", "expected"),
    [
        ("1772366400000-0", True),
        ("48213-0", False),  # n8n's <executionId>-<itemIndex>
        ("99999999999999999999-0", False),  # beyond the window: no entry Redis made
        ("abc", False),
    ],
)
def test_stream_ids_are_told_from_other_queue_ids(queue_id: str, expected: bool) -> None:
    assert is_stream_id(queue_id) is expected


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"payload": "{not json"}, "not valid JSON"),
        ({"operation": "sms_send"}, "cannot be replayed"),
        ({"payload": orjson.dumps(event(1, timestamp="0001-01-01T00:00:00Z")).decode()}, "window"),
    ],
)
def test_a_row_that_can_never_be_an_event_is_not_replayable(changes: dict, why: str) -> None:
    with pytest.raises(NotReplayable, match=why):
        accept_row(row(**changes))
