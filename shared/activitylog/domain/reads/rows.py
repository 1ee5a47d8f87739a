"""The typed rows a read returns (an event as stored, its lead's name, a lead) and their one
JSON spelling: the API's names, the same for the timeline, the browser, the lead page, the
admin UI's Copy JSON and anything that pushes events (docs/CONTRACT.md §5)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from activitylog.contract.times import iso


@dataclass(frozen=True, slots=True)
class LeadName:
    """What a browser row shows of its lead."""

    id: uuid.UUID
    first_name: str | None
    last_name: str | None
    email: str | None
    # The name shown, and what a sort by lead orders by: the name, else the email or the
    # Airtable id of a lead not yet named (migration 0014's lead_display_name).
    display_name: str

    @property
    def full_name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p)


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One row of lead_activity_log as a read returns it; `lead` when the read joined it."""

    id: uuid.UUID
    timestamp: datetime
    event_type: str
    category: str
    description: str
    message_content: str | None
    metadata: dict[str, Any] | None
    source: str
    execution_id: str | None
    lead_id: uuid.UUID
    lead_airtable_id: str | None
    client_id: uuid.UUID | None
    created_by: uuid.UUID | None
    created_at: datetime | None
    lead: LeadName | None = None


@dataclass(frozen=True, slots=True)
class LeadRecord:
    """A lead as the reads show it."""

    id: uuid.UUID
    airtable_record_id: str | None
    client_id: uuid.UUID | None
    first_name: str | None
    last_name: str | None
    email: str | None
    phone: str | None
    status: str | None
    last_activity_at: datetime | None
    created_at: datetime
    updated_at: datetime
    display_name: str

    @property
    def full_name(self) -> str:
        return f"{self.first_name or ''} {self.last_name or ''}".strip()

    @property
    def is_stub(self) -> bool:
        """Created from an event; the lead sync has not filled in its details yet."""
        return not self.full_name and not self.email


def _text(value: uuid.UUID | None) -> str | None:
    return str(value) if value is not None else None


def event_json(event: StoredEvent) -> dict[str, Any]:
    """The one JSON spelling of a stored event (camelCase, times in UTC with `Z`)."""
    return {
        "id": str(event.id),
        "timestamp": iso(event.timestamp),
        "eventType": event.event_type,
        "category": event.category,
        "description": event.description,
        "messageContent": event.message_content,
        "metadata": event.metadata,
        "source": event.source,
        "executionId": event.execution_id,
        "createdBy": _text(event.created_by),
        "leadId": str(event.lead_id),
        "leadAirtableId": event.lead_airtable_id,
        "clientId": _text(event.client_id),
        "createdAt": iso(event.created_at),
    }


def lead_name_json(lead: LeadName | None) -> dict[str, Any] | None:
    if lead is None:
        return None
    return {
        "id": str(lead.id),
        "firstName": lead.first_name,
        "lastName": lead.last_name,
        "email": lead.email,
        "displayName": lead.display_name,
    }


def lead_json(lead: LeadRecord) -> dict[str, Any]:
    """A lead under the API's names (those of `PUT /api/internal/leads/…`, plus its name as
    shown)."""
    return {
        "id": str(lead.id),
        "airtableId": lead.airtable_record_id,
        "clientId": _text(lead.client_id),
        "firstName": lead.first_name,
        "lastName": lead.last_name,
        "email": lead.email,
        "phone": lead.phone,
        "status": lead.status,
        "displayName": lead.display_name,
        "lastActivityAt": iso(lead.last_activity_at),
        "createdAt": iso(lead.created_at),
        "updatedAt": iso(lead.updated_at),
    }
