"""`activitylog leads sync|import|delete|restore|purge`: the leads table, filled from the
portal's database or an Airtable CSV export, and lead deletion that never erases history
silently."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

import asyncpg
import click

from activitylog.domain.leads.records import Rejected
from activitylog.runtime.db import connect
from activitylog.runtime.logs import get_logger
from activitylog.runtime.settings import get_settings
from activitylog.storage import leads
from activitylog.storage.portal_leads import PortalTable
from activitylog.use_cases.leads import saving as lead_saving
from activitylog.use_cases.leads import sync as lead_sync
from activitylog_cli.runner import serve
from activitylog_cli.support import database_url

log = get_logger("activitylog.leads")

T = TypeVar("T")
_FIELDS = tuple(f for f in PortalTable.__dataclass_fields__ if f != "table")


@click.group()
def leads_group() -> None:
    """Leads: sync from the portal, import a CSV export, soft-delete, purge."""


def _portal_table(table: str | None, columns: tuple[str, ...]) -> PortalTable:
    settings = get_settings()
    mapping = dict(
        pair.split("=", 1) for pair in settings.lead_sync_columns.split(",") if "=" in pair
    )
    for pair in columns:
        if "=" not in pair:
            raise click.BadParameter(f"{pair!r} is not FIELD=COLUMN", param_hint="--column")
        name, column = pair.split("=", 1)
        mapping[name.strip()] = column.strip()
    unknown = set(mapping) - set(_FIELDS)
    if unknown:
        raise click.BadParameter(
            f"unknown field(s) {sorted(unknown)}; fields are {', '.join(_FIELDS)}",
            param_hint="--column",
        )
    try:
        return replace(PortalTable(), table=table or settings.lead_sync_table, **mapping)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--table/--column") from None


def _echo_summary(summary: lead_sync.SyncSummary) -> None:
    for line in summary.lines():
        click.echo(line)


async def _sync_once(
    dsn: str, portal_dsn: str, table: PortalTable, *, full: bool, batch: int, bar: bool
) -> lead_sync.SyncSummary:
    source = lead_sync.source_name(portal_dsn, table)
    conn = await connect(dsn)
    try:
        portal = await asyncpg.connect(portal_dsn)
    except BaseException:
        await conn.close()
        raise
    try:
        if not bar:
            return await lead_sync.sync_from_postgres(
                conn, portal, table, source=source, full=full, batch_size=batch
            )
        total = await lead_sync.pending(conn, portal, table, source=source, full=full)
        with click.progressbar(length=total, label="syncing leads", file=None) as progress:
            return await lead_sync.sync_from_postgres(
                conn,
                portal,
                table,
                source=source,
                full=full,
                batch_size=batch,
                progress=progress.update,
            )
    finally:
        await portal.close()
        await conn.close()


async def sync_every(
    dsn: str, portal_dsn: str, table: PortalTable, every: float, batch: int, stop: asyncio.Event
) -> None:
    """Sync, then wait `every` seconds, until `stop` (the lead-sync daemon, in the one
    service loop); a failed round backs off and is tried again (the mark only moves with
    what was stored)."""

    async def one_round() -> lead_sync.SyncSummary:
        return await _sync_once(dsn, portal_dsn, table, full=False, batch=batch, bar=False)

    await lead_sync.sync_forever(one_round, every_s=every, stop=stop)


@leads_group.command("sync")
@click.option(
    "--from-postgres",
    "portal_dsn",
    default=None,
    metavar="DSN",
    help="The portal's PostgreSQL [PORTAL_DATABASE_URL].",
)
@click.option("--table", default=None, help="The portal's leads table [LEAD_SYNC_TABLE or leads].")
@click.option(
    "--column",
    "columns",
    multiple=True,
    metavar="FIELD=COLUMN",
    help=f"A column name of the portal's table, if not the default; fields: {', '.join(_FIELDS)}. "
    "An empty COLUMN is not read (updated_at empty: every sync reads everything).",
)
@click.option(
    "--every",
    type=click.FloatRange(min=1),
    default=None,
    help="Keep syncing, every so many seconds, until SIGTERM.",
)
@click.option(
    "--full", is_flag=True, help="Read every row, not only those changed since the last sync."
)
@click.option(
    "--batch",
    type=click.IntRange(1, 10_000),
    default=lead_sync.DEFAULT_BATCH,
    show_default=True,
    help="Leads per transaction.",
)
def sync(
    portal_dsn: str | None,
    table: str | None,
    columns: tuple[str, ...],
    every: float | None,
    full: bool,
    batch: int,
) -> None:
    """Upsert the portal's leads (changed since the last sync, by updated_at) in batches."""
    dsn = database_url()
    portal_dsn = portal_dsn or get_settings().portal_database_url
    if not portal_dsn:
        raise click.UsageError("name the portal's database: --from-postgres DSN")
    portal_table = _portal_table(table, columns)
    if every is not None:
        if full:
            raise click.UsageError("--full and --every do not go together")
        from activitylog.runtime.metrics import serve_metrics

        # As the other services: the compose healthcheck reads it.
        serve_metrics(get_settings().metrics_port)
        serve(
            {
                "lead-sync": functools.partial(
                    sync_every, dsn, portal_dsn, portal_table, every, batch
                )
            }
        )
        return
    try:
        summary = asyncio.run(
            _sync_once(dsn, portal_dsn, portal_table, full=full, batch=batch, bar=True)
        )
    except asyncpg.UndefinedTableError as exc:
        raise click.ClickException(f"the portal database has no such table: {exc}") from None
    except asyncpg.UndefinedColumnError as exc:
        raise click.ClickException(f"{exc}; name the portal's columns with --column") from None
    _echo_summary(summary)


