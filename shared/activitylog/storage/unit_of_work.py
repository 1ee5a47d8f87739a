"""Stores a batch of accepted events and dead letters in one transaction.

Every path (stream, HTTP fallback, retry, backfill) comes through here, so the rules
(stub leads, idempotent insert, last_activity_at only forward, an event belongs to its
lead's client) live in one place.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import asyncpg

from activitylog.analytics import keeping
from activitylog.contract.identity import AcceptedEvent
from activitylog.counters.rollups import (
    CountedEvent,
    CounterKey,
    client_moves,
    increments,
    merge,
)
from activitylog.storage import event_counts, leads, retry_queue
from activitylog.storage.activity_log import writes as activity_writes
from activitylog.storage.activity_log.writes import ActivityRow
from activitylog.storage.leads import LeadRef
from activitylog.storage.retry_queue import DeadLetter, RetryStatus


@dataclass(slots=True)
class StoreResult:
    """What a batch did: ids newly stored, ids already there, letters written."""

    inserted: set[uuid.UUID] = field(default_factory=set)
    duplicates: set[uuid.UUID] = field(default_factory=set)
    # Letters for events this batch refused: pending (their lead is not there yet) or dead
    # (their clientId contradicts their lead's client).
    refused: list[DeadLetter] = field(default_factory=list)


def _contradicts(accepted: AcceptedEvent, owner: uuid.UUID | None) -> bool:
    """The event names a client other than its lead's."""
    client = accepted.event.client_id
    return client is not None and owner is not None and client != owner


