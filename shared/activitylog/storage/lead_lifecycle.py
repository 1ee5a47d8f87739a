"""A lead's identity and life across tables: upserts that adopt the portal's UUID or merge two
leads (their events and counters follow), and the purge that says what it deleted.

Every lead write path (the PUT, the bulk PUT, the sync, the CSV import) comes through
`save_leads`, in the caller's transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import asyncpg

from activitylog.analytics import keeping
from activitylog.counters.rollups import CountedEvent, increments
from activitylog.leads.identity import Action, Known, plan
from activitylog.leads.records import DETAIL_FIELDS, LeadInput
from activitylog.runtime.logs import get_logger
from activitylog.storage import event_counts, leads
from activitylog.storage.activity_log import writes as activity_writes
from activitylog.storage.leads import DetailRow
from activitylog.storage.unit_of_work import move_history

log = get_logger("activitylog.leads")

_NAMES = frozenset({"first_name", "last_name", "email"})


class Outcome(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"  # already as sent
    STUB_FILLED = "stub_filled"  # a stub made from events got its details
    MERGED = "merged"
    CONFLICT = "conflict"  # the UUID belongs to another Airtable id: nothing changed
    DUPLICATE = "duplicate"  # an earlier item of the same batch names this lead


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
    results: list[Saved | None] = [None] * len(items)
    seen_ids: set[uuid.UUID] = set()
    seen_airtable: set[str] = set()
    todo: list[int] = []
    for index, item in enumerate(items):
        unknown = set(item.details) - set(DETAIL_FIELDS)
        if unknown:
            raise ValueError(f"not lead detail fields: {sorted(unknown)}")
        if item.lead_id is None and item.airtable_id is None:
            raise ValueError("a lead is named by its id, its Airtable id, or both")
        if item.lead_id in seen_ids or item.airtable_id in seen_airtable:
            results[index] = Saved(
                Outcome.DUPLICATE, message="an earlier item of this batch names the same lead"
            )
            continue
        if item.lead_id is not None:
            seen_ids.add(item.lead_id)
        if item.airtable_id is not None:
            seen_airtable.add(item.airtable_id)
        todo.append(index)
    # Each round settles at least its first item, unless a concurrent writer created a lead
    # it was about to insert; the bound is only a guard against a livelock.
    for _ in range(len(todo) + 10):
        if not todo:
            break
        todo = await _round(conn, items, todo, results)
    if todo:
        raise RuntimeError("lead upserts kept colliding with concurrent writers")
    return [r for r in results if r is not None]


@dataclass(slots=True)
class _Planned:
    index: int
    action: Action
    target: uuid.UUID | None  # the lead id after this upsert (None: made on insert)
    absorbed: uuid.UUID | None = None
    adopted_from: uuid.UUID | None = None
    was_stub: bool = False
    old_clients: tuple[uuid.UUID | None, ...] = ()


async def _round(
    conn: asyncpg.Connection,
    items: Sequence[LeadInput],
    todo: list[int],
    results: list[Saved | None],
) -> list[int]:
    found = await leads.lock_identities(
        conn,
        [i for i in (items[n].lead_id for n in todo) if i is not None],
        [a for a in (items[n].airtable_id for n in todo) if a is not None],
    )
    by_id = {r["id"]: r for r in found}
    by_airtable = {r["airtable_record_id"]: r for r in found if r["airtable_record_id"]}
    touched: set[uuid.UUID] = set()
    later: list[int] = []
    planned: list[_Planned] = []
    for n in todo:
        item = items[n]
        a = by_airtable.get(item.airtable_id) if item.airtable_id else None
        b = by_id.get(item.lead_id) if item.lead_id else None
        rows = [r for r in (a, b) if r is not None]
        if touched & {r["id"] for r in rows}:
            later.append(n)  # read again after this round's changes
            continue
        touched |= {r["id"] for r in rows}
        p = plan(item.lead_id, item.airtable_id, _known(a), _known(b))
        if p.action == Action.CONFLICT:
            results[n] = Saved(Outcome.CONFLICT, message=p.message)
            continue
        # The lead's id afterwards: the portal's UUID when given (adopted or merged into).
        entry = _Planned(n, p.action, item.lead_id)
        entry.was_stub = any(r["is_stub"] for r in rows)
        entry.old_clients = tuple(r["client_id"] for r in rows)
        if p.action == Action.UPDATE:
            entry.target = p.target
        elif p.action == Action.ADOPT:
            entry.adopted_from = p.target
        elif p.action == Action.MERGE:
            entry.absorbed = p.target
        planned.append(entry)

    await leads.adopt_ids(
        conn,
        [
            (e.adopted_from, e.target, items[e.index].airtable_id)
            for e in planned
            if e.adopted_from is not None and e.target is not None
        ],
    )
    moved: dict[int, int] = {}
    for e in planned:
        if e.action == Action.MERGE and e.absorbed is not None and e.target is not None:
            await keeping.merge(conn, e.target, e.absorbed)  # before its facts move
            moved[e.index] = await leads.repoint(conn, e.absorbed, e.target)
            await leads.absorb(conn, e.target, e.absorbed)
            log.info(
                "leads merged",
                lead_id=str(e.target),
                absorbed=str(e.absorbed),
                airtable_id=items[e.index].airtable_id,
                events_moved=moved[e.index],
            )

    inserts = [e for e in planned if e.action == Action.INSERT]
    made = await leads.insert_leads(conn, [_detail_row(items[e.index], e.target) for e in inserts])
    made_ids = {r["id"] for r in made}
    made_by_airtable = {r["airtable_record_id"]: r["id"] for r in made}
    for e in inserts:
        item = items[e.index]
        e.target = item.lead_id if item.lead_id in made_ids else None
        if e.target is None and item.airtable_id is not None and item.lead_id is None:
            e.target = made_by_airtable.get(item.airtable_id)
        if e.target is None:
            later.append(e.index)  # created meanwhile by another writer: plan it again
    planned = [e for e in planned if e.target is not None]

    changed = [e for e in planned if e.action != Action.INSERT]
    written = await leads.update_details(
        conn, [_detail_row(items[e.index], e.target) for e in changed]
    )
    final = await leads.fetch_leads(conn, [e.target for e in planned if e.target])

    # A lead's events are its client's: give them the client the lead has now wherever that
    # differs from what a lead involved had (moved, filled in, or merged).
    owners = {
        e.target: final[e.target]["client_id"]
        for e in changed
        if e.target is not None and any(c != final[e.target]["client_id"] for c in e.old_clients)
    }
    await move_history(conn, owners)

    for e in planned:
        assert e.target is not None
        item = items[e.index]
        results[e.index] = Saved(
            _outcome(e, item, e.target in written),
            final[e.target],
            adopted=e.adopted_from is not None,
            absorbed=e.absorbed,
            events_moved=moved.get(e.index, 0),
        )
    return sorted(later)


def _known(row: asyncpg.Record | None) -> Known | None:
    return None if row is None else Known(row["id"], row["airtable_record_id"])


def _outcome(entry: _Planned, item: LeadInput, written: bool) -> Outcome:
    if entry.action == Action.INSERT:
        return Outcome.CREATED
    if entry.action == Action.MERGE:
        return Outcome.MERGED
    if entry.was_stub and any(item.details.get(f) for f in _NAMES):
        return Outcome.STUB_FILLED
    if entry.action == Action.UPDATE and not written:
        return Outcome.UNCHANGED
    return Outcome.UPDATED


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
        await leads.lock_identities(conn, [lead["id"]], [])
        await keeping.forget(conn, [lead["id"]])
        gone = await activity_writes.delete_for_lead(conn, lead["id"])
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
        ]
        await event_counts.add(conn, {k: -n for k, n in increments(counted).items()})
        await leads.delete_lead(conn, lead["id"])
    log.info("lead purged", lead_id=str(lead["id"]), events=len(gone))
    return Purged(lead, len(gone))
