"""Keeps the analytics facts and counts current: the write path notes what it stored
(`enqueue`, one cheap insert in its transaction) and the retry service folds the notes in
(`drain`), so the analytics cost ingest nothing beyond the note."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable

import asyncpg

from activitylog.analytics.counting import CountKey, contributions, delta, needs_every_campaign
from activitylog.analytics.rules import (
    COUNTED,
    NO_CAMPAIGN,
    AnalyticsEvent,
    Facts,
    analytics_event,
    merge_leads,
    update_lead,
)
from activitylog.storage import analytics, analytics_queue, leads
from activitylog.storage.activity_log import extracts
from activitylog.storage.activity_log.writes import ActivityRow


def events_of(rows: Iterable[ActivityRow]) -> list[AnalyticsEvent]:
    """The stored rows the analytics count, as they see them."""
    out = []
    for row in rows:
        event = analytics_event(
            row.lead_id, row.event_type, row.timestamp, row.source, row.metadata
        )
        if event is not None:
            out.append(event)
    return out


async def enqueue(
    conn: asyncpg.Connection, stored: Iterable[ActivityRow], moved: Iterable[uuid.UUID] = ()
) -> None:
    """Note, in the caller's transaction, the newly stored rows the analytics count and the
    leads whose client changed (all their campaigns are counted again under it)."""
    entries: list[tuple[uuid.UUID, uuid.UUID | None]] = [
        (row.lead_id, row.id) for row in stored if row.event_type in COUNTED
    ]
    entries += [(lead_id, None) for lead_id in sorted(set(moved))]
    await analytics_queue.add(conn, entries)


async def drain(conn: asyncpg.Connection, limit: int = 500) -> int:
    """Fold up to `limit` notes into the facts and counts, in one transaction that also
    deletes them (so each is folded exactly once); returns how many were taken.

    Holds the rebuild lock shared, so a rebuild (which clears the notes) never interleaves.
    """
    async with conn.transaction():
        if not await analytics.try_lock_for_keeping(conn):
            return 0
        taken = await analytics_queue.take(conn, limit)
        if not taken:
            return 0
        rows = await extracts.analytics_rows(conn, [e for _, e in taken if e is not None])
        events = [
            e
            for row in rows
            if (
                e := analytics_event(
                    row["lead_id"],
                    row["event_type"],
                    row["timestamp"],
                    row["source"],
                    row["metadata"],
                )
            )
            is not None
        ]
        whole = {lead for lead, event in taken if event is None}
        # A lead gone since (purged, merged into another) has nothing left to count.
        owners = {
            lead_id: row["client_id"]
            for lead_id, row in (await leads.fetch_leads(conn, sorted(whole))).items()
        } | {row["lead_id"]: row["client_id"] for row in rows}
        await record(conn, events, owners, moved=whole & owners.keys())
        return len(taken)


async def drain_all(conn: asyncpg.Connection, limit: int = 500) -> int:
    """Fold every note there is (tests, `demo`, and before reading at once); returns how many."""
    total = 0
    while taken := await drain(conn, limit):
        total += taken
    return total


async def record(
    conn: asyncpg.Connection,
    events: Iterable[AnalyticsEvent],
    owners: dict[uuid.UUID, uuid.UUID | None],
    *,
    moved: Iterable[uuid.UUID] = (),
) -> None:
    """Fold newly stored `events` into their leads' facts, each lead in `owners` under that
    client (every event's lead must be in it; `moved`: leads whose client may have changed).
    The counts move by the difference.

    Only the facts the events touch are read, unless a lead moved or an event reaches every
    campaign of its lead (a reply naming no campaign): then all of that lead's.
    """
    events = list(events)
    by_lead: dict[uuid.UUID, list[AnalyticsEvent]] = {}
    for e in events:
        by_lead.setdefault(e.lead_id, []).append(e)
    whole = set(moved) | {e.lead_id for e in events if needs_every_campaign(e)}
    if not by_lead and not whole:
        return
    pairs = {
        (lead_id, campaign)
        for lead_id, lead_events in by_lead.items()
        if lead_id not in whole
        for campaign in {NO_CAMPAIGN, *(e.campaign for e in lead_events)}
    }
    await analytics.lock_leads(conn, by_lead.keys() | whole)
    stored = await analytics.fetch_facts(conn, sorted(whole), sorted(pairs))
    changed: list[Facts] = []
    counts: Counter[CountKey] = Counter()
    for lead_id in by_lead.keys() | whole:
        before = stored.get(lead_id, [])
        new_events = by_lead.get(lead_id, [])
        if not before and not new_events:
            continue
        after = update_lead(before, owners[lead_id], new_events)
        if after == before:
            continue
        changed.extend(f for f in after if f not in before)
        counts.update(delta(before, after))
    await analytics.save_facts(conn, changed)
    await analytics.add_counts(conn, {k: n for k, n in counts.items() if n})


async def forget(conn: asyncpg.Connection, lead_ids: list[uuid.UUID]) -> None:
    """Take leads out of the analytics (their events are being deleted for good)."""
    await analytics.lock_leads(conn, lead_ids)
    stored = await analytics.fetch_facts(conn, sorted(set(lead_ids)), [])
    counts: Counter[CountKey] = Counter()
    for facts in stored.values():
        counts.subtract(contributions(facts))
    await analytics.delete_facts(conn, lead_ids)
    await analytics.add_counts(conn, {k: n for k, n in counts.items() if n})


async def merge(conn: asyncpg.Connection, survivor: uuid.UUID, absorbed: uuid.UUID) -> None:
    """Count the absorbed lead's events as the survivor's (two leads merged into one); call
    it before the absorbed lead's rows move, in the same transaction."""
    await analytics.lock_leads(conn, [survivor, absorbed])
    stored = await analytics.fetch_facts(conn, sorted({survivor, absorbed}), [])
    kept, gone = stored.get(survivor, []), stored.get(absorbed, [])
    if not gone:
        return
    after = merge_leads(survivor, kept, gone)
    counts = Counter(contributions(after))
    counts.subtract(contributions(kept))
    counts.subtract(contributions(gone))
    await analytics.delete_facts(conn, [absorbed])
    await analytics.save_facts(conn, after)
    await analytics.add_counts(conn, {k: n for k, n in counts.items() if n})
