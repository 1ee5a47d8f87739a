"""Re-drive, replay, discard and import of retry_queue rows (§6), shared by service, CLI and API.

A row's event is derived exactly as the stream path derives it, so a replay of an entry the
ingest already stored (or stores later) finds the same event id and adds nothing.
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from activitylog.backoff import Backoff
from activitylog.db import is_transient
from activitylog.events import LATEST_TIME, AcceptedEvent, InvalidEvent, parse_event_json
from activitylog.settings import Settings
from activitylog.storage import retry_queue
from activitylog.storage.retry_queue import ImportedRow, RetryRow, RetryStatus, RowUpdate
from activitylog.storage.unit_of_work import store_batch
from activitylog.stream import entry_time

ACTIVITY_LOG = "activity_log"

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


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often a pending row is tried and how long it waits in between."""

    max_attempts: int = 10
    backoff_initial_s: float = 30.0
    backoff_max_s: float = 3_600.0

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        return cls(
            settings.retry_max_attempts,
            settings.retry_backoff_initial_s,
            settings.retry_backoff_max_s,
        )

    def delay_s(self, failures: int) -> float:
        """Capped exponential delay with jitter after the `failures`-th failure (1-based)."""
        backoff = Backoff(self.backoff_initial_s, self.backoff_max_s)
        backoff.attempt = max(failures - 1, 0)
        return backoff.next_delay()


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
            "nextRetryAt": _iso(self.next_retry_at),
            "note": self.note,
        }


async def attempt(
    conn: asyncpg.Connection, rows: list[RetryRow], policy: RetryPolicy
) -> list[Outcome]:
    """Store the locked rows' events and write each outcome back (the caller holds the tx).

    A pending row that fails counts an attempt and backs off, or goes dead at the limit or
    at once when its payload can never be an event; a dead or discarded row that an operator
    replays keeps its status on failure and only records the error.
    """
    accepted: dict[int, AcceptedEvent] = {}
    errors: dict[int, str] = {}
    permanent: set[int] = set()
    for row in rows:
        if row.status is RetryStatus.RESOLVED:
            continue
        try:
            accepted[row.id] = accept_row(row)
        except NotReplayable as exc:
            errors[row.id] = str(exc)
            permanent.add(row.id)
    stored = await _store(conn, accepted, errors, permanent)

    now = datetime.now(UTC)
    outcomes: list[Outcome] = []
    updates: list[RowUpdate] = []
    for row in rows:
        if row.status is RetryStatus.RESOLVED:
            outcomes.append(_already_resolved(row))
            continue
        event = accepted.get(row.id)
        if row.id not in errors and event is not None:
            outcome = Outcome(
                row.id,
                row.queue_id,
                row.lead_id,
                row.status,
                RetryStatus.RESOLVED,
                row.retry_count,
                event_id=event.id,
                inserted=stored.get(row.id, False),
            )
            updates.append(RowUpdate(row.id, outcome.status, row.retry_count, None, None))
        else:
            outcome = _failed(row, errors[row.id], row.id in permanent, policy, now)
            updates.append(
                RowUpdate(
                    row.id,
                    outcome.status,
                    outcome.retry_count,
                    outcome.next_retry_at,
                    outcome.error,
                )
            )
        outcomes.append(outcome)
    await retry_queue.update_outcomes(conn, updates)
    return outcomes


def _failed(
    row: RetryRow, error: str, permanent: bool, policy: RetryPolicy, now: datetime
) -> Outcome:
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


def _already_resolved(row: RetryRow) -> Outcome:
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


def _refused(exc: BaseException) -> bool:
    """Something in the data failed the store (not an outage): retrying as is fails."""
    return not is_transient(exc)


async def _store(
    conn: asyncpg.Connection,
    accepted: dict[int, AcceptedEvent],
    errors: dict[int, str],
    permanent: set[int],
) -> dict[int, bool]:
    """store_batch for the accepted rows; returns row id → newly inserted, fills `errors`
    (and `permanent` with the rows store_batch refused for good).

    store_batch runs in a savepoint, so a refused batch leaves the caller's tx usable.
    """
    if not accepted:
        return {}
    try:
        result = await store_batch(conn, list(accepted.values()))
    except Exception as exc:
        if not _refused(exc):
            raise
        if len(accepted) == 1:
            errors[next(iter(accepted))] = f"could not be stored: {exc!r}"
            return {}
        stored: dict[int, bool] = {}
        for row_id, event in accepted.items():
            stored.update(await _store(conn, {row_id: event}, errors, permanent))
        return stored
    waiting = {letter.queue_id: letter for letter in result.waiting}
    stored = {}
    for row_id, event in accepted.items():
        if event.origin in waiting:
            errors[row_id] = waiting[event.origin].reason
            # Dead: its clientId contradicts its lead's client, which no retry changes.
            if waiting[event.origin].status is RetryStatus.DEAD:
                permanent.add(row_id)
        else:
            stored[row_id] = event.id in result.inserted
    return stored


