"""A lead's identity and life across tables: upserts that adopt the portal's UUID or merge two
leads (their events and counters follow), and the purge that says what it deleted.

Every lead write path (the PUT, the bulk PUT, the sync, the CSV import) comes through
`save_leads`, in the caller's transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from activitylog.domain.counters.rollups import CountedEvent, increments
from activitylog.domain.followers import LogPlace, taken
from activitylog.domain.leads.identity import Action
from activitylog.domain.leads.records import DETAIL_FIELDS, LeadInput
from activitylog.domain.leads.saving_plan import (
    Outcome,
    Planned,
    first_pass,
    inserted_ids,
    outcome,
    owners_to_move,
    plan_round,
)
from activitylog.domain.message_links import lead_keys
from activitylog.runtime.logs import get_logger
from activitylog.storage import event_counts, lead_identities, leads, log_followers, retry_queue
from activitylog.storage.activity_log import writes as activity_writes
from activitylog.storage.leads import DetailRow
from activitylog.storage.log_followers import Follower
from activitylog.use_cases.analytics import keeping
from activitylog.use_cases.store_batch import move_history

log = get_logger("activitylog.leads")


@dataclass(frozen=True, slots=True)
class Saved:
    """What one upsert did; `row` is the lead as stored afterwards."""

    outcome: Outcome
    row: asyncpg.Record | None = None
    adopted: bool = False  # the lead took the portal's UUID as its id
    absorbed: uuid.UUID | None = None  # the lead a merge folded into this one
    events_moved: int = 0  # by a merge
    message: str = ""

    @property
    def stored(self) -> bool:
        return self.outcome not in (Outcome.CONFLICT, Outcome.DUPLICATE)


async def save_leads(conn: asyncpg.Connection, items: Sequence[LeadInput]) -> list[Saved]:
    """Upsert every item (in the caller's transaction); one answer per item, in order.

    Idempotent: the same items again change no identity and set the same details. Items
    touching a lead an earlier item of this call changed wait for the next round, which
    reads the leads again, so the answer is the one item-by-item upserts would give.
    """
    for item in items:
        unknown = set(item.details) - set(DETAIL_FIELDS)
        if unknown:
            raise ValueError(f"not lead detail fields: {sorted(unknown)}")
    # A merge or a move changes rows the followers may have taken in: they wait for this
    # transaction. Held before any lead is locked, the order every writer takes them in (a
    # follower holding its cursor may wait for a lead's key, never the other way round).
    await log_followers.hold(conn, Follower.ANALYTICS, Follower.COUNTERS)
    todo, duplicates = first_pass(items)
    results: list[Saved | None] = [None] * len(items)
    for index, why in duplicates.items():
        results[index] = Saved(Outcome.DUPLICATE, message=why)
    # Each round settles at least its first item, unless a concurrent writer created a lead
    # it was about to insert; the bound is only a guard against a livelock.
    for _ in range(len(todo) + 10):
        if not todo:
            break
        todo = await _round(conn, items, todo, results)
    if todo:
        raise RuntimeError("lead upserts kept colliding with concurrent writers")
    saved = [r for r in results if r is not None]
    # Events parked for want of these leads (by id, phone or email) are tried again now.
    await retry_queue.wake(
        conn,
        [
            key
            for r in saved
            if r.row is not None
            for key in lead_keys(r.row["id"], r.row["phone"], r.row["email"])
        ],
    )
    return saved


async def _round(
    conn: asyncpg.Connection,
    items: Sequence[LeadInput],
    todo: list[int],
    results: list[Saved | None],
) -> list[int]:
    """Read the leads the items name (locked), plan, then adopt, merge, insert, update and
    move histories; returns the items for the next round."""
    found = await lead_identities.lock_identities(
        conn,
        [i for i in (items[n].lead_id for n in todo) if i is not None],
        [a for a in (items[n].airtable_id for n in todo) if a is not None],
    )
    step = plan_round(items, todo, found)
    for n, why in step.conflicts.items():
        results[n] = Saved(Outcome.CONFLICT, message=why)
    await lead_identities.adopt_ids(
        conn,
        [
            (e.adopted_from, e.target, items[e.index].airtable_id)
            for e in step.planned
            if e.adopted_from is not None and e.target is not None
        ],
    )
    moved = await _merge(conn, items, step.planned)
    inserts = [e for e in step.planned if e.action == Action.INSERT]
    made = await leads.insert_leads(conn, [_detail_row(items[e.index], e.target) for e in inserts])
    step.later += inserted_ids(
        items,
        inserts,
        {r["id"] for r in made},
        {r["airtable_record_id"]: r["id"] for r in made},
    )
    planned = [e for e in step.planned if e.target is not None]
    changed = [e for e in planned if e.action != Action.INSERT]
    written = await leads.update_details(
        conn, [_detail_row(items[e.index], e.target) for e in changed]
    )
    final = await leads.fetch_leads(conn, [e.target for e in planned if e.target])
    await move_history(conn, owners_to_move(changed, {i: r["client_id"] for i, r in final.items()}))
    for e in planned:
        assert e.target is not None
        results[e.index] = Saved(
            outcome(e, items[e.index], e.target in written),
            final[e.target],
            adopted=e.adopted_from is not None,
            absorbed=e.absorbed,
            events_moved=moved.get(e.index, 0),
        )
    return sorted(step.later)


async def _merge(
    conn: asyncpg.Connection, items: Sequence[LeadInput], planned: list[Planned]
) -> dict[int, int]:
    """Fold each absorbed lead into its survivor (analytics, references, details); returns
    item → events moved."""
    moved: dict[int, int] = {}
    for e in planned:
        if e.action == Action.MERGE and e.absorbed is not None and e.target is not None:
            await keeping.merge(conn, e.target, e.absorbed)  # before its facts move
            moved[e.index] = await lead_identities.repoint(conn, e.absorbed, e.target)
            await lead_identities.absorb(conn, e.target, e.absorbed)
            log.info(
                "leads merged",
                lead_id=str(e.target),
                absorbed=str(e.absorbed),
                airtable_id=items[e.index].airtable_id,
                events_moved=moved[e.index],
            )
    return moved


def _detail_row(item: LeadInput, lead_id: uuid.UUID | None) -> DetailRow:
    return DetailRow(lead_id, item.airtable_id, frozenset(item.details), item.details)


async def upsert_details(
    conn: asyncpg.Connection,
    airtable_id: str,
    details: dict[str, Any],
    *,
    lead_id: uuid.UUID | None = None,
) -> tuple[asyncpg.Record, bool]:
    """One lead's upsert by Airtable id (and the portal's UUID); returns the row and whether
    it was created. Raises LeadConflict when the UUID belongs to another Airtable id."""
    (saved,) = await save_leads(conn, [LeadInput(lead_id, airtable_id, details)])
    if saved.row is None:
        raise LeadConflict(saved.message)
    return saved.row, saved.outcome == Outcome.CREATED


class LeadConflict(Exception):
    """The portal's UUID already belongs to a lead with another Airtable id."""


