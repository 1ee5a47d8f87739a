"""The records every layer passes around: a lead as an event needs it, a stored event, a
stored SMS fact, an event that changed client. Plain data, no I/O."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from activitylog.domain.followers import LogPlace


@dataclass(frozen=True, slots=True)
class LeadRef:
    """What an event needs to know about its lead."""

    id: uuid.UUID
    airtable_record_id: str | None
    client_id: uuid.UUID | None


@dataclass(frozen=True, slots=True)
class ActivityRow:
    """One row as stored; the lead is already resolved."""

    id: uuid.UUID
    event_type: str
    event_category: str
    lead_id: uuid.UUID
    lead_airtable_id: str | None
    client_id: uuid.UUID | None
    description: str
    message_content: str | None
    metadata: dict[str, Any] | None
    source: str
    execution_id: str | None
    created_by: uuid.UUID | None
    timestamp: datetime


@dataclass(frozen=True, slots=True)
class StoredFact:
    """What an SMS fact of one message needs of another stored fact of it (its send)."""

    id: uuid.UUID
    lead_id: uuid.UUID
    lead_airtable_id: str | None
    client_id: uuid.UUID | None
    campaign: str | None


@dataclass(frozen=True, slots=True)
class MovedEvent:
    """An event that changed client: what the counters need to move its count."""

    timestamp: datetime
    event_type: str
    event_category: str
    old_client: uuid.UUID | None
    new_client: uuid.UUID | None
    place: LogPlace | None = None  # where it sits in the log (None: stored before 0017)