@leads_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--batch",
    type=click.IntRange(1, 10_000),
    default=lead_sync.DEFAULT_BATCH,
    show_default=True,
    help="Leads per transaction.",
)
def import_csv(file: Path, batch: int) -> None:
    """Upsert the leads of an Airtable "Leads" CSV export (header aliases, BOM, CRLF)."""

    async def work(conn: asyncpg.Connection) -> lead_sync.SyncSummary:
        done = 0

        def progress(n: int) -> None:
            nonlocal done
            done += n
            click.echo(f"{done:,} rows imported", err=True)

        return await lead_sync.import_csv(conn, file, batch_size=batch, progress=progress)

    try:
        summary = asyncio.run(_with_conn(work))
    except Rejected as exc:
        raise click.ClickException(str(exc)) from None
    _echo_summary(summary)


async def _with_conn(work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    conn = await connect(database_url())
    try:
        return await work(conn)
    finally:
        await conn.close()


def _set_deleted(reference: str, deleted: bool) -> None:
    async def work(conn: asyncpg.Connection) -> asyncpg.Record | None:
        async with conn.transaction():
            found = await leads.find_lead(conn, reference, include_deleted=True)
            return await leads.mark_deleted(conn, found["id"], deleted) if found else None

    row = asyncio.run(_with_conn(work))
    if row is None:
        raise click.ClickException(f"there is no lead {reference!r}")
    what = "deleted (hidden; its events are kept)" if deleted else "restored"
    click.echo(f"lead {row['id']} ({row['airtable_record_id'] or 'no Airtable id'}) {what}")


@leads_group.command("delete")
@click.argument("reference")
def delete(reference: str) -> None:
    """Soft-delete a lead (UUID or rec…): hidden from lookups, its history kept."""
    _set_deleted(reference, True)


@leads_group.command("restore")
@click.argument("reference")
def restore(reference: str) -> None:
    """Bring back a soft-deleted lead."""
    _set_deleted(reference, False)


@leads_group.command("purge")
@click.argument("reference")
@click.option("--yes", is_flag=True, help="Really delete; without it, only say what would go.")
def purge(reference: str, yes: bool) -> None:
    """Delete a lead and its whole history for good (says how many events go)."""

    async def count(conn: asyncpg.Connection) -> tuple[str, int] | None:
        found = await leads.find_lead(conn, reference, include_deleted=True)
        if found is None:
            return None
        return str(found["id"]), await lead_saving.count_history(conn, found["id"])

    if not yes:
        found = asyncio.run(_with_conn(count))
        if found is None:
            raise click.ClickException(f"there is no lead {reference!r}")
        click.echo(
            f"purging lead {found[0]} would delete it and its {found[1]:,} event(s) for good; "
            "run again with --yes to do it"
        )
        return

    async def work(conn: asyncpg.Connection) -> lead_saving.Purged | None:
        return await lead_saving.purge(conn, reference)

    purged = asyncio.run(_with_conn(work))
    if purged is None:
        raise click.ClickException(f"there is no lead {reference!r}")
    click.echo(f"purged lead {purged.lead['id']} and its {purged.events:,} event(s)")
