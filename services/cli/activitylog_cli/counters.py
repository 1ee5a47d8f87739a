"""`activitylog counters rebuild|compact`: the event counters, recounted or compacted now."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import click

from activitylog.domain.counters.rollups import compaction_cutoffs
from activitylog.runtime.db import connect
from activitylog.storage import event_counts
from activitylog_cli.support import FORGET_ARCHIVED, database_url, refuse_if_archived


@click.group()
def counters() -> None:
    """The event counters that health, the dashboard and the count tabs read."""


@counters.command("rebuild")
@FORGET_ARCHIVED
def rebuild(forget_archived: bool) -> None:
    """Recount every counter from the log (writers wait meanwhile), then compact."""

    async def run() -> int:
        conn = await connect(database_url())
        try:
            await refuse_if_archived(conn, forget_archived)
            return await event_counts.rebuild(conn, compaction_cutoffs(datetime.now(UTC)))
        finally:
            await conn.close()

    started = time.perf_counter()
    events = asyncio.run(run())
    click.echo(f"counters rebuilt from {events:,} events in {time.perf_counter() - started:.1f} s")


@counters.command("compact")
def compact() -> None:
    """Drop arrival minutes older than 2 days; roll event hours older than 3 days and arrival
    hours older than 29 days into days."""

    async def run() -> event_counts.Compacted:
        conn = await connect(database_url())
        try:
            return await event_counts.compact(conn, compaction_cutoffs(datetime.now(UTC)))
        finally:
            await conn.close()

    done = asyncio.run(run())
    if done.skipped:
        click.echo("another process is compacting; nothing done")
    else:
        click.echo(
            f"compacted: {done.minutes_dropped:,} minute counters dropped, "
            f"{done.hours_rolled:,} hour counters rolled into days, "
            f"{done.days_rolled:,} day counters into months"
        )
