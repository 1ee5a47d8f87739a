"""Stores a batch of accepted events and dead letters in one transaction.

Every path (stream, HTTP fallback, retry, backfill) comes through here. The rules (which
lead, which client, what is refused, what the leads learn) are decided by `domain.batch` in
pure code; this reads what they need and writes what they decide. The counters and the
analytics are not written here: they follow the log (use_cases.counters.following,
use_cases.analytics.keeping), except where a batch changes rows they may have taken in
already (a stub lead adopting a client moves its older events).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import asyncpg

from activitylog.contract.identity import AcceptedEvent
from activitylog.domain import batch
from activitylog.domain.counters.rollups import CounterKey, client_moves
from activitylog.domain.dead_letters import DeadLetter
from activitylog.domain.followers import taken
from activitylog.domain.records import MovedEvent
from activitylog.runtime.stages import stage
from activitylog.storage import event_counts, leads, log_followers, retry_queue
from activitylog.storage.activity_log import writes as activity_writes
from activitylog.storage.log_followers import Follower
from activitylog.use_cases.analytics import keeping


@dataclass(slots=True)
class StoreResult:
    """What a batch did: ids newly stored, ids already there, letters written."""

    inserted: set[uuid.UUID] = field(default_factory=set)
    duplicates: set[uuid.UUID] = field(default_factory=set)
    # Letters for events this batch refused: pending (their lead is not there yet) or dead
    # (their clientId contradicts their lead's client).
    refused: list[DeadLetter] = field(default_factory=list)


async def _found(conn: asyncpg.Connection, events: list[AcceptedEvent]) -> batch.Found:
    """Read the leads and sends the batch names (leads locked FOR KEY SHARE; stub leads
    created for Airtable ids not known yet)."""
    by_id = await leads.fetch_refs_by_id(
        conn, sorted({e.event.lead_id for e in events if e.event.lead_id})
    )
    by_airtable = await leads.ensure_stubs(conn, batch.stubs_wanted(events, by_id))
    found = batch.Found(by_id, by_airtable)
    phones, emails = batch.contacts_wanted(events, found)
    by_phone, by_email = await leads.refs_by_contact(conn, phones, emails)
    sends = await activity_writes.facts_by_id(conn, batch.MessageLinks(events).wanted())
    return batch.Found(by_id, by_airtable, by_phone, by_email, sends)


async def _owners(
    conn: asyncpg.Connection, placement: batch.Placement
) -> tuple[dict[uuid.UUID, uuid.UUID | None], dict[uuid.UUID, uuid.UUID]]:
    """Each placed lead's client, and the clientless leads that adopt one now."""
    owners = {ref.id: ref.client_id for _, ref in placement.placed}
    adopting = batch.adoptions(placement.placed)
    clientless = [i for i, c in owners.items() if c is None]
    if clientless:
        # Another batch may have given such a lead a client since it was read.
        owners |= await leads.lock_clients(conn, clientless, list(adopting))
        adopting = {i: c for i, c in adopting.items() if owners[i] is None}
        owners |= adopting
    return owners, adopting


async def store_batch(
    conn: asyncpg.Connection,
    events: list[AcceptedEvent],
    dead_letters: list[DeadLetter] | None = None,
    *,
    pending_delay: timedelta = timedelta(minutes=1),
) -> StoreResult:
    """Place events on their leads, insert them idempotently, advance leads, write letters:
    one commit (docs/CONTRACT.md §3, §6). The counters and the analytics follow the log."""
    async with _transaction(conn):
        with stage("lead resolution"):
            placement = batch.place(
                events,
                await _found(conn, events),
                now=datetime.now(UTC),
                pending_delay=pending_delay,
            )
            owners, adopting = await _owners(conn, placement)
            contradicting = [
                a.id for a, ref in placement.placed if batch.contradicts(a, owners[ref.id])
            ]
            # One stored before its lead moved to another client is a redelivery, not an error.
            planned = batch.rows_to_write(
                placement, owners, await activity_writes.stored_ids(conn, contradicting)
            )
        arrived_at = datetime.now(UTC)
        with stage("event insert"):
            inserted = await activity_writes.insert_rows(conn, planned.rows, arrived_at)
        done = batch.effects(planned.rows, inserted, arrived_at)
        with stage("last activity"):
            await leads.advance_last_activity(conn, done.latest, adopting)
        with stage("late reports, moves, letters"):
            recount = await _join_late_reports(conn, placement, inserted)
            # Events stored while an adopting lead had no client are its client's now too.
            await _move_events(conn, adopting)
            refused = placement.letters + planned.letters
            await retry_queue.add(conn, [*(dead_letters or ()), *refused])
        with stage("analytics notes"):
            # Leads only (rare): the stored rows reach the analytics by following the log.
            await keeping.note_leads(conn, adopting, recount=recount)
    return StoreResult(inserted, planned.duplicates | done.duplicates, refused)


@contextlib.asynccontextmanager
async def _transaction(conn: asyncpg.Connection) -> AsyncIterator[None]:
    """`conn.transaction()`, its begin and commit timed as stages (runtime.stages)."""
    tx = conn.transaction()
    with stage("begin"):
        await tx.__aenter__()
    try:
        yield
    except BaseException as exc:
        if not await tx.__aexit__(type(exc), exc, exc.__traceback__):
            raise
    else:
        with stage("commit"):
            await tx.__aexit__(None, None, None)


async def _join_late_reports(
    conn: asyncpg.Connection, placement: batch.Placement, inserted: set[uuid.UUID]
) -> set[uuid.UUID]:
    """Reports stored before their send learn its campaign; reports waiting for a send
    now stored are due at once. Returns the leads the analytics must count again."""
    sends = [a for a, _ in placement.placed if a.id in inserted]
    campaigns = placement.messages.campaigns_of_reports(sends)
    late = await activity_writes.facts_by_id(conn, sorted(campaigns))
    fills = placement.messages.campaign_fills(campaigns, late.values())
    await activity_writes.fill_campaigns(conn, fills)
    await retry_queue.wake(conn, placement.messages.arrived_keys(sends))
    return {late[i].lead_id for i in fills}


async def move_history(conn: asyncpg.Connection, owners: dict[uuid.UUID, uuid.UUID | None]) -> int:
    """Give each lead's events its client (`owners`: lead id → client), counters included;
    returns how many events moved. The caller holds the transaction and the lead locks."""
    moved = await _move_events(conn, owners)
    await keeping.note_leads(conn, owners)
    return moved


async def _move_events(conn: asyncpg.Connection, owners: dict[uuid.UUID, uuid.UUID | None]) -> int:
    """Move the events, and the counts of those the counters follower has taken in already
    (it counts the others under their new client when it reaches them)."""
    if not owners:
        return 0
    # Held until the commit: the follower cannot take in a moved row meanwhile.
    cursor = (await log_followers.hold(conn, Follower.COUNTERS))[Follower.COUNTERS]
    moved = await activity_writes.reassign_client(conn, owners)
    await event_counts.add(conn, _moves([m for m in moved if taken(m.place, cursor)]))
    return len(moved)


def _moves(moved: list[MovedEvent]) -> dict[CounterKey, int]:
    return client_moves(
        (m.timestamp, m.event_type, m.event_category, m.old_client, m.new_client) for m in moved
    )
