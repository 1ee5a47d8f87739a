"""The dead-letter store's records: a row's status, a letter to file, a row as stored, the
outcome of an attempt, an imported row. Plain data (storage.retry_queue is their SQL)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

# The operation a row replays: storing its payload as an event (the only one there is).
ACTIVITY_LOG = "activity_log"


class RetryStatus(StrEnum):
    PENDING = "pending"
    RESOLVED = "resolved"
    DEAD = "dead"
    DISCARDED = "discarded"


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """Something that could not be stored now: `dead` never can be, `pending` may later."""

    queue_id: str
    lead_id: str | None
    payload: str
    reason: str
    status: RetryStatus
    next_retry_at: datetime | None = None
    operation_type: str = ACTIVITY_LOG
    # What would place it (`phone:…`, `lead:…`, `message:…`): its arrival wakes the row.
    waiting_for: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RetryRow:
    """One retry_queue row as stored."""

    id: int
    queue_id: str
    operation_type: str
    lead_id: str | None
    payload: str
    retry_count: int
    next_retry_at: datetime | None
    last_error: str | None
    status: RetryStatus
    created_at: datetime
    updated_at: datetime
    alerted_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class RowUpdate:
    """The outcome of one attempt, written back to its row."""

    id: int
    status: RetryStatus
    retry_count: int
    next_retry_at: datetime | None
    last_error: str | None
    waiting_for: tuple[str, ...] | None = None  # None: leave it as it is


@dataclass(frozen=True, slots=True)
class ImportedRow:
    """A row of an old Airtable Retry_Queue export, ready to insert."""

    queue_id: str
    operation_type: str
    lead_id: str | None
    payload: str
    retry_count: int
    next_retry_at: datetime
    created_at: datetime
