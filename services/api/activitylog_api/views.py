"""Stored rows → the JSON shapes of §7 (field names exactly as the portal expects them)."""

from __future__ import annotations

from typing import Any

import asyncpg

from activitylog.health import iso


def timeline_item(row: asyncpg.Record) -> dict[str, Any]:
    """One entry of `GET /api/leads/{id}/activity`."""
    return {
        "id": str(row["id"]),
        "timestamp": iso(row["timestamp"]),
        "eventType": row["event_type"],
        "category": row["event_category"],
        "description": row["description"],
        "message": row["message_content"],
        "details": row["metadata"],
        "source": row["source"],
        "executionId": row["execution_id"],
    }


def activity_item(row: asyncpg.Record) -> dict[str, Any]:
    """One entry of `GET /api/admin/activity-logs` (row from a query joined with its lead)."""
    lead = None
    if row["lead_row_id"] is not None:
        lead = {
            "id": str(row["lead_row_id"]),
            "firstName": row["first_name"],
            "lastName": row["last_name"],
            "email": row["lead_email"],
        }
    return {
        "id": str(row["id"]),
        "timestamp": iso(row["timestamp"]),
        "eventType": row["event_type"],
        "category": row["event_category"],
        "description": row["description"],
        "messageContent": row["message_content"],
        "metadata": row["metadata"],
        "source": row["source"],
        "executionId": row["execution_id"],
        "leadAirtableId": row["lead_airtable_id"],
        "lead": lead,
    }


def lead_item(row: asyncpg.Record) -> dict[str, Any]:
    """A lead as `PUT /api/internal/leads/{airtableId}` returns it."""
    return {
        "id": str(row["id"]),
        "airtableId": row["airtable_record_id"],
        "clientId": str(row["client_id"]) if row["client_id"] else None,
        "firstName": row["first_name"],
        "lastName": row["last_name"],
        "email": row["email"],
        "phone": row["phone"],
        "status": row["status"],
        "lastActivityAt": iso(row["last_activity_at"]),
        "createdAt": iso(row["created_at"]),
        "updatedAt": iso(row["updated_at"]),
    }
