"""`activitylog retry-queue …`: operators list, show, replay, discard and import rows."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import click

from activitylog.domain.dead_letters import RetryRow, RetryStatus
from activitylog.domain.retry import outcomes
from activitylog.domain.retry import views as retry_views
from activitylog.domain.retry.airtable_export import ImportFormatError
from activitylog.domain.retry.outcomes import Outcome, RetryPolicy
from activitylog.runtime.db import create_pool
from activitylog.runtime.settings import get_settings
from activitylog.storage import retry_queue
from activitylog.use_cases.retry import airtable_import, redrive
from activitylog_cli.support import database_url

T = TypeVar("T")
STATUSES = [s.value for s in RetryStatus]


def _with_pool(work: Callable[[asyncpg.Pool], Awaitable[T]]) -> T:
    url = database_url()

    async def main() -> T:
        pool = await create_pool(url, min_size=1, max_size=2)
        try:
            return await work(pool)
        finally:
            await pool.close()

    return asyncio.run(main())


async def _resolve_ids(pool: asyncpg.Pool, refs: tuple[str, ...]) -> list[int]:
    """Row ids from `refs`: digits are a row id, anything else a queue_id."""
    ids: list[int] = []
    async with pool.acquire() as conn:
        for ref in refs:
            if ref.isdigit():
                ids.append(int(ref))
                continue
            row = await retry_queue.get_by_queue_id(conn, ref)
            if row is None:
                raise click.ClickException(f"no retry_queue row with queue_id {ref!r}")
            ids.append(row.id)
    return ids


def _short(text: str | None, width: int) -> str:
    text = (text or "").replace("\n", " ")
    return text if len(text) <= width else text[: width - 1] + "…"


def _when(row: RetryRow) -> str:
    if row.status is not RetryStatus.PENDING or row.next_retry_at is None:
        return "-"
    return row.next_retry_at.strftime("%Y-%m-%d %H:%M:%S")


def _print_outcome(o: Outcome) -> None:
    if o.previous is RetryStatus.RESOLVED:
        click.echo(f"row {o.row_id} ({o.queue_id}): already resolved; nothing to do")
    elif o.succeeded:
        what = "stored" if o.inserted else "already stored"
        click.echo(f"row {o.row_id} ({o.queue_id}): resolved, event {o.event_id} {what}")
    else:
        extra = f", next try {o.next_retry_at:%Y-%m-%d %H:%M:%S}" if o.next_retry_at else ""
        click.echo(
            f"row {o.row_id} ({o.queue_id}): FAILED, status {o.status.value}, "
            f"{o.retry_count} attempt(s){extra}: {o.error}",
            err=True,
        )


@click.group("retry-queue")
def retry_queue_group() -> None:
    """Inspect and act on retry_queue rows (the dead-letter store)."""


@retry_queue_group.command("list")
@click.option("--status", type=click.Choice([*STATUSES, "all"]), default="all", show_default=True)
@click.option("--lead", "lead_id", help="Only rows for this lead (Airtable id or UUID).")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.option("--before", "before_id", type=int, help="Page: rows with an id below this.")
@click.option("--json", "as_json", is_flag=True, help="JSON lines instead of a table.")
def list_rows(
    status: str, lead_id: str | None, limit: int, before_id: int | None, as_json: bool
) -> None:
    """Newest rows first, with counts per status."""

    async def work(pool: asyncpg.Pool) -> tuple[list[RetryRow], dict[str, int]]:
        async with pool.acquire() as conn:
            rows = await retry_queue.list_rows(
                conn,
                status=None if status == "all" else RetryStatus(status),
                lead_id=lead_id,
                before_id=before_id,
                limit=limit,
            )
            return rows, await retry_queue.count_by_status(conn)

    rows, counts = _with_pool(work)
    if as_json:
        for row in rows:
            click.echo(json.dumps(retry_views.row_json(row)))
        return
    click.echo("  ".join(f"{name}: {n}" for name, n in counts.items()))
    click.echo(
        f"{'ID':>7}  {'STATUS':<9} {'TRIES':>5}  {'NEXT RETRY':<19}  {'QUEUE ID':<24} "
        f"{'LEAD':<20} LAST ERROR"
    )
    for r in rows:
        click.echo(
            f"{r.id:>7}  {r.status.value:<9} {r.retry_count:>5}  {_when(r):<19}  "
            f"{_short(r.queue_id, 24):<24} {_short(r.lead_id, 20):<20} {_short(r.last_error, 70)}"
        )
    if len(rows) == limit:
        click.echo(f"(more: --before {rows[-1].id})")


@retry_queue_group.command()
@click.argument("ref")
@click.option("--json", "as_json", is_flag=True)
def show(ref: str, as_json: bool) -> None:
    """One row in full: REF is the row id or its queue_id."""

    async def work(pool: asyncpg.Pool) -> RetryRow | None:
        (row_id,) = await _resolve_ids(pool, (ref,))
        async with pool.acquire() as conn:
            return await retry_queue.get(conn, row_id)

    row = _with_pool(work)
    if row is None:
        raise click.ClickException(f"no retry_queue row {ref}")
    data: dict[str, Any] = retry_views.row_json(row)
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    payload = data.pop("payload")
    for key, value in data.items():
        click.echo(f"{key:>14}: {value}")
    with contextlib.suppress(ValueError):
        payload = json.dumps(json.loads(payload), indent=2, ensure_ascii=False)
    click.echo(f"{'payload':>14}:\n{payload}")


@retry_queue_group.command()
@click.argument("refs", nargs=-1)
@click.option("--all-dead", is_flag=True, help="Replay every dead row (after fixing the cause).")
def replay(refs: tuple[str, ...], all_dead: bool) -> None:
    """Store rows' events now (REFS: row ids or queue_ids); a resolved row adds nothing."""
    if not refs and not all_dead:
        raise click.UsageError("name rows to replay, or --all-dead")
    policy = RetryPolicy.from_settings(get_settings())

    async def work(pool: asyncpg.Pool) -> tuple[list[int], list[Outcome]]:
        ids = await _resolve_ids(pool, refs)
        if all_dead:
            async with pool.acquire() as conn:
                ids += await _dead_ids(conn)
        outcomes: list[Outcome] = []
        for start in range(0, len(ids), 500):
            outcomes += await redrive.replay(pool, ids[start : start + 500], policy)
        return ids, outcomes

    ids, outcomes = _with_pool(work)
    found = {o.row_id for o in outcomes}
    for outcome in outcomes:
        _print_outcome(outcome)
    missing = [i for i in ids if i not in found]
    for row_id in missing:
        click.echo(f"row {row_id}: no such row", err=True)
    failed = [o for o in outcomes if not o.succeeded and o.previous is not RetryStatus.RESOLVED]
    click.echo(f"{len(outcomes) - len(failed)} resolved, {len(failed)} failed")
    if failed or missing:
        sys.exit(1)