async def redrive_due(pool: asyncpg.Pool, policy: RetryPolicy, limit: int) -> list[Outcome]:
    """One batch of due pending rows, claimed with SKIP LOCKED so replicas share the work."""
    rows: list[RetryRow] = []
    async with pool.acquire() as conn:
        try:
            async with conn.transaction():
                rows = await retry_queue.claim_due(conn, limit)
                return await attempt(conn, rows, policy) if rows else []
        except Exception as exc:
            if is_transient(exc) or not rows:
                raise
            failure = exc
    # Something unforeseen failed the batch: row by row, so one row cannot block the rest.
    outcomes: list[Outcome] = []
    for row in rows:
        outcomes.extend(await _redrive_alone(pool, row.id, policy, failure))
    return outcomes


async def _redrive_alone(
    pool: asyncpg.Pool, row_id: int, policy: RetryPolicy, batch_error: BaseException
) -> list[Outcome]:
    async with pool.acquire() as conn:
        try:
            async with conn.transaction():
                rows = await retry_queue.lock(conn, [row_id])
                if not rows or rows[0].status is not RetryStatus.PENDING:
                    return []
                return await attempt(conn, rows, policy)
        except Exception as exc:
            if is_transient(exc):
                raise
            error = f"internal error while storing: {exc!r} (batch: {batch_error!r})"
        async with conn.transaction():
            rows = await retry_queue.lock(conn, [row_id])
            if not rows or rows[0].status is not RetryStatus.PENDING:
                return []
            outcome = _failed(rows[0], error, False, policy, datetime.now(UTC))
            await retry_queue.update_outcomes(
                conn,
                [
                    RowUpdate(
                        row_id,
                        outcome.status,
                        outcome.retry_count,
                        outcome.next_retry_at,
                        outcome.error,
                    )
                ],
            )
            return [outcome]


async def replay(pool: asyncpg.Pool, row_ids: list[int], policy: RetryPolicy) -> list[Outcome]:
    """Try the given rows now, whatever their status; a resolved row is left alone.

    Rows that do not exist are simply absent from the result.
    """
    if not row_ids:
        return []
    async with pool.acquire() as conn, conn.transaction():
        rows = await retry_queue.lock(conn, sorted(set(row_ids)))
        return await attempt(conn, rows, policy)


class DiscardRefused(ValueError):
    """A resolved row cannot be discarded: its event is stored."""


async def discard(pool: asyncpg.Pool, row_id: int, reason: str | None = None) -> RetryRow | None:
    """Mark a row `discarded` (an operator's decision); None if there is no such row."""
    async with pool.acquire() as conn, conn.transaction():
        rows = await retry_queue.lock(conn, [row_id])
        if not rows:
            return None
        row = rows[0]
        if row.status is RetryStatus.RESOLVED:
            raise DiscardRefused(f"row {row_id} is resolved (its event is stored); not discarded")
        if row.status is not RetryStatus.DISCARDED:
            note = f"discarded by an operator: {reason}" if reason else None
            await retry_queue.set_status(conn, row_id, RetryStatus.DISCARDED, note)
        return await retry_queue.get(conn, row_id)


# -- CSV import of the old Airtable Retry_Queue ------------------------------------------

IMPORT_FIELDS = (
    "queue_id",
    "operation_type",
    "lead_id",
    "payload",
    "retry_count",
    "next_retry_at",
    "created_at",
)
_REQUIRED = ("queue_id", "payload")
_DATE_FORMATS = (
    "%m/%d/%Y %I:%M%p",
    "%m/%d/%Y %I:%M %p",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
)


class ImportFormatError(ValueError):
    """The file is not a Retry_Queue export (a required column is missing)."""


@dataclass(slots=True)
class ImportSummary:
    """What an import did, row by row where it matters."""

    read: int = 0
    inserted: int = 0
    already_present: int = 0
    skipped: list[tuple[int, str]] = field(default_factory=list)  # (CSV line, why)
    outcomes: list[Outcome] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        by_status: dict[str, int] = {}
        for outcome in self.outcomes:
            by_status[outcome.status.value] = by_status.get(outcome.status.value, 0) + 1
        return {
            "read": self.read,
            "inserted": self.inserted,
            "alreadyPresent": self.already_present,
            "skipped": [{"line": line, "reason": why} for line, why in self.skipped],
            "replayed": by_status,
        }