async def store_batch(
    conn: asyncpg.Connection,
    events: list[AcceptedEvent],
    dead_letters: list[DeadLetter] | None = None,
    *,
    pending_delay: timedelta = timedelta(minutes=1),
) -> StoreResult:
    """Resolve leads, insert events idempotently, advance leads, write dead letters; one commit.

    An event resolves by its `leadId`, else by its `leadAirtableId` (a new stub lead takes
    the `leadId` as its id); one naming only a `leadId` that does not exist yet becomes a
    `pending` retry-queue row (the lead sync may bring it), returned in `refused`. The
    lead's client is the event's client: an event without `clientId` takes it, one whose
    `clientId` contradicts it becomes a `dead` row (in `refused` too), and a lead without a
    client adopts the first `clientId` its events name (a new stub lead is created with it).
    """
    result = StoreResult()
    letters = list(dead_letters or ())
    async with conn.transaction():
        by_id = await leads.fetch_refs_by_id(
            conn, sorted({e.event.lead_id for e in events if e.event.lead_id})
        )
        # Events whose leadId is unknown resolve by their leadAirtableId, if they carry one.
        stubs: dict[str, tuple[uuid.UUID | None, uuid.UUID | None]] = {}
        for e in events:
            airtable_id = e.event.lead_airtable_id
            if airtable_id is None or (e.event.lead_id is not None and e.event.lead_id in by_id):
                continue
            # A stub is created with the first clientId its events name, and takes the
            # first leadId they carry (the portal's UUID) as its id.
            client, lead_id = stubs.get(airtable_id, (None, None))
            stubs[airtable_id] = (client or e.event.client_id, lead_id or e.event.lead_id)
        by_airtable = await leads.ensure_stubs(conn, [(a, c, i) for a, (c, i) in stubs.items()])

        resolved: list[tuple[AcceptedEvent, LeadRef]] = []
        now = datetime.now(UTC)
        for accepted in events:
            ev = accepted.event
            ref = by_id.get(ev.lead_id) if ev.lead_id is not None else None
            if ref is None and ev.lead_airtable_id is not None:
                ref = by_airtable.get(ev.lead_airtable_id)
            if ref is None:
                # Only a leadId names it (the lead sync may bring it), or its stub's leadId
                # was taken by another lead meanwhile: the retry resolves it again.
                letter = DeadLetter(
                    queue_id=accepted.origin,
                    lead_id=accepted.lead_reference,
                    payload=accepted.raw,
                    reason=f"lead {ev.lead_id or ev.lead_airtable_id} does not exist (yet)",
                    status=RetryStatus.PENDING,
                    next_retry_at=now + pending_delay,
                )
                result.refused.append(letter)
                continue
            resolved.append((accepted, ref))

        owners = {ref.id: ref.client_id for _, ref in resolved}
        adopting: dict[uuid.UUID, uuid.UUID] = {}
        for accepted, ref in resolved:
            if ref.client_id is None and accepted.event.client_id is not None:
                adopting.setdefault(ref.id, accepted.event.client_id)
        clientless = [i for i, c in owners.items() if c is None]
        if clientless:
            # Another batch may have given such a lead a client since it was read.
            owners |= await leads.lock_clients(conn, clientless, list(adopting))
            adopting = {i: c for i, c in adopting.items() if owners[i] is None}
            owners |= adopting

        contradicting = [a.id for a, ref in resolved if _contradicts(a, owners[ref.id])]
        # One stored before its lead moved to another client is a redelivery, not an error.
        already = await activity_writes.stored_ids(conn, contradicting)

        rows: list[ActivityRow] = []
        latest: dict[uuid.UUID, datetime] = {}
        in_batch: set[uuid.UUID] = set()
        for accepted, ref in resolved:
            ev = accepted.event
            owner = owners[ref.id]
            if accepted.id in already:
                result.duplicates.add(accepted.id)
                continue
            if accepted.id in in_batch:
                continue  # the same event twice in one batch: stored and counted once
            in_batch.add(accepted.id)
            if _contradicts(accepted, owner):
                # Filed under its own clientId it would show another client this lead.
                lead = ref.airtable_record_id or str(ref.id)
                result.refused.append(
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
            rows.append(
                ActivityRow(
                    id=accepted.id,
                    event_type=ev.event_type.value,
                    event_category=ev.category.value,
                    lead_id=ref.id,
                    lead_airtable_id=ref.airtable_record_id or ev.lead_airtable_id,
                    client_id=owner,
                    description=ev.description,
                    message_content=ev.message_content,
                    metadata=ev.metadata,
                    source=ev.source,
                    execution_id=ev.execution_id,
                    created_by=ev.created_by,
                    timestamp=accepted.timestamp,
                )
            )
        arrived_at = datetime.now(UTC)
        result.inserted = await activity_writes.insert_rows(conn, rows, arrived_at)
        counted: list[CountedEvent] = []
        for row in rows:
            if row.id in result.inserted:
                if row.timestamp > latest.get(row.lead_id, row.timestamp - timedelta(1)):
                    latest[row.lead_id] = row.timestamp
                counted.append(
                    CountedEvent(
                        row.event_type,
                        row.event_category,
                        row.source,
                        row.client_id,
                        row.timestamp,
                        arrived_at,
                    )
                )
            else:
                result.duplicates.add(row.id)
        await leads.advance_last_activity(conn, latest, adopting)
        # Events stored while an adopting lead had no client are its client's now too.
        moved = await activity_writes.reassign_client(conn, adopting)
        await retry_queue.add(conn, letters + result.refused)
        # Only rows stored now feed the analytics (folded in after the commit, see keeping).
        await keeping.enqueue(conn, [row for row in rows if row.id in result.inserted], adopting)
        # Last, so the counter rows other batches may share are held only until the commit.
        await event_counts.add(conn, merge(increments(counted), _moves(moved)))
    return result


async def move_history(conn: asyncpg.Connection, owners: dict[uuid.UUID, uuid.UUID | None]) -> int:
    """Give each lead's events its client (`owners`: lead id → client), counters included;
    returns how many events moved. The caller holds the transaction and the lead locks."""
    moved = await activity_writes.reassign_client(conn, owners)
    await keeping.enqueue(conn, [], owners)
    await event_counts.add(conn, _moves(moved))
    return len(moved)


def _moves(moved: list[activity_writes.MovedEvent]) -> dict[CounterKey, int]:
    return client_moves(
        (m.timestamp, m.event_type, m.event_category, m.old_client, m.new_client) for m in moved
    )