async def _dead_ids(conn: asyncpg.Connection) -> list[int]:
    ids: list[int] = []
    before: int | None = None
    while True:
        rows = await retry_queue.list_rows(
            conn, status=RetryStatus.DEAD, before_id=before, limit=1000
        )
        ids += [r.id for r in rows]
        if len(rows) < 1000:
            return ids
        before = rows[-1].id


@retry_queue_group.command()
@click.argument("refs", nargs=-1, required=True)
@click.option("--reason", help="Why; kept as the row's last_error.")
def discard(refs: tuple[str, ...], reason: str | None) -> None:
    """Mark rows `discarded`: never retried (REFS: row ids or queue_ids)."""

    async def work(pool: asyncpg.Pool) -> int:
        problems = 0
        for row_id in await _resolve_ids(pool, refs):
            try:
                row = await redrive.discard(pool, row_id, reason)
            except outcomes.DiscardRefused as exc:
                click.echo(str(exc), err=True)
                problems += 1
                continue
            if row is None:
                click.echo(f"row {row_id}: no such row", err=True)
                problems += 1
            else:
                click.echo(f"row {row.id} ({row.queue_id}): {row.status.value}")
        return problems

    if _with_pool(work):
        sys.exit(1)


@retry_queue_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_file(file: Path) -> None:
    """Import a CSV export of the old Airtable Retry_Queue, then replay it (idempotent)."""
    policy = RetryPolicy.from_settings(get_settings())
    text = file.read_text("utf-8-sig")
    try:
        summary = _with_pool(lambda pool: airtable_import.import_csv(pool, text, policy))
    except ImportFormatError as exc:
        raise click.ClickException(str(exc)) from None
    report = summary.as_json()
    click.echo(
        f"read {report['read']} row(s): {report['inserted']} imported, "
        f"{report['alreadyPresent']} already present, {len(summary.skipped)} skipped"
    )
    for line, why in summary.skipped:
        click.echo(f"  line {line} skipped: {why}", err=True)
    replayed = ", ".join(f"{n} {status}" for status, n in sorted(report["replayed"].items()))
    click.echo(f"replayed {len(summary.outcomes)} row(s): {replayed or 'none'}")
    for outcome in summary.outcomes:
        if not outcome.succeeded:
            _print_outcome(outcome)
    if summary.skipped:
        sys.exit(1)
