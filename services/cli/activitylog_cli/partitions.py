"""`activitylog partitions | retention | archive`: the log's monthly partitions, retention
with a Parquet archive, and the archive's months brought back (docs/RUNBOOK.md §18)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import asyncpg
import click

from activitylog.domain.partitions import month_label, parse_month
from activitylog.runtime import archive as archive_files
from activitylog.runtime.db import connect
from activitylog.runtime.settings import get_settings
from activitylog.use_cases import partitions as upkeep
from activitylog.use_cases import retention as expiry
from activitylog_cli.support import database_url, require

T = TypeVar("T")


def _with_conn(work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    async def run() -> T:
        conn = await connect(database_url())
        try:
            return await work(conn)
        finally:
            await conn.close()

    return asyncio.run(run())


def _archive_url() -> str:
    settings = get_settings()
    require(settings, "archive_url")
    return settings.archive_url or ""


@click.group()
def partitions() -> None:
    """The log's monthly partitions."""


@partitions.command("migrate")
@click.option("--batch", default=10_000, show_default=True, help="Rows copied per transaction.")
def migrate(batch: int) -> None:
    """Copy an unpartitioned log into the monthly partitions, then swap them in. Resumable:
    run it again after an interruption and it goes on from the last batch."""
    started = time.monotonic()

    def progress(copied: int, total: int | None) -> None:
        share = f" of ~{total:,} ({100 * copied / total:.0f} %)" if total else ""
        rate = copied / max(time.monotonic() - started, 1e-3)
        click.echo(f"copied {copied:,}{share}, {rate:,.0f} rows/s", err=True)

    done = _with_conn(
        lambda conn: upkeep.migrate(
            conn,
            now=datetime.now(UTC),
            batch=batch,
            ahead=get_settings().partitions_ahead,
            progress=progress,
        )
    )
    if done is None:
        click.echo("the log is partitioned already; nothing to do")
    else:
        click.echo(f"done: {done.copied:,} rows copied, the partitioned log is in place")


@partitions.command("maintain")
def maintain() -> None:
    """Create the coming months' partitions (the retry service does this every hour)."""
    created = _with_conn(
        lambda conn: upkeep.maintain(conn, datetime.now(UTC), get_settings().partitions_ahead)
    )
    if created is None:
        click.echo("another process is at it, or the log is not partitioned yet")
    else:
        click.echo(f"created: {', '.join(month_label(m) for m in created) or 'none'}")


@partitions.command("list")
def list_partitions() -> None:
    """The months that have a partition, with their size."""

    async def work(conn: asyncpg.Connection) -> list[asyncpg.Record]:
        return await conn.fetch(
            """
            SELECT c.relname AS name, pg_total_relation_size(c.oid) AS bytes,
                   greatest(c.reltuples, 0)::bigint AS rows
            FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
            WHERE i.inhparent = 'lead_activity_log'::regclass ORDER BY c.relname
            """
        )

    for r in _with_conn(work):
        click.echo(f"{r['name']}\t~{r['rows']:,} rows\t{r['bytes'] / 1e6:,.1f} MB")


@click.group(invoke_without_command=True)
@click.option("--dry-run", is_flag=True, help="Say what would expire; change nothing.")
@click.pass_context
def retention(ctx: click.Context, dry_run: bool) -> None:
    """Archive the expired months (RETENTION_MONTHS, and clients' own) to ARCHIVE_URL, then
    drop them from the log."""
    if ctx.invoked_subcommand is not None:
        return
    settings = get_settings()
    if settings.retention_months is None:
        click.echo("RETENTION_MONTHS is not set: the installation keeps every month")
    url = _archive_url()
    done = _with_conn(
        lambda conn: expiry.run(
            conn,
            now=datetime.now(UTC),
            keep_months=settings.retention_months,
            archive_url=url,
            dry_run=dry_run,
        )
    )
    if done.skipped:
        click.echo("another process is running retention; nothing done")
        return
    verb = "would" if dry_run else "did"
    for month in done.plan.drop:
        click.echo(f"{verb} archive and drop {month_label(month)}")
    for cut in done.plan.deletes:
        who = f"client {cut.client}" if cut.client else "clients on the installation's keep"
        click.echo(f"{verb} archive and delete {month_label(cut.month)} of {who}")
    for file in done.archived:
        click.echo(f"archived {file.rows:,} rows to {file.path}")
    for month in done.deferred:
        click.echo(f"deferred {month_label(month)} (busy, or not yet counted): next run")


@retention.command("client")
@click.argument("client_id", type=click.UUID)
@click.option("--keep", type=click.IntRange(min=1), help="Months this client keeps.")
@click.option("--default", "default", is_flag=True, help="Back to RETENTION_MONTHS.")
def client(client_id: uuid.UUID, keep: int | None, default: bool) -> None:
    """Set a client's own retention."""
    if (keep is None) == (not default):
        raise click.UsageError("give --keep N or --default")
    _with_conn(lambda conn: expiry.set_client(conn, client_id, None if default else keep))
    click.echo(f"client {client_id}: {'RETENTION_MONTHS' if default else f'{keep} months'}")


@click.group()
def archive() -> None:
    """The archive of expired months (Parquet under ARCHIVE_URL)."""


@archive.command("list")
def list_archive() -> None:
    """The archived months: files, rows and bytes (as read back from the files)."""
    url = _archive_url()
    files = archive_files.month_files(url)
    months: dict[str, list[archive_files.WrittenFile]] = {}
    for f in files:
        months.setdefault(f.path.rsplit("month=", 1)[-1].split("/", 1)[0], []).append(f)
    for month, found in sorted(months.items()):
        rows = sum(f.rows for f in found)
        size = sum(f.bytes for f in found)
        click.echo(f"{month}\t{len(found)} file(s)\t{rows:,} rows\t{size / 1e6:,.1f} MB")
    if not months:
        click.echo("the archive is empty")


@archive.command("restore")
@click.argument("month")
def restore(month: str) -> None:
    """Bring MONTH (YYYY-MM) back into the log from the archive; idempotent. Retention
    leaves it for RESTORE_HOLD_DAYS."""
    try:
        wanted = parse_month(month)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    url = _archive_url()
    hold = timedelta(days=get_settings().restore_hold_days)
    restored = _with_conn(
        lambda conn: expiry.restore(conn, wanted, url, hold=hold, now=datetime.now(UTC))
    )
    click.echo(f"{month}: {restored:,} rows restored")