@dataclass(frozen=True, slots=True)
class Purged:
    lead: asyncpg.Record
    events: int


async def count_history(conn: asyncpg.Connection, lead_id: uuid.UUID) -> int:
    """How many events a purge of the lead would delete."""
    return await activity_writes.count_for_lead(conn, lead_id)


async def purge(conn: asyncpg.Connection, reference: str) -> Purged | None:
    """Delete the lead and every event of it for good, counters included; None if there is
    no such lead (deleted or not). One transaction."""
    async with conn.transaction():
        lead = await leads.find_lead(conn, reference, include_deleted=True)
        if lead is None:
            return None
        # Before the lead's lock, as in save_leads; the followers wait for the purge.
        cursors = await log_followers.hold(conn, Follower.ANALYTICS, Follower.COUNTERS)
        await lead_identities.lock_identities(conn, [lead["id"]], [])
        await keeping.forget(conn, [lead["id"]])
        gone = await activity_writes.delete_for_lead(conn, lead["id"])
        # Only what the counters have taken in is in them; the rest just goes.
        counted = [
            CountedEvent(
                r["event_type"],
                r["event_category"],
                r["source"],
                r["client_id"],
                r["timestamp"],
                r["created_at"],
            )
            for r in gone
            if taken(
                LogPlace(r["tx"], r["position"]) if r["tx"] is not None else None,
                cursors[Follower.COUNTERS],
            )
        ]
        await event_counts.add(conn, {k: -n for k, n in increments(counted).items()})
        await leads.delete_lead(conn, lead["id"])
    log.info("lead purged", lead_id=str(lead["id"]), events=len(gone))
    return Purged(lead, len(gone))
