"""Keeps the analytics facts and counts current: the retry service follows the log (`drain`:
the rows stored since it last looked, in the order of activitylog.domain.followers) and
folds them in, so the analytics cost the write path nothing. What following the log cannot
see is noted (`note_leads`, rare): a lead whose client changed, a lead to count again."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Iterable

import asyncpg

from activitylog.domain.analytics.counting import (
    CountKey,
    contributions,
    delta,
    needs_every_campaign,
)
from activitylog.domain.analytics.rules import (
    COUNTED,
    NO_CAMPAIGN,
    AnalyticsEvent,
    Facts,
    analytics_event,
    merge_leads,
    update_lead,
)
from activitylog.domain.followers import LogPlace
from activitylog.domain.records import ActivityRow
from activitylog.storage import analytics, analytics_queue, leads, log_followers
from activitylog.storage.activity_log import extracts
from activitylog.storage.log_followers import Follower


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


async def note_leads(
    conn: asyncpg.Connection,
    moved: Iterable[uuid.UUID] = (),
    recount: Iterable[uuid.UUID] = (),
) -> None:
    """Note, in the caller's transaction, the leads whose client changed (all their
    campaigns are counted again under it) and the leads to count again from the log (a fact
    learnt its campaign after it was counted)."""
    await analytics_queue.add(conn, [(lead_id, None) for lead_id in sorted(set(moved))])
    await analytics_queue.add_recounts(conn, list(recount))


async def drain(conn: asyncpg.Connection, limit: int = 500) -> int:
    """One step: fold up to `limit` rows after the cursor, then up to `limit` notes, in one
    transaction that also moves the cursor and deletes the notes (so each row and note is
    folded exactly once); returns how many were taken (0: nothing to do, or another replica
    is taking its turn).

    Holds the rebuild lock shared, so a rebuild (which resets the cursor and clears the
    notes) never interleaves.
    """
    async with conn.transaction():
        if not await analytics.try_lock_for_keeping(conn):
            return 0
        cursor = await log_followers.take_turn(conn, Follower.ANALYTICS)
        if cursor is None:
            return 0
        followed = await extracts.followed_rows(conn, cursor, limit, sorted(COUNTED))
        if followed:
            events = _events(r for r in followed if r["event_type"] in COUNTED)
            await record(conn, events, {r["lead_id"]: r["client_id"] for r in followed})
            last = followed[-1]
            cursor = LogPlace(last["tx"], last["position"])
            arrived = max(r["created_at"] for r in followed)
            await log_followers.advance(conn, Follower.ANALYTICS, cursor, arrived)
        return len(followed) + await _fold_notes(conn, cursor, limit)


async def _fold_notes(conn: asyncpg.Connection, cursor: LogPlace, limit: int) -> int:
    """Fold up to `limit` notes: leads moved to another client, leads to count again, and
    events noted by the write path before the analytics followed the log (migration 0017)."""
    taken = await analytics_queue.take(conn, limit)
    if not taken:
        return 0
    again = sorted({lead for lead, _, recount in taken if recount})
    if again:
        await _recount(conn, again, cursor)
    notes = [(lead, event) for lead, event, _ in taken if lead not in again]
    rows = await extracts.analytics_rows(conn, [e for _, e in notes if e is not None])
    events = _events(rows)
    whole = {lead for lead, event in notes if event is None}
    # A lead gone since (purged, merged into another) has nothing left to count.
    owners = {
        lead_id: row["client_id"]
        for lead_id, row in (await leads.fetch_leads(conn, sorted(whole))).items()
    } | {row["lead_id"]: row["client_id"] for row in rows}
    await record(conn, events, owners, moved=whole & owners.keys())
    return len(taken)


def _events(rows: Iterable[asyncpg.Record]) -> list[AnalyticsEvent]:
    """The stored rows the analytics count, as they see them."""
    return [
        e
        for row in rows
        if (
            e := analytics_event(
                row["lead_id"], row["event_type"], row["timestamp"], row["source"], row["metadata"]
            )
        )
        is not None
    ]


async def _recount(conn: asyncpg.Connection, lead_ids: list[uuid.UUID], cursor: LogPlace) -> None:
    """Count these leads again from the rows taken in (up to `cursor`): exact where folding
    cannot be (an event that changed campaign after it was counted). Rows after the cursor
    are folded when the follower reaches them.

    Their other notes go too; an old event whose note is still there (committed after that
    delete) is left out and folded by its note, so nothing is counted twice.
    """
    await analytics.lock_leads(conn, lead_ids)
    await analytics_queue.take_of_leads(conn, lead_ids)
    rows = await extracts.taken_rows_of_leads(conn, lead_ids, sorted(COUNTED), cursor)
    await forget(conn, lead_ids)
    owners = {
        lead_id: row["client_id"]
        for lead_id, row in (await leads.fetch_leads(conn, lead_ids)).items()
    }
    await record(conn, _events(rows), owners)


async def drain_all(
    conn: asyncpg.Connection,
    limit: int = 500,
    *,
    timeout: float = 60.0,  # noqa: ASYNC109 - a deadline over many steps, not one await
) -> int:
    """Fold every row stored and every note written before the call (tests, `demo`, and
    before reading at once); returns how many were taken.

    A row of a transaction that started before some transaction still running elsewhere
    waits for it to end (activitylog.domain.followers): this polls until then, failing
    after `timeout` seconds.
    """
    total = 0
    deadline = time.monotonic() + timeout
    target = await log_followers.newest_place(conn)
    while True:
        taken = await drain(conn, limit)
        total += taken
        if taken:
            continue
        cursor = (await log_followers.cursors(conn))[Follower.ANALYTICS]
        if target is None or target <= cursor:
            return total
        if time.monotonic() > deadline:
            raise TimeoutError(f"the analytics did not reach {target} (at {cursor})")
        await asyncio.sleep(0.01)


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
