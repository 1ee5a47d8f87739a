"""One round of lead upserts decided in pure code: each item's action on the leads it
names (domain.leads.identity), which items wait for the next round, and what each upsert
answers. The use case (use_cases.leads.saving) reads, calls these, and writes."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from activitylog.domain.leads.identity import Action, Known, plan
from activitylog.domain.leads.records import LeadInput

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
class StoredIdentity:
    """A stored lead as an upsert meets it (read locked)."""

    id: uuid.UUID
    airtable_id: str | None
    client_id: uuid.UUID | None
    is_stub: bool


@dataclass(slots=True)
class Planned:
    """One item's upsert: its action and the lead ids it involves."""

    index: int
    action: Action
    target: uuid.UUID | None  # the lead id after this upsert (None: made on insert)
    absorbed: uuid.UUID | None = None
    adopted_from: uuid.UUID | None = None
    was_stub: bool = False
    old_clients: tuple[uuid.UUID | None, ...] = ()


@dataclass(slots=True)
class Round:
    planned: list[Planned] = field(default_factory=list)
    later: list[int] = field(default_factory=list)  # read again after this round's changes
    conflicts: dict[int, str] = field(default_factory=dict)  # item → why (a 409)


def first_pass(items: Sequence[LeadInput]) -> tuple[list[int], dict[int, str]]:
    """The items to upsert, and those naming a lead an earlier item names (duplicates)."""
    seen_ids: set[uuid.UUID] = set()
    seen_airtable: set[str] = set()
    todo: list[int] = []
    duplicates: dict[int, str] = {}
    for index, item in enumerate(items):
        if item.lead_id is None and item.airtable_id is None:
            raise ValueError("a lead is named by its id, its Airtable id, or both")
        if item.lead_id in seen_ids or item.airtable_id in seen_airtable:
            duplicates[index] = "an earlier item of this batch names the same lead"
            continue
        if item.lead_id is not None:
            seen_ids.add(item.lead_id)
        if item.airtable_id is not None:
            seen_airtable.add(item.airtable_id)
        todo.append(index)
    return todo, duplicates


def plan_round(
    items: Sequence[LeadInput], todo: Sequence[int], found: Sequence[StoredIdentity]
) -> Round:
    """Each item's action; an item touching a lead an earlier one in the round touches
    waits for the next round (which reads the leads again)."""
    by_id = {r.id: r for r in found}
    by_airtable = {r.airtable_id: r for r in found if r.airtable_id}
    touched: set[uuid.UUID] = set()
    out = Round()
    for n in todo:
        item = items[n]
        a = by_airtable.get(item.airtable_id) if item.airtable_id else None
        b = by_id.get(item.lead_id) if item.lead_id else None
        rows = [r for r in (a, b) if r is not None]
        if touched & {r.id for r in rows}:
            out.later.append(n)
            continue
        touched |= {r.id for r in rows}
        p = plan(item.lead_id, item.airtable_id, _known(a), _known(b))
        if p.action == Action.CONFLICT:
            out.conflicts[n] = p.message
            continue
        # The lead's id afterwards: the portal's UUID when given (adopted or merged into).
        entry = Planned(n, p.action, item.lead_id)
        entry.was_stub = any(r.is_stub for r in rows)
        entry.old_clients = tuple(r.client_id for r in rows)
        if p.action == Action.UPDATE:
            entry.target = p.target
        elif p.action == Action.ADOPT:
            entry.adopted_from = p.target
        elif p.action == Action.MERGE:
            entry.absorbed = p.target
        out.planned.append(entry)
    return out


def _known(row: StoredIdentity | None) -> Known | None:
    return None if row is None else Known(row.id, row.airtable_id)


def inserted_ids(
    items: Sequence[LeadInput],
    inserts: Sequence[Planned],
    made_ids: set[uuid.UUID],
    made_by_airtable: Mapping[str, uuid.UUID],
) -> list[int]:
    """Give each insert the id it was made with; returns the items another writer created
    meanwhile (planned again next round)."""
    again = []
    for e in inserts:
        item = items[e.index]
        e.target = item.lead_id if item.lead_id in made_ids else None
        if e.target is None and item.airtable_id is not None and item.lead_id is None:
            e.target = made_by_airtable.get(item.airtable_id)
        if e.target is None:
            again.append(e.index)
    return again


def owners_to_move(
    changed: Sequence[Planned], clients_now: Mapping[uuid.UUID, uuid.UUID | None]
) -> dict[uuid.UUID, uuid.UUID | None]:
    """A lead's events are its client's: the leads whose client now differs from what a
    lead involved had (moved, filled in, or merged) → that client."""
    return {
        e.target: clients_now[e.target]
        for e in changed
        if e.target is not None and any(c != clients_now[e.target] for c in e.old_clients)
    }


def outcome(entry: Planned, item: LeadInput, written: bool) -> Outcome:
    """What the upsert answers: created, merged, stub filled, unchanged or updated."""
    if entry.action == Action.INSERT:
        return Outcome.CREATED
    if entry.action == Action.MERGE:
        return Outcome.MERGED
    if entry.was_stub and any(item.details.get(f) for f in _NAMES):
        return Outcome.STUB_FILLED
    if entry.action == Action.UPDATE and not written:
        return Outcome.UNCHANGED
    return Outcome.UPDATED
