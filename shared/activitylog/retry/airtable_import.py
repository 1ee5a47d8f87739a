"""Import of the old Airtable Retry_Queue CSV export into retry_queue."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any

import asyncpg

from activitylog.retry.outcomes import ACTIVITY_LOG, Outcome, RetryPolicy
from activitylog.retry.redrive import replay
from activitylog.storage import retry_queue
from activitylog.storage.retry_queue import ImportedRow, RetryStatus

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
    "%m/%d/%Y %I:%M:%S%p",
    "%m/%d/%Y %I:%M:%S %p",
    "%B %d, %Y %I:%M%p",
    "%B %d, %Y %I:%M %p",
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


def normalise_header(name: str) -> str:
    """An export's column name as a key: `Sent At` → `sent_at` (a BOM is dropped)."""
    return re.sub(r"[\s\-]+", "_", name.strip().lstrip("\ufeff").strip().lower())


def parse_time(text: str, tz: tzinfo = UTC) -> datetime:
    """An Airtable export time: ISO-8601 or US style; a value without an offset is in `tz`
    (the base's display zone; UTC unless told)."""
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
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    return value.astimezone(UTC)


def read_airtable_csv(
    text: str, *, now: datetime | None = None
) -> tuple[list[ImportedRow], list[tuple[int, str]]]:
    """Rows ready to import and the skipped ones (line, reason); raises on a wrong header."""
    now = now or datetime.now(UTC)
    reader = csv.DictReader(io.StringIO(text.removeprefix("\ufeff")))
    headers = {normalise_header(h): h for h in reader.fieldnames or []}
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
