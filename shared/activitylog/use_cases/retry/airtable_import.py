"""Import of the old Airtable Retry_Queue CSV export into retry_queue."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from activitylog.domain.dead_letters import ImportedRow, RetryStatus
from activitylog.domain.retry.airtable_export import read_airtable_csv
from activitylog.domain.retry.outcomes import Outcome, RetryPolicy
from activitylog.storage import retry_queue
from activitylog.use_cases.retry.redrive import replay


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