def _normalise_header(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


def parse_time(text: str) -> datetime:
    """An Airtable export time: ISO-8601 or US style; a value without an offset is UTC."""
    text = text.strip()
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        for fmt in _DATE_FORMATS:
            try:
                value = datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
        else:
            raise ValueError(f"not a date/time: {text!r}") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def read_airtable_csv(
    text: str, *, now: datetime | None = None
) -> tuple[list[ImportedRow], list[tuple[int, str]]]:
    """Rows ready to import and the skipped ones (line, reason); raises on a wrong header."""
    now = now or datetime.now(UTC)
    reader = csv.DictReader(io.StringIO(text.removeprefix("\ufeff")))
    headers = {_normalise_header(h): h for h in reader.fieldnames or []}
    missing = [name for name in _REQUIRED if name not in headers]
    if missing:
        raise ImportFormatError(
            f"missing column(s) {', '.join(missing)}; a Retry_Queue export has "
            f"{', '.join(IMPORT_FIELDS)}"
        )
    rows: list[ImportedRow] = []
    skipped: list[tuple[int, str]] = []
    seen: set[str] = set()
    for record in reader:
        line = reader.line_num
        values = {
            name: (record.get(original) or "").strip()
            for name, original in headers.items()
            if name in IMPORT_FIELDS
        }
        payload = record.get(headers["payload"]) or ""
        try:
            rows.append(_imported(values, payload, now))
        except ValueError as exc:
            skipped.append((line, str(exc)))
            continue
        if rows[-1].queue_id in seen:
            rows.pop()
            skipped.append((line, f"queue_id {values['queue_id']!r} repeats an earlier row"))
            continue
        seen.add(rows[-1].queue_id)
    return rows, skipped


def _imported(values: dict[str, str], payload: str, now: datetime) -> ImportedRow:
    queue_id = values.get("queue_id", "")
    if not queue_id:
        raise ValueError("queue_id is empty")
    count_text = values.get("retry_count", "")
    try:
        retry_count = int(float(count_text)) if count_text else 0
    except ValueError:
        raise ValueError(f"retry_count {count_text!r} is not a number") from None
    if retry_count < 0:
        raise ValueError(f"retry_count {retry_count} is negative")
    try:
        created_at = parse_time(values["created_at"]) if values.get("created_at") else now
        next_at = parse_time(values["next_retry_at"]) if values.get("next_retry_at") else now
    except ValueError as exc:
        raise ValueError(f"created_at/next_retry_at: {exc}") from None
    return ImportedRow(
        queue_id=queue_id,
        operation_type=values.get("operation_type") or ACTIVITY_LOG,
        lead_id=values.get("lead_id") or None,
        payload=payload,
        retry_count=retry_count,
        # The old queue's schedule is history: an imported row is tried now.
        next_retry_at=min(next_at, now),
        created_at=created_at,
    )


async def import_csv(
    pool: asyncpg.Pool, text: str, policy: RetryPolicy, *, chunk: int = 500
) -> ImportSummary:
    """Insert the export's rows (idempotent on queue_id) and replay the pending ones."""
    rows, skipped = read_airtable_csv(text)
    summary = ImportSummary(read=len(rows) + len(skipped), skipped=skipped)
    for part in _chunks(rows, chunk):
        async with pool.acquire() as conn:
            inserted = await retry_queue.import_rows(conn, part)
            summary.inserted += len(inserted)
            summary.already_present += len(part) - len(inserted)
            row_ids = await retry_queue.ids_for_queue_ids(
                conn, [r.queue_id for r in part], RetryStatus.PENDING
            )
        summary.outcomes.extend(await replay(pool, row_ids, policy))
    return summary


def _chunks(items: list[ImportedRow], size: int) -> Iterable[list[ImportedRow]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# -- presentation shared by the CLI and the API ------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


def row_json(row: RetryRow) -> dict[str, Any]:
    """A row as the API and `retry-queue show --json` present it (camelCase)."""
    return {
        "id": row.id,
        "queueId": row.queue_id,
        "operationType": row.operation_type,
        "leadId": row.lead_id,
        "payload": row.payload,
        "retryCount": row.retry_count,
        "nextRetryAt": _iso(row.next_retry_at),
        "lastError": row.last_error,
        "status": row.status.value,
        "createdAt": _iso(row.created_at),
        "updatedAt": _iso(row.updated_at),
        "alertedAt": _iso(row.alerted_at),
    }
