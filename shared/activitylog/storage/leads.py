"""SQL for the `leads` table."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

import asyncpg

from activitylog.contract.references import parse_lead_reference
from activitylog.contract.times import aware_timestamp
from activitylog.domain.reads.rows import LeadRecord
from activitylog.domain.records import LeadRef
from activitylog.runtime.logs import get_logger
from activitylog.storage.activity_log.filters import LEAD_NAME, lead_condition

log = get_logger("activitylog.leads")


# Leads an event batch references are read FOR KEY SHARE: moving a lead to another client
# (`lock_identities`, FOR UPDATE) then waits for the batch, or the batch for the move, so no
# event is stored under a client its lead just left. Nearly free: the foreign key check of
# the events' insert takes this very lock on the same rows anyway; it only comes earlier.
# KEY SHARE does not conflict with the batches' own UPDATE of last_activity_at.


async def fetch_refs_by_id(
    conn: asyncpg.Connection, ids: list[uuid.UUID]
) -> dict[uuid.UUID, LeadRef]:
    """The leads among `ids` that exist, locked FOR KEY SHARE in id order."""
    if not ids:
        return {}
    rows = await conn.fetch(
        """
        SELECT l.id, l.airtable_record_id, l.client_id
        FROM unnest($1::uuid[]) AS t(id) JOIN leads AS l ON l.id = t.id
        ORDER BY l.id
        FOR KEY SHARE OF l
        """,
        ids,
    )
    return {r["id"]: LeadRef(r["id"], r["airtable_record_id"], r["client_id"]) for r in rows}


async def refs_by_contact(
    conn: asyncpg.Connection, phone_keys: list[str], emails: list[str]
) -> tuple[dict[str, list[LeadRef]], dict[str, list[LeadRef]]]:
    """Live leads by phone key (`phone_key`, migration 0015) and by lower-cased email,
    locked FOR KEY SHARE; a key may name several leads (the caller decides)."""
    if not phone_keys and not emails:
        return {}, {}
    rows = await conn.fetch(
        """
        SELECT l.id, l.airtable_record_id, l.client_id,
               phone_key(l.phone) AS phone_key, lower(l.email) AS email
        FROM leads AS l
        WHERE l.deleted_at IS NULL
          AND (phone_key(l.phone) = ANY($1::text[]) OR lower(l.email) = ANY($2::text[]))
        ORDER BY l.id
        FOR KEY SHARE OF l
        """,
        phone_keys,
        emails,
    )
    by_phone: dict[str, list[LeadRef]] = {}
    by_email: dict[str, list[LeadRef]] = {}
    for r in rows:
        ref = LeadRef(r["id"], r["airtable_record_id"], r["client_id"])
        if r["phone_key"] in phone_keys:
            by_phone.setdefault(r["phone_key"], []).append(ref)
        if r["email"] in emails:
            by_email.setdefault(r["email"], []).append(ref)
    return by_phone, by_email


async def ensure_stubs(
    conn: asyncpg.Connection, wanted: list[tuple[str, uuid.UUID | None, uuid.UUID | None]]
) -> dict[str, LeadRef]:
    """Create a stub lead for each unknown Airtable id (names empty) and return every ref.

    `wanted`: (Airtable id, client, lead id). A stub takes the given lead id (the portal's
    UUID an event carried) when there is one. Known leads are locked (FOR KEY SHARE) and
    the others inserted in one statement; sorted input keeps concurrent batches taking row
    locks in one order. An Airtable id missing from the answer could not be created (its
    lead id belongs to another lead meanwhile).
    """
    if not wanted:
        return {}
    firsts: dict[str, tuple[uuid.UUID | None, uuid.UUID | None]] = {}
    for airtable_id, client, lead_id in wanted:
        firsts.setdefault(airtable_id, (client, lead_id))
    ordered = sorted(firsts)
    # One statement: the known leads locked, the missing ones inserted. No conflict target:
    # a clash on the Airtable id (a concurrent stub) or on the id (a lead made meanwhile)
    # both leave the row alone, and it is looked up again below.
    rows = await conn.fetch(
        """
        WITH wanted AS (
            SELECT * FROM unnest($1::text[], $2::uuid[], $3::uuid[]) AS t(a, c, i)
        ), known AS (
            SELECT l.id, l.airtable_record_id, l.client_id
            FROM wanted JOIN leads AS l ON l.airtable_record_id = wanted.a
            ORDER BY l.id
            FOR KEY SHARE OF l
        ), made AS (
            INSERT INTO leads (id, airtable_record_id, client_id)
            SELECT coalesce(w.i, gen_random_uuid()), w.a, w.c FROM wanted AS w
            WHERE NOT EXISTS (SELECT 1 FROM known AS k WHERE k.airtable_record_id = w.a)
            ORDER BY w.a
            ON CONFLICT DO NOTHING
            RETURNING id, airtable_record_id, client_id
        )
        SELECT * FROM known UNION ALL SELECT * FROM made
        """,
        ordered,
        [firsts[a][0] for a in ordered],
        [firsts[a][1] for a in ordered],
    )
    refs = {
        r["airtable_record_id"]: LeadRef(r["id"], r["airtable_record_id"], r["client_id"])
        for r in rows
    }
    clashed = [a for a in ordered if a not in refs]
    if clashed:
        refs |= await _refs_by_airtable_id(conn, clashed)
    return refs


async def _refs_by_airtable_id(
    conn: asyncpg.Connection, airtable_ids: list[str]
) -> dict[str, LeadRef]:
    rows = await conn.fetch(
        """
        SELECT l.id, l.airtable_record_id, l.client_id
        FROM unnest($1::text[]) AS t(a) JOIN leads AS l ON l.airtable_record_id = t.a
        ORDER BY l.id
        FOR KEY SHARE OF l
        """,
        airtable_ids,
    )
    return {
        r["airtable_record_id"]: LeadRef(r["id"], r["airtable_record_id"], r["client_id"])
        for r in rows
    }


# The advisory lock class of a lead's client while it has none (the key: a hash of its id).
_CLIENT_LOCK = 0x1EAD


async def lock_clients(
    conn: asyncpg.Connection, storing: list[uuid.UUID], adopting: list[uuid.UUID]
) -> dict[uuid.UUID, uuid.UUID | None]:
    """Hold the client lock of leads without a client until the commit; return their clients.

    Shared for `storing` (events go in under the lead's client as it is), exclusive for
    `adopting` (the lead gets a client): an adoption waits for the events stored meanwhile,
    so it can move them too. Transaction advisory locks, not row locks: a lead row locked
    before the batch's inserts would deadlock with batches updating its last_activity_at.
    """
    ids = sorted({*storing, *adopting})
    if not ids:
        return {}
    exclusive = set(adopting)
    # In key order, so batches locking several leads cannot deadlock on one another.
    await conn.execute(
        """
        SELECT CASE WHEN keys.exclusive THEN pg_advisory_xact_lock($3, keys.k)
                    ELSE pg_advisory_xact_lock_shared($3, keys.k) END
        FROM (
            SELECT hashtext(t.id::text) AS k, bool_or(t.exclusive) AS exclusive
            FROM unnest($1::uuid[], $2::bool[]) AS t(id, exclusive)
            GROUP BY 1
            ORDER BY 1
        ) AS keys
        """,
        ids,
        [i in exclusive for i in ids],
        _CLIENT_LOCK,
    )
    rows = await conn.fetch("SELECT id, client_id FROM leads WHERE id = ANY($1::uuid[])", ids)
    return {r["id"]: r["client_id"] for r in rows}


async def advance_last_activity(
    conn: asyncpg.Connection,
    latest: dict[uuid.UUID, datetime],
    adopt: dict[uuid.UUID, uuid.UUID] | None = None,
) -> None:
    """Move `last_activity_at` forward to the given times, never backward; give the leads
    in `adopt` that client if they have none. One statement, so one round of row locks."""
    adopt = adopt or {}
    ids = sorted(latest.keys() | adopt.keys())
    if not ids:
        return
    await conn.execute(
        """
        UPDATE leads AS l
        SET last_activity_at = greatest(l.last_activity_at, v.ts),
            client_id = coalesce(l.client_id, v.client_id),
            updated_at = now()
        FROM unnest($1::uuid[], $2::timestamptz[], $3::uuid[]) AS v(id, ts, client_id)
        WHERE l.id = v.id
          AND (v.ts > l.last_activity_at
               OR (v.ts IS NOT NULL AND l.last_activity_at IS NULL)
               OR (v.client_id IS NOT NULL AND l.client_id IS NULL))
        """,
        ids,
        [latest.get(i) for i in ids],
        [adopt.get(i) for i in ids],
    )


# -- Reads, upserts and deletes ----------------------------------------------------------

# display_name: what the admin UI shows the lead as (migration 0014's rule).
_LEAD_COLUMNS = """id, airtable_record_id, client_id, first_name, last_name, email, phone,
    status, last_activity_at, created_at, updated_at, deleted_at,
    lead_display_name(first_name, last_name, email, airtable_record_id) AS display_name"""


async def find_lead(
    conn: asyncpg.Connection, reference: str, *, include_deleted: bool = False
) -> asyncpg.Record | None:
    """The lead `reference` names (its UUID or its Airtable record id), if it exists;
    a soft-deleted lead only with `include_deleted`."""
    ref = parse_lead_reference(reference)
    if ref is None:
        return None
    hidden = "" if include_deleted else " AND deleted_at IS NULL"
    if ref.lead_id is not None:
        return await conn.fetchrow(
            f"SELECT {_LEAD_COLUMNS} FROM leads WHERE id = $1{hidden}", ref.lead_id
        )
    return await conn.fetchrow(
        f"SELECT {_LEAD_COLUMNS} FROM leads WHERE airtable_record_id = $1{hidden}",
        ref.airtable_id,
    )


def lead_record(row: asyncpg.Record) -> LeadRecord:
    """A row of `_LEAD_COLUMNS` (`find_lead`, `fetch_leads`) as the typed lead."""
    values = {f.name: row[f.name] for f in fields(LeadRecord)}
    return LeadRecord(**values | {"last_activity_at": aware_timestamp(row["last_activity_at"])})


async def find_lead_record(conn: asyncpg.Connection, reference: str) -> LeadRecord | None:
    """`find_lead` as the reads show a lead (a soft-deleted lead is not found)."""
    row = await find_lead(conn, reference)
    return lead_record(row) if row is not None else None


async def fetch_leads(conn: asyncpg.Connection, ids: list[uuid.UUID]) -> dict[uuid.UUID, Any]:
    """The rows of the leads among `ids`, by id."""
    rows = await conn.fetch(f"SELECT {_LEAD_COLUMNS} FROM leads WHERE id = ANY($1::uuid[])", ids)
    return {r["id"]: r for r in rows}


@dataclass(frozen=True, slots=True)
class DetailRow:
    """One lead's new values; `fields` names the detail columns to set."""

    id: uuid.UUID | None
    airtable_id: str | None
    fields: frozenset[str]
    values: dict[str, Any]

    def value(self, name: str) -> Any:
        value = self.values.get(name)
        return (value or "") if name in ("first_name", "last_name") else value


LEAD_DETAIL_FIELDS = ("client_id", "first_name", "last_name", "email", "phone", "status")
_TYPES = ("uuid", "text", "text", "text", "text", "text")


def _columns(rows: list[DetailRow]) -> list[list[Any]]:
    return [[r.value(name) for r in rows] for name in LEAD_DETAIL_FIELDS]


async def insert_leads(conn: asyncpg.Connection, rows: list[DetailRow]) -> list[asyncpg.Record]:
    """Insert new leads (a missing id is made here); returns (id, airtable_record_id) of
    those inserted: a row whose id or Airtable id was taken meanwhile is left out."""
    if not rows:
        return []
    arrays = ", ".join(f"${n}::{t}[]" for n, t in enumerate(("uuid", "text", *_TYPES), 1))
    return await conn.fetch(
        f"""
        INSERT INTO leads
            (id, airtable_record_id, client_id, first_name, last_name, email, phone, status)
        SELECT coalesce(v.id, gen_random_uuid()), v.a, v.c, v.f, v.l, v.e, v.p, v.s
        FROM unnest({arrays}) AS v(id, a, c, f, l, e, p, s)
        ON CONFLICT DO NOTHING
        RETURNING id, airtable_record_id
        """,
        [r.id for r in rows],
        [r.airtable_id for r in rows],
        *_columns(rows),
    )


async def update_details(conn: asyncpg.Connection, rows: list[DetailRow]) -> set[uuid.UUID]:
    """Set each row's chosen detail fields (others keep their value) and its Airtable id
    where the lead has none; returns the ids that changed. The rows must be locked
    (`lock_identities`)."""
    if not rows:
        return set()
    rows = sorted(rows, key=lambda r: r.id or uuid.UUID(int=0))  # lock order
    masks = [sum(1 << n for n, f in enumerate(LEAD_DETAIL_FIELDS) if f in r.fields) for r in rows]
    new = {
        f: f"CASE WHEN v.mask & {1 << n} <> 0 THEN v.{f} ELSE l.{f} END"
        for n, f in enumerate(LEAD_DETAIL_FIELDS)
    }
    sets = ",\n".join(f"{f} = {expr}" for f, expr in new.items())
    arrays = ", ".join(f"${n}::{t}[]" for n, t in enumerate(("uuid", "text", "int", *_TYPES), 1))
    # A row that would not change is not written: a full re-sync of unchanged leads costs
    # reads only (every write here also updates the trigram indexes).
    changed = await conn.fetch(
        f"""
        UPDATE leads AS l SET
            airtable_record_id = coalesce(l.airtable_record_id, v.airtable),
            {sets},
            updated_at = now()
        FROM unnest({arrays})
            AS v(id, airtable, mask, {", ".join(LEAD_DETAIL_FIELDS)})
        WHERE l.id = v.id
          AND (coalesce(l.airtable_record_id, v.airtable), {", ".join(new.values())})
              IS DISTINCT FROM (l.airtable_record_id, {", ".join(f"l.{f}" for f in new)})
        RETURNING l.id
        """,
        [r.id for r in rows],
        [r.airtable_id for r in rows],
        masks,
        *_columns(rows),
    )
    return {r["id"] for r in changed}


async def mark_deleted(
    conn: asyncpg.Connection, lead_id: uuid.UUID, deleted: bool
) -> asyncpg.Record | None:
    """Soft-delete the lead (or bring it back); its events stay. None if it does not exist."""
    return await conn.fetchrow(
        f"""
        UPDATE leads SET
            deleted_at = CASE WHEN $2 THEN coalesce(deleted_at, now()) END,
            updated_at = now()
        WHERE id = $1
        RETURNING {_LEAD_COLUMNS}
        """,
        lead_id,
        deleted,
    )


async def delete_lead(conn: asyncpg.Connection, lead_id: uuid.UUID) -> bool:
    """Delete the lead row for good; refused by the foreign key while events remain."""
    return await conn.fetchval("DELETE FROM leads WHERE id = $1 RETURNING true", lead_id) or False


async def suggest(conn: asyncpg.Connection, text: str, limit: int = 8) -> list[asyncpg.Record]:
    """Leads for the browser's lead box: name, email, phone or id matches, latest first."""
    condition, values = lead_condition(text)
    exact = ""
    reference = parse_lead_reference(text.strip())
    if reference is not None and reference.lead_id is not None:
        exact = f" OR l.id = ${len(values) + 1}"
        values = [*values, reference.lead_id]
    return await conn.fetch(
        f"SELECT l.id, l.airtable_record_id, l.first_name, l.last_name, l.email, l.phone, "
        f"{LEAD_NAME} AS display_name "
        f"FROM leads l WHERE ({condition}{exact}) AND l.deleted_at IS NULL "
        f"ORDER BY l.last_activity_at DESC NULLS LAST LIMIT {int(limit)}",
        *values,
    )


async def ids_with_prefix(conn: asyncpg.Connection, prefix: str) -> list[uuid.UUID]:
    """The leads whose Airtable id starts with `prefix` (the demo history's, for one)."""
    rows = await conn.fetch(
        "SELECT id FROM leads WHERE starts_with(airtable_record_id, $1) ORDER BY id", prefix
    )
    return [r["id"] for r in rows]


async def delete_leads(conn: asyncpg.Connection, ids: list[uuid.UUID]) -> int:
    """Delete lead rows for good (their events first: the foreign key refuses otherwise)."""
    done = await conn.execute("DELETE FROM leads WHERE id = ANY($1::uuid[])", ids)
    return int(done.rsplit(" ", 1)[-1])
