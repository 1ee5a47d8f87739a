"""What one attempt at a retry_queue row means for it: pure rules, no I/O."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from activitylog.contract.events import InvalidEvent, parse_event_json
from activitylog.contract.identity import AcceptedEvent
from activitylog.contract.stream_format import entry_time
from activitylog.contract.times import LATEST_TIME, iso
from activitylog.domain.backoff import jittered_delay
from activitylog.domain.dead_letters import ACTIVITY_LOG, RetryRow, RetryStatus

# A Redis entry id is `<ms>-<seq>`; n8n's `<executionId>-<itemIndex>` has the same shape
# but a small first part, so only a plausible epoch in milliseconds (≥ 2001) counts.
_STREAM_ID_RE = re.compile(r"^(\d{13,})-(\d+)$")


def is_stream_id(queue_id: str) -> bool:
    """True when `queue_id` is a Redis stream entry id (the ingest's dead letters)."""
    found = _STREAM_ID_RE.match(queue_id)
    # An id beyond the contract's window is no entry Redis made (and would overflow).
    return found is not None and int(found.group(1)) < LATEST_TIME.timestamp() * 1000


class NotReplayable(ValueError):
    """The row cannot become an event (unknown operation type or invalid payload)."""


def accept_row(row: RetryRow) -> AcceptedEvent:
    """The row's event with the identity the stream path gives the same payload."""
    if row.operation_type != ACTIVITY_LOG:
        raise NotReplayable(
            f"operation_type {row.operation_type!r} cannot be replayed; only {ACTIVITY_LOG!r}"
        )
    try:
        event = parse_event_json(row.payload)
    except InvalidEvent as exc:
        raise NotReplayable(str(exc)) from None
    received_at = entry_time(row.queue_id) if is_stream_id(row.queue_id) else row.created_at
    return AcceptedEvent.accept(
        event,
        received_at=received_at,
        origin=row.queue_id,
        raw=row.payload,
        fallback_key=row.queue_id,
    )


class RetrySettings(Protocol):
    """What a retry policy reads from the settings (runtime.settings.Settings)."""

    retry_max_attempts: int
    retry_backoff_initial_s: float
    retry_backoff_max_s: float


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often a pending row is tried and how long it waits in between."""

    max_attempts: int = 10
    backoff_initial_s: float = 30.0
    backoff_max_s: float = 3_600.0

    @classmethod
    def from_settings(cls, settings: RetrySettings) -> RetryPolicy:
        return cls(
            settings.retry_max_attempts,
            settings.retry_backoff_initial_s,
            settings.retry_backoff_max_s,
        )

    def delay_s(self, failures: int) -> float:
        """Capped exponential delay with jitter after the `failures`-th failure (1-based)."""
        return jittered_delay(self.backoff_initial_s, self.backoff_max_s, max(failures - 1, 0))


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one attempt did to one row."""

    row_id: int
    queue_id: str
    lead_id: str | None
    previous: RetryStatus
    status: RetryStatus
    retry_count: int
    event_id: uuid.UUID | None = None
    inserted: bool = False  # False on success means the event was already stored
    error: str | None = None
    next_retry_at: datetime | None = None
    note: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.status is RetryStatus.RESOLVED

    @property
    def went_dead(self) -> bool:
        return self.status is RetryStatus.DEAD and self.previous is not RetryStatus.DEAD

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.row_id,
            "queueId": self.queue_id,
            "leadId": self.lead_id,
            "previousStatus": self.previous.value,
            "status": self.status.value,
            "retryCount": self.retry_count,
            "eventId": str(self.event_id) if self.event_id else None,
            "inserted": self.inserted,
            "error": self.error,
            "nextRetryAt": iso(self.next_retry_at),
            "note": self.note,
        }


def after_success(row: RetryRow, event_id: uuid.UUID, inserted: bool) -> Outcome:
    """The row's event is stored (now, or before: `inserted` says which); it is resolved."""
    return Outcome(
        row.id,
        row.queue_id,
        row.lead_id,
        row.status,
        RetryStatus.RESOLVED,
        row.retry_count,
        event_id=event_id,
        inserted=inserted,
    )


def after_failure(
    row: RetryRow,
    error: str,
    permanent: bool,
    policy: RetryPolicy,
    now: datetime,
) -> Outcome:
    """A failed attempt: a pending row backs off, or goes dead at the limit or when the
    failure is `permanent`; a dead or discarded row an operator replayed keeps its status.

    A row waiting for its lead (or its send) goes dead at the limit too, so a lead that
    never comes is alerted; saving that lead later still brings it back (CONTRACT §6).
    """
    count = row.retry_count + 1
    if row.status is not RetryStatus.PENDING:
        return Outcome(
            row.id, row.queue_id, row.lead_id, row.status, row.status, count, error=error
        )
    if permanent or count >= policy.max_attempts:
        reason = error if permanent else f"{error} (gave up after {count} attempts)"
        return Outcome(
            row.id, row.queue_id, row.lead_id, row.status, RetryStatus.DEAD, count, error=reason
        )
    next_at = now + timedelta(seconds=policy.delay_s(count))
    return Outcome(
        row.id,
        row.queue_id,
        row.lead_id,
        row.status,
        RetryStatus.PENDING,
        count,
        error=error,
        next_retry_at=next_at,
    )


def already_resolved(row: RetryRow) -> Outcome:
    """A replay of a resolved row changes nothing; the outcome names its event."""
    try:
        event_id: uuid.UUID | None = accept_row(row).id
    except NotReplayable:
        event_id = None
    return Outcome(
        row.id,
        row.queue_id,
        row.lead_id,
        row.status,
        row.status,
        row.retry_count,
        event_id=event_id,
        note="already resolved; nothing to do",
    )


class DiscardRefused(ValueError):
    """A resolved row cannot be discarded: its event is stored."""
