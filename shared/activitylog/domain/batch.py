"""How a batch of accepted events is stored, decided in pure code (docs/CONTRACT.md §6):
which lead each event lands on, which are refused and why, the rows to write, and what
the counters and leads learn from the rows that were new.

The batch store (use_cases.store_batch) reads what these functions need, calls them, and
writes what they return, in one short transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from activitylog.contract.events import ActivityEvent
from activitylog.contract.identity import AcceptedEvent
from activitylog.contract.references import phone_key
from activitylog.domain.counters.rollups import CountedEvent
from activitylog.domain.dead_letters import DeadLetter, RetryStatus
from activitylog.domain.message_links import (
    MessageLinks,
    by_contact,
    unplaced_reason,
    waiting_keys,
)
from activitylog.domain.records import ActivityRow, LeadRef, StoredFact

Stub = tuple[str, uuid.UUID | None, uuid.UUID | None]  # Airtable id, client, lead id


def stubs_wanted(events: Iterable[AcceptedEvent], known: Mapping[uuid.UUID, LeadRef]) -> list[Stub]:
    """The Airtable ids to look up (or create as stub leads) for events whose `leadId` is
    not a known lead: each with the first clientId and the first leadId its events carry
    (a stub takes the portal's UUID as its id, and is made with its client)."""
    stubs: dict[str, tuple[uuid.UUID | None, uuid.UUID | None]] = {}
    for e in events:
        airtable_id = e.event.lead_airtable_id
        if airtable_id is None or (e.event.lead_id is not None and e.event.lead_id in known):
            continue
        client, lead_id = stubs.get(airtable_id, (None, None))
        stubs[airtable_id] = (client or e.event.client_id, lead_id or e.event.lead_id)
    return [(a, c, i) for a, (c, i) in stubs.items()]


@dataclass(frozen=True, slots=True)
class Found:
    """What the store read for a batch: leads by id, Airtable id, phone key and email, and
    the stored sends its reports name."""

    by_id: Mapping[uuid.UUID, LeadRef]
    by_airtable: Mapping[str, LeadRef]
    by_phone: Mapping[str, list[LeadRef]] = field(default_factory=dict)
    by_email: Mapping[str, list[LeadRef]] = field(default_factory=dict)
    sends: Mapping[uuid.UUID, StoredFact] = field(default_factory=dict)

    def named(self, ev: ActivityEvent) -> LeadRef | None:
        """The lead the event names by id: its leadId, else its leadAirtableId."""
        ref = self.by_id.get(ev.lead_id) if ev.lead_id is not None else None
        if ref is None and ev.lead_airtable_id is not None:
            ref = self.by_airtable.get(ev.lead_airtable_id)
        return ref


def contacts_wanted(events: Iterable[AcceptedEvent], known: Found) -> tuple[list[str], list[str]]:
    """The phone keys and emails to look leads up by: those of events no id places."""
    unnamed = [e.event for e in events if known.named(e.event) is None]
    return (
        sorted({phone_key(ev.lead_phone) for ev in unnamed if ev.lead_phone}),
        sorted({ev.lead_email for ev in unnamed if ev.lead_email}),
    )


@dataclass(slots=True)
class Placement:
    """Each event with its lead, or a letter saying why none took it (yet)."""

    placed: list[tuple[AcceptedEvent, LeadRef]]
    letters: list[DeadLetter]
    messages: MessageLinks


def place(
    events: list[AcceptedEvent], found: Found, *, now: datetime, pending_delay: timedelta
) -> Placement:
    """The lead of every event, in the contract's order: id, Airtable id, its message's
    send (a report), phone, email. One no lead takes waits `pending` with its reason and
    what would place it; an ambiguous phone or email waits for no one (it goes dead at
    the attempt limit, naming the leads, for an operator)."""
    messages = MessageLinks(events)
    messages.stored = dict(found.sends)
    out = Placement([], [], messages)
    # Sends first, so a report in the same batch finds its send's lead.
    for accepted in sorted(events, key=messages.reports_last):
        ev = accepted.event
        lead = found.named(ev) or messages.lead_of(ev)
        if lead is None:
            lead = by_contact(ev, found.by_phone, found.by_email)
        if isinstance(lead, LeadRef):
            messages.placed(accepted, lead)
            out.placed.append((accepted, lead))
            continue
        out.letters.append(
            DeadLetter(
                queue_id=accepted.origin,
                lead_id=accepted.lead_reference,
                payload=accepted.raw,
                reason=lead or unplaced_reason(ev),
                status=RetryStatus.PENDING,
                next_retry_at=now + pending_delay,
                waiting_for=() if lead else waiting_keys(ev),
            )
        )
    return out


def adoptions(placed: Iterable[tuple[AcceptedEvent, LeadRef]]) -> dict[uuid.UUID, uuid.UUID]:
    """Leads without a client → the first clientId their events name (they adopt it)."""
    adopting: dict[uuid.UUID, uuid.UUID] = {}
    for accepted, ref in placed:
        if ref.client_id is None and accepted.event.client_id is not None:
            adopting.setdefault(ref.id, accepted.event.client_id)
    return adopting


def contradicts(accepted: AcceptedEvent, owner: uuid.UUID | None) -> bool:
    """The event names a client other than its lead's."""
    client = accepted.event.client_id
    return client is not None and owner is not None and client != owner


@dataclass(slots=True)
class Rows:
    """The rows to insert, the events refused for good, the ids stored before."""

    rows: list[ActivityRow] = field(default_factory=list)
    letters: list[DeadLetter] = field(default_factory=list)
    duplicates: set[uuid.UUID] = field(default_factory=set)


def rows_to_write(
    placement: Placement,
    owners: Mapping[uuid.UUID, uuid.UUID | None],
    already: set[uuid.UUID],
) -> Rows:
    """Each placed event as its row under its lead's client (`owners`: lead → client).

    One whose clientId contradicts its lead's client is refused `dead` (filed under its own
    client it would show another client this lead), unless it was stored before its lead
    moved (`already`): that is a redelivery. The same event twice is written once.
    """
    out = Rows()
    in_batch: set[uuid.UUID] = set()
    for accepted, ref in placement.placed:
        ev, owner = accepted.event, owners[ref.id]
        if accepted.id in already:
            out.duplicates.add(accepted.id)
            continue
        if accepted.id in in_batch:
            continue
        in_batch.add(accepted.id)
        if contradicts(accepted, owner):
            lead = ref.airtable_record_id or str(ref.id)
            out.letters.append(
                DeadLetter(
                    queue_id=accepted.origin,
                    lead_id=accepted.lead_reference,
                    payload=accepted.raw,
                    reason=(
                        f"clientId {ev.client_id} contradicts lead {lead}, "
                        f"which belongs to client {owner}"
                    ),
                    status=RetryStatus.DEAD,
                )
            )
            continue
        out.rows.append(
            ActivityRow(
                id=accepted.id,
                event_type=ev.event_type.value,
                event_category=ev.category.value,
                lead_id=ref.id,
                lead_airtable_id=ref.airtable_record_id or ev.lead_airtable_id,
                client_id=owner,
                description=ev.description,
                message_content=ev.message_content,
                metadata=placement.messages.metadata_of(accepted),
                source=ev.source,
                execution_id=ev.execution_id,
                created_by=ev.created_by,
                timestamp=accepted.timestamp,
            )
        )
    return out


@dataclass(slots=True)
class Effects:
    """What the newly stored rows change beside themselves."""

    latest: dict[uuid.UUID, datetime]  # lead → its newest new event (last activity)
    counted: list[CountedEvent]  # for the event counters
    stored: list[ActivityRow]  # for the analytics notes
    duplicates: set[uuid.UUID]  # rows that were there already


def effects(rows: Iterable[ActivityRow], inserted: set[uuid.UUID], arrived_at: datetime) -> Effects:
    """The leads' last activity and the counts of the rows newly stored; the rest were
    duplicates (stored before, or by a concurrent batch)."""
    out = Effects({}, [], [], set())
    for row in rows:
        if row.id not in inserted:
            out.duplicates.add(row.id)
            continue
        if row.lead_id not in out.latest or row.timestamp > out.latest[row.lead_id]:
            out.latest[row.lead_id] = row.timestamp
        out.counted.append(
            CountedEvent(
                row.event_type,
                row.event_category,
                row.source,
                row.client_id,
                row.timestamp,
                arrived_at,
            )
        )
        out.stored.append(row)
    return out
