"""`activitylog backfill sms-audit|status`: the old Airtable SMS history into the log."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click

from activitylog.domain.csv_safe import SafeWriter
from activitylog.domain.sms_audit.facts import FACT_TYPES, Skip
from activitylog.domain.sms_audit.rows import AuditRow, SourceFormatError
from activitylog.domain.sms_audit.summary import BackfillSummary
from activitylog.runtime.db import connect, create_pool
from activitylog.storage import backfill_runs
from activitylog.use_cases.backfill import sms_audit as backfill_sms_audit
from activitylog.use_cases.backfill import sources
from activitylog_cli.support import database_url

_TYPE_ORDER = [t.value for t in FACT_TYPES]
REPORT_COLUMNS = ["where", "fact", "reason", "detail", "message_id", "phone", "lead"]


def zone(_ctx: click.Context, param: click.Parameter, value: str) -> ZoneInfo:
    """A --tz value as a zone, or a usage error naming the option."""
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise click.BadParameter(
            f"{value!r} is not a time zone name (for example UTC or America/New_York)",
            param=param,
        ) from None


def source_option_check(file: Path | None, dsn: str | None) -> str:
    """Exactly one source, described for the record (a DSN without its password)."""
    if (file is None) == (dsn is None):
        raise click.UsageError("give FILE.csv or --from-postgres DSN (one of them)")
    return str(file) if file is not None else sources.describe_dsn(dsn or "")


async def open_chunks(
    file: Path | None, dsn: str | None, size: int, bar: Any
) -> tuple[AsyncIterator[list[AuditRow]], int]:
    """The source's rows in chunks and the progress bar's length (bytes or rows)."""
    if file is not None:
        size_bytes = await asyncio.to_thread(lambda: file.stat().st_size)
        return sources.csv_chunks(file, size, bar.update), size_bytes
    total = await sources.portal_total(dsn or "")
    return sources.portal_chunks(dsn or "", size, bar.update), total


class ProgressBar:
    """click's progress bar, created once the length is known; on stderr, so that --json
    output and pipes stay clean."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.bar: Any = None
        self.pending = 0

    def start(self, length: int) -> None:
        self.bar = click.progressbar(length=length, label=self.label, file=sys.stderr)
        self.bar.__enter__()
        self.update(self.pending)

    def update(self, n: int) -> None:
        if self.bar is None:
            self.pending += n
        else:
            self.bar.update(n)

    def finish(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


class _Report:
    """--report FILE.csv: every skipped row or fact, written as found."""

    def __init__(self, handle: IO[str] | None) -> None:
        # The one formula-safe writer: a detail or phone is never run as a formula.
        self.writer = SafeWriter(handle) if handle is not None else None
        if self.writer is not None:
            self.writer.writerow(REPORT_COLUMNS)

    def __call__(self, skip: Skip) -> None:
        if self.writer is not None:
            m = skip.message
            fact = skip.fact.value if skip.fact else "row"
            self.writer.writerow(
                [skip.where, fact, skip.reason.value, skip.detail, m.message_id, m.phone, m.lead]
            )


@click.group()
def backfill() -> None:
    """Backfill history from the old Airtable tables into the log (idempotent)."""


@backfill.command("sms-audit")
@click.argument(
    "file", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--from-postgres", "dsn", metavar="DSN", help="Read the portal's sms_audit table.")
@click.option(
    "--tz",
    default="UTC",
    show_default=True,
    callback=zone,
    help="Zone of export times written without an offset (the base's display zone).",
)
@click.option("--dry-run", is_flag=True, help="Show the summary; write nothing.")
@click.option(
    "--report",
    "report_file",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write every skipped row to this CSV file.",
)
@click.option(
    "--batch-size",
    type=click.IntRange(100, 20_000),
    default=backfill_sms_audit.BATCH_SIZE,
    show_default=True,
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 8),
    default=backfill_sms_audit.CONCURRENCY,
    show_default=True,
    help="Batches stored at once, each on its own connection.",
)
@click.option("--json", "as_json", is_flag=True, help="The summary as JSON.")
def sms_audit(
    file: Path | None,
    dsn: str | None,
    tz: ZoneInfo,
    dry_run: bool,
    report_file: Path | None,
    batch_size: int,
    concurrency: int,
    as_json: bool,
) -> None:
    """SMS_Audit rows (FILE.csv, an Airtable export, or --from-postgres) as their events.

    A send, a delivery result and a click each become an event; a re-run adds nothing.
    """
    described = source_option_check(file, dsn)
    url = database_url()
    bar = ProgressBar("backfill" + (" (dry run)" if dry_run else ""))
    handle = report_file.open("w", newline="", encoding="utf-8") if report_file else None

    async def work() -> BackfillSummary:
        # A batch under load may take long; the run as a whole has no time limit.
        pool = await create_pool(url, min_size=1, max_size=concurrency, statement_timeout_s=600)
        try:
            chunks, length = await open_chunks(file, dsn, batch_size, bar)
            bar.start(length)
            return await backfill_sms_audit.run(
                pool,
                chunks,
                tz=tz,
                source=described,
                dry_run=dry_run,
                on_skip=_Report(handle),
                concurrency=concurrency,
            )
        finally:
            await pool.close()

    started = time.perf_counter()
    try:
        summary = asyncio.run(work())
    except SourceFormatError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        bar.finish()
        if handle is not None:
            handle.close()
    elapsed = time.perf_counter() - started
    if as_json:
        click.echo(json.dumps({**summary.as_json(), "seconds": round(elapsed, 2)}))
        return
    click.echo(
        f"SMS_Audit backfill from {described}" + (" — DRY RUN, nothing written" if dry_run else "")
    )
    for line in summary.lines():
        click.echo(line)
    rate = summary.rows_read / elapsed if elapsed else 0.0
    click.echo(f"took             {elapsed:.1f} s ({rate:,.0f} rows/s)")
    if report_file is not None:
        click.echo(f"skipped rows listed in {report_file}")


@backfill.command("status")
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def status(limit: int, as_json: bool) -> None:
    """The backfill runs, newest first: what each wrote, and when."""

    async def work() -> list[backfill_runs.BackfillRun]:
        conn = await connect(database_url())
        try:
            return await backfill_runs.recent(conn, kind=None, limit=limit)
        finally:
            await conn.close()

    runs = asyncio.run(work())
    if as_json:
        for r in runs:
            click.echo(json.dumps({
                "id": r.id, "kind": r.kind, "source": r.source, "status": r.status,
                "startedAt": r.started_at.isoformat(),
                "finishedAt": r.finished_at.isoformat() if r.finished_at else None,
                "rowsRead": r.rows_read, "written": r.written, "duplicates": r.duplicates,
                "skipped": r.skipped, "summary": r.summary,
            }))  # fmt: skip
        return
    if not runs:
        click.echo("no backfill runs yet")
        return
    click.echo(
        f"{'ID':>4}  {'KIND':<10} {'STATUS':<9} {'STARTED (UTC)':<19}  {'TOOK':>7} "
        f"{'ROWS':>10} {'WRITTEN':>10} {'DUPLICATES':>10} {'SKIPPED':>8}  SOURCE"
    )
    for r in runs:
        took = f"{(r.finished_at - r.started_at).total_seconds():.0f} s" if r.finished_at else "-"
        by_type = (r.summary or {}).get("written") or {}
        written = ", ".join(f"{t} {by_type[t]:,}" for t in _TYPE_ORDER if by_type.get(t))
        click.echo(
            f"{r.id:>4}  {r.kind:<10} {r.status:<9} {r.started_at:%Y-%m-%d %H:%M:%S}  {took:>7} "
            f"{r.rows_read:>10,} {r.written:>10,} {r.duplicates:>10,} {r.skipped:>8,}  {r.source}"
        )
        if written:
            click.echo(f"      {written}")
