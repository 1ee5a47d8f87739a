"""A lead as the sync, the CSV import and the bulk API hand it over, checked the same way."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from activitylog.contract.references import is_airtable_id

# The detail columns an upsert may set, with their longest accepted text (the API's too).
DETAIL_LIMITS: dict[str, int] = {
    "first_name": 200,
    "last_name": 200,
    "email": 320,
    "phone": 50,
    "status": 100,
}
DETAIL_FIELDS = ("client_id", *DETAIL_LIMITS)


@dataclass(frozen=True, slots=True)
class LeadInput:
    """One lead to upsert: named by the portal's UUID, its Airtable id or both; `details`
    holds only the fields to set (a field left out keeps its stored value)."""

    lead_id: uuid.UUID | None
    airtable_id: str | None
    details: dict[str, Any] = field(default_factory=dict)


class Rejected(ValueError):
    """A source row that cannot be a lead: `reason` names the field (summaries group by
    it), the message adds the value."""

    def __init__(self, reason: str, value: Any = None) -> None:
        super().__init__(reason if value is None else f"{reason} ({value!r})")
        self.reason = reason


def _text(name: str, value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    if "\x00" in text:
        raise Rejected(f"{name}: text contains a NUL character")
    if len(text) > DETAIL_LIMITS[name]:
        raise Rejected(f"{name}: longer than {DETAIL_LIMITS[name]} characters", text[:40])
    return text or None


def _uuid(name: str, value: Any) -> uuid.UUID | None:
    if value is None or isinstance(value, uuid.UUID):
        return value
    text = str(value).strip()
    if not text:
        return None
    try:
        return uuid.UUID(text)
    except ValueError:
        raise Rejected(f"{name}: not a UUID", text) from None


def from_source(row: Mapping[str, Any]) -> LeadInput:
    """A lead from a portal row or a CSV row already keyed by our field names (`id`,
    `airtable_id`, the detail fields); blank cells are "no value". Raises Rejected."""
    lead_id = _uuid("id", row.get("id"))
    airtable = row.get("airtable_id")
    airtable_id = str(airtable).strip() if airtable is not None else ""
    if airtable_id and not is_airtable_id(airtable_id):
        raise Rejected("airtable_id: not an Airtable record id (rec…)", airtable_id)
    if lead_id is None and not airtable_id:
        raise Rejected("neither an id nor an airtable_id")
    details: dict[str, Any] = {}
    if "client_id" in row:
        details["client_id"] = _uuid("client_id", row["client_id"])
    for name in DETAIL_LIMITS:
        if name in row:
            value = _text(name, row[name])
            # Names are never NULL here: a stub's are empty.
            details[name] = (value or "") if name in ("first_name", "last_name") else value
    return LeadInput(lead_id, airtable_id or None, details)
