"""`activitylog analytics rebuild`: every analytics fact and count, recomputed from the log."""

from __future__ import annotations

import asyncio
import time

import click

from activitylog.runtime.db import connect
from activitylog.storage import analytics_rebuild
from activitylog_cli.support import FORGET_ARCHIVED, database_url, refuse_if_archived


@click.group()
def analytics() -> None:
    """The analytics facts and counts the analytics page and API read."""


@analytics.command("rebuild")
@FORGET_ARCHIVED
def rebuild(forget_archived: bool) -> None:
    """Recompute every fact and count from the log (writers wait meanwhile)."""

    async def run() -> int:
        conn = await connect(database_url())
        try:
            await refuse_if_archived(conn, forget_archived)
            return await analytics_rebuild.rebuild(conn)
        finally:
            await conn.close()

    started = time.perf_counter()
    facts = asyncio.run(run())
    click.echo(
        f"analytics rebuilt: {facts:,} lead-campaign facts in {time.perf_counter() - started:.1f} s"
    )
