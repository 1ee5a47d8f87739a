"""`activitylog demo [--remove]`: load (or remove) a synthetic history for a first look."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import click

from activitylog.contract.events import parse_event
from activitylog.contract.identity import AcceptedEvent
from activitylog.domain.counters.rollups import compaction_cutoffs
from activitylog.runtime.db import connect
from activitylog.storage import analytics_rebuild, event_counts, leads
from activitylog.storage.activity_log import writes as activity_writes
from activitylog.storage.leads import DetailRow
from activitylog.use_cases.analytics import demo as demo_data
from activitylog.use_cases.analytics import keeping
from activitylog.use_cases.store_batch import store_batch
from activitylog_cli.support import database_url

BATCH = 1_000


async def load(url: str, lead_count: int, now: datetime) -> int:
    """Insert the demo leads, then their events through the write path; returns events stored."""
    conn = await connect(url)
    try:
        people = demo_data.leads(lead_count)
        await leads.insert_leads(
            conn,
            [
                DetailRow(
                    None,
                    p.airtable_id,
                    frozenset(leads.LEAD_DETAIL_FIELDS),
                    {
                        "client_id": p.client_id,
                        "first_name": p.first_name,
                        "last_name": p.last_name,
                        "phone": p.phone,
                        "status": "demo",
                    },
                )
                for p in people
            ],
        )
        batch: list[AcceptedEvent] = []
        stored = 0
        for n, person in enumerate(people):
            for body in demo_data.history(person, n, now):
                event = parse_event(body)
                batch.append(AcceptedEvent.accept(event, received_at=now, origin="demo", raw=""))
            if len(batch) >= BATCH or n == len(people) - 1:
                stored += len((await store_batch(conn, batch)).inserted)
                batch = []
        # Folded now rather than by the retry service, so the analytics show it at once.
        await keeping.drain_all(conn)
        return stored
    finally:
        await conn.close()


async def remove(url: str) -> tuple[int, int]:
    """Delete the demo leads and their events, then recount counters and analytics."""
    conn = await connect(url)
    try:
        async with conn.transaction():
            ids = await leads.ids_with_prefix(conn, demo_data.DEMO_LEAD_PREFIX)
            events = await activity_writes.delete_of_leads(conn, ids)
            removed = await leads.delete_leads(conn, ids)
        # What the write path added for them is recounted from what is left.
        await event_counts.rebuild(conn, compaction_cutoffs(datetime.now(UTC)))
        await analytics_rebuild.rebuild(conn)
        return removed, events
    finally:
        await conn.close()


@click.command()
@click.option("--leads", "lead_count", default=3_000, show_default=True, help="how many leads")
@click.option("--remove", "removing", is_flag=True, help="remove the demo history instead")
def demo(lead_count: int, removing: bool) -> None:
    """Load a synthetic 90-day history (leads `recDEMO…`, source `system:demo`), or remove it."""
    started = time.perf_counter()
    if removing:
        removed, events = asyncio.run(remove(database_url()))
        click.echo(f"demo removed: {removed:,} leads and {events:,} events")
        return
    stored = asyncio.run(load(database_url(), lead_count, datetime.now(UTC)))
    click.echo(
        f"demo loaded: {stored:,} events for {lead_count:,} leads in "
        f"{time.perf_counter() - started:.1f} s (`activitylog demo --remove` removes it)"
    )
