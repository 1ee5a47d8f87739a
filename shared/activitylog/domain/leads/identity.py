"""How one lead upsert meets the leads already stored: insert, update, adopt, merge or 409.

The portal's UUID is a lead's id here too. An upsert names a lead by that UUID, its Airtable
record id, or both; each may already name a stored lead, and this decides what happens.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum


class Action(StrEnum):
    INSERT = "insert"  # neither reference names a lead yet
    UPDATE = "update"  # both name the same lead, or only one names one
    ADOPT = "adopt"  # a lead known by its Airtable id takes the portal's UUID as its id
    MERGE = "merge"  # the two name two leads: one survives under the UUID
    CONFLICT = "conflict"  # the UUID already belongs to another Airtable id


@dataclass(frozen=True, slots=True)
class Known:
    """A stored lead as far as identity goes."""

    id: uuid.UUID
    airtable_id: str | None


@dataclass(frozen=True, slots=True)
class Plan:
    action: Action
    target: uuid.UUID | None = None  # the lead updated, adopting, or absorbed by a merge
    message: str = ""


def plan(
    lead_id: uuid.UUID | None,
    airtable_id: str | None,
    by_airtable: Known | None,
    by_id: Known | None,
) -> Plan:
    """What an upsert naming `lead_id` and/or `airtable_id` does, given the leads they name."""
    if lead_id is None and airtable_id is None:
        raise ValueError("an upsert names a lead by its id, its Airtable id, or both")
    if (
        by_id is not None
        and airtable_id is not None
        and by_id.airtable_id is not None
        and by_id.airtable_id != airtable_id
    ):
        return Plan(
            Action.CONFLICT,
            by_id.id,
            f"lead {by_id.id} belongs to Airtable record {by_id.airtable_id}, not {airtable_id}",
        )
    if by_airtable is None and by_id is None:
        return Plan(Action.INSERT)
    if by_airtable is None or lead_id is None:
        known = by_id or by_airtable
        assert known is not None
        return Plan(Action.UPDATE, known.id)
    if by_id is None:
        return Plan(Action.ADOPT, by_airtable.id)
    if by_id.id == by_airtable.id:
        return Plan(Action.UPDATE, by_id.id)
    # by_id has no Airtable id (else the conflict above): the UUID's lead absorbs the other.
    return Plan(Action.MERGE, by_airtable.id)
