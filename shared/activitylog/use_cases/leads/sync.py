"""The lead sync: leads from the portal's database or a CSV export, upserted in batches
through `save_leads`, with what happened counted for the summary."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg

from activitylog.domain.leads.airtable_csv import read_leads
from activitylog.domain.leads.records import LeadInput, Rejected, from_source
from activitylog.runtime.backoff import Backoff
from activitylog.runtime.logs import get_logger
from activitylog.runtime.service_loop import run_loop
from activitylog.storage import lead_sync_state
from activitylog.storage.lead_sync_state import Mark
from activitylog.storage.portal_leads import PortalTable
from activitylog.use_cases.leads.saving import Outcome, save_leads

log = get_logger("activitylog.leads")

DEFAULT_BATCH = 1_000
MAX_EXAMPLES = 10
_NO_TIME = datetime(1970, 1, 1, tzinfo=UTC)
# Refusals are grouped by kind in the summary; the log has each lead.
_CONFLICT = "its id belongs to a lead with another Airtable id"
_TWICE = "another row of the same batch names the same lead"


@dataclass(slots=True)
class SyncSummary:
    """What one sync (or one CSV import) did."""

    read: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    stubs_filled: int = 0
    merged: int = 0
    adopted: int = 0  # leads that took the portal's UUID as their id (among the above)
    skipped: Counter[str] = field(default_factory=Counter)  # reason → rows
    examples: list[str] = field(default_factory=list)  # the first few rows skipped, in full

    def add(self, other: SyncSummary) -> None:
        self.read += other.read
        self.created += other.created
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.stubs_filled += other.stubs_filled
        self.merged += other.merged
        self.adopted += other.adopted
        self.skipped.update(other.skipped)
        for example in other.examples:
            self.example(example)

    def lines(self) -> list[str]:
        out = [
            f"read {self.read:,}: {self.created:,} new, {self.updated:,} updated, "
            f"{self.unchanged:,} unchanged, "
            f"{self.merged:,} merged, {self.stubs_filled:,} stubs filled, "
            f"{self.adopted:,} took the portal's id, {sum(self.skipped.values()):,} skipped"
        ]
        out += [f"  skipped {n:,}: {reason}" for reason, n in self.skipped.most_common()]
        out += [f"  e.g. {example}" for example in self.examples]
        return out

    def example(self, text: str) -> None:
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(text)


def source_name(dsn: str, table: PortalTable) -> str:
    """Where the high-water mark of a portal database is kept: host, database and table,
    never the credentials."""
    parts = urlsplit(dsn)
    return f"postgres://{parts.hostname or ''}:{parts.port or 5432}{parts.path}#{table.table}"


async def save_batch(
    conn: asyncpg.Connection, rows: Iterable[LeadInput | str], summary: SyncSummary
) -> None:
    """Upsert one batch (a str is a row already rejected, for that reason), counting what
    happened; the caller holds the transaction."""
    wanted: list[LeadInput] = []
    for row in rows:
        summary.read += 1
        if isinstance(row, str):
            summary.skipped[row] += 1
        else:
            wanted.append(row)
    for saved in await save_leads(conn, wanted):
        summary.adopted += saved.adopted
        if saved.outcome == Outcome.CREATED:
            summary.created += 1
        elif saved.outcome == Outcome.UPDATED:
            summary.updated += 1
        elif saved.outcome == Outcome.UNCHANGED:
            summary.unchanged += 1
        elif saved.outcome == Outcome.STUB_FILLED:
            summary.stubs_filled += 1
        elif saved.outcome == Outcome.MERGED:
            summary.merged += 1
        else:
            # The message names the lead; the summary groups by the kind of refusal.
            conflict = saved.outcome == Outcome.CONFLICT
            summary.example(saved.message)
            summary.skipped[_CONFLICT if conflict else _TWICE] += 1


def _lead_or_reason(row: asyncpg.Record, summary: SyncSummary) -> LeadInput | str:
    try:
        return from_source(dict(row))
    except Rejected as exc:
        summary.example(f"portal lead {row['id']}: {exc}")
        return exc.reason


async def sync_from_postgres(
    conn: asyncpg.Connection,
    portal: asyncpg.Connection,
    table: PortalTable,
    *,
    source: str,
    full: bool = False,
    batch_size: int = DEFAULT_BATCH,
    progress: Callable[[int], None] | None = None,
) -> SyncSummary:
    """Read the portal's rows changed since the stored mark (all with `full`) in
    (updated_at, id) order and upsert them, one transaction per batch with its mark."""
    summary = SyncSummary()
    incremental = bool(table.updated_at)
    mark = None if full or not incremental else await lead_sync_state.get_mark(conn, source)
    while True:
        rows = await table.read_after(portal, mark, batch_size)
        if not rows:
            return summary
        last = rows[-1]
        mark = Mark(last["updated_at"] if incremental else _NO_TIME, last["id"])
        async with conn.transaction():
            await save_batch(conn, [_lead_or_reason(r, summary) for r in rows], summary)
            if incremental:
                await lead_sync_state.set_mark(conn, source, mark)
        if progress is not None:
            progress(len(rows))


async def pending(
    conn: asyncpg.Connection,
    portal: asyncpg.Connection,
    table: PortalTable,
    *,
    source: str,
    full: bool = False,
) -> int:
    """How many portal rows the next sync reads."""
    mark = None if full or not table.updated_at else await lead_sync_state.get_mark(conn, source)
    return await table.count_after(portal, mark)


async def import_csv(
    conn: asyncpg.Connection,
    path: Path,
    *,
    batch_size: int = DEFAULT_BATCH,
    progress: Callable[[int], None] | None = None,
) -> SyncSummary:
    """Upsert the leads of an Airtable "Leads" CSV export, one transaction per batch.
    Raises Rejected when no column names a lead."""
    summary = SyncSummary()
    batch: list[LeadInput | str] = []

    async def flush() -> None:
        async with conn.transaction():
            await save_batch(conn, batch, summary)
        if progress is not None:
            progress(len(batch))
        batch.clear()

    for row in read_leads(path):
        if row.lead is not None:
            batch.append(row.lead)
        else:
            assert row.rejected is not None
            summary.example(f"line {row.line}: {row.rejected}")
            batch.append(row.rejected.reason)
        if len(batch) >= batch_size:
            await flush()
    if batch:
        await flush()
    return summary


async def sync_forever(
    one_round: Callable[[], Awaitable[SyncSummary]], *, every_s: float, stop: asyncio.Event
) -> None:
    """The lead-sync daemon: a round every `every_s` until `stop`, in the one service loop;
    a round that cannot reach either database backs off and is tried again."""

    async def step() -> None:
        summary = await one_round()
        log.info(
            "lead sync round",
            read=summary.read,
            created=summary.created,
            updated=summary.updated,
            merged=summary.merged,
            stubs_filled=summary.stubs_filled,
            skipped=dict(summary.skipped),
        )

    def unreachable(exc: BaseException) -> bool:
        return isinstance(exc, OSError | asyncpg.PostgresError | asyncpg.InterfaceError)

    await run_loop(
        step,
        stop=stop,
        backoff=Backoff(1.0, every_s),
        job="lead sync",
        interval_s=every_s,
        outage=unreachable,
    )
