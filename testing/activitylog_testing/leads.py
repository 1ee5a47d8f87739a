"""Leads put straight into PostgreSQL, for tests that need them before their events."""

from __future__ import annotations

import uuid

import asyncpg

from activitylog.use_cases.leads import saving as lead_saving


async def add_lead(
    pool: asyncpg.Pool,
    airtable_id: str,
    first_name: str = "",
    last_name: str = "",
    *,
    client_id: uuid.UUID | None = None,
    email: str | None = None,
    phone: str | None = None,
    status: str | None = None,
) -> uuid.UUID:
    """Create the lead (or set these details on it) as the lead upsert does; returns its id."""
    details = {
        "client_id": client_id,
        "first_name": first_name,
        "last_name": last_name,
        "email": email,
        "phone": phone,
        "status": status,
    }
    async with pool.acquire() as conn, conn.transaction():
        record, _ = await lead_saving.upsert_details(conn, airtable_id, details)
    return record["id"]
