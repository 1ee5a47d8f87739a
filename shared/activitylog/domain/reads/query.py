"""What a read of the activity log asks: the filter, the order, the counts it answers with,
and the one error a bad parameter is (`BadQuery`, a 400 naming its field at the API)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from activitylog.domain.reads.rows import StoredEvent


class BadQuery(ValueError):
    """A query parameter (or cursor) that breaks the rules: `field` names it, `extra` adds
    members to the error body (the valid values, say)."""

    def __init__(self, field: str, message: str, **extra: Any) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.extra = extra


class SortKey(StrEnum):
    """The one sort vocabulary (`sortBy`); ties always break on (timestamp, id), newest first."""

    TIMESTAMP = "timestamp"
    EVENT_TYPE = "eventType"
    EVENT_CATEGORY = "eventCategory"
    # By the lead's name as shown (then its id), each lead's events newest first.
    LEAD = "lead"


SORT_NAMES = [k.value for k in SortKey]
# The admin UI's older column names (`sort=time|event|lead`), still read.
SORT_ALIASES = {"time": SortKey.TIMESTAMP, "event": SortKey.EVENT_TYPE}
# The stored event's attribute a primary sort key reads (by lead: its shown name).
_PRIMARY_ATTRIBUTE = {SortKey.EVENT_TYPE: "event_type", SortKey.EVENT_CATEGORY: "category"}


@dataclass(frozen=True, slots=True)
class Ordering:
    key: SortKey = SortKey.TIMESTAMP
    descending: bool = True

    @property
    def name(self) -> str:
        """`timestamp:desc`, `lead:asc`, …: what a cursor records of its order."""
        return f"{self.key.value}:{'desc' if self.descending else 'asc'}"

    def reversed(self) -> Ordering:
        return Ordering(self.key, not self.descending)

    def position(self, event: StoredEvent) -> tuple[Any, ...]:
        """The keyset position of a row: what a cursor must hold to continue after it."""
        tail = (event.timestamp, event.id)
        if self.key == SortKey.LEAD:
            name = event.lead.display_name if event.lead is not None else ""
            return (name, event.lead_id, *tail)
        attribute = _PRIMARY_ATTRIBUTE.get(self.key)
        return (getattr(event, attribute), *tail) if attribute else tail

    def position_types(self) -> tuple[type, ...]:
        """The types of `position`'s values, to read them back from a cursor."""
        tail: tuple[type, ...] = (datetime, uuid.UUID)
        if self.key == SortKey.LEAD:
            return (str, uuid.UUID, *tail)
        return (str, *tail) if self.key in _PRIMARY_ATTRIBUTE else tail


@dataclass(frozen=True, slots=True)
class ActivityFilter:
    """Every filter of the timeline and the admin browser; None/empty means "any"."""

    lead_id: uuid.UUID | None = None
    lead_airtable_id: str | None = None
    client_id: uuid.UUID | None = None
    categories: tuple[str, ...] = ()
    event_types: tuple[str, ...] = ()
    source: str | None = None
    source_prefix: str | None = None  # "n8n:" finds every n8n workflow's events
    execution_id: str | None = None
    created_by: uuid.UUID | None = None  # the portal user behind a UI action
    since: datetime | None = None  # inclusive
    before: datetime | None = None  # exclusive
    search: str | None = None


@dataclass(frozen=True, slots=True)
class Count:
    """A row count; `estimated` when the exact count was cut at the cap (or its budget)."""

    value: int
    estimated: bool

    @staticmethod
    def sum(counts: list[Count]) -> Count:
        return Count(sum(c.value for c in counts), any(c.estimated for c in counts))


@dataclass(frozen=True, slots=True)
class CategoryCounts:
    """`all` and one count per category (the category filter aside): the browser's tabs."""

    all: Count
    by_category: dict[str, Count] = field(default_factory=dict)

    @property
    def estimated(self) -> bool:
        return self.all.estimated or any(c.estimated for c in self.by_category.values())

    def of(self, categories: tuple[str, ...]) -> Count:
        """The count of a filter naming `categories`: all of them, or the chosen ones summed."""
        if not categories:
            return self.all
        return Count.sum([self.by_category[c] for c in categories if c in self.by_category])
