"""The old Airtable Retry_Queue CSV export read as rows to import: pure."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from activitylog.domain.airtable import normalise_header, parse_time
from activitylog.domain.dead_letters import ACTIVITY_LOG, ImportedRow

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


class ImportFormatError(ValueError):
    """The file is not a Retry_Queue export (a required column is missing)."""


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
