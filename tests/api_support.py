"""Helpers of the API tests: events put straight into PostgreSQL (COPY), UI sign-in."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx

from activitylog.domain.counters.rollups import compaction_cutoffs
from activitylog.storage import admin_users, event_counts
from activitylog.storage.activity_log import writes as activity_writes
from activitylog.use_cases.access.accounts import hash_password

# The stored columns less created_by, which the tests never set.
_COPY_COLUMNS = tuple(c for c in activity_writes.COLUMNS if c != "created_by")


def event_row(
    lead_id: uuid.UUID,
    *,
    airtable_id: str | None = None,
    client_id: uuid.UUID | None = None,
    event_type: str = "MESSAGE_SENT",
    category: str = "SMS",
    description: str = "SMS sent",
    message: str | None = "hello",
    metadata: dict[str, Any] | None = None,
    source: str = "n8n:wf-sms",
    execution_id: str | None = None,
    timestamp: datetime | None = None,
    event_id: uuid.UUID | None = None,
) -> tuple[Any, ...]:
    """One row for `insert_rows` (COPY), in `_COPY_COLUMNS` order."""
    return (
        event_id or uuid.uuid4(),
        event_type,
        category,
        lead_id,
        airtable_id,
        client_id,
        description,
        message,
        metadata,
        source,
        execution_id,
        timestamp or datetime(2026, 3, 1, tzinfo=UTC),
    )


async def insert_rows(pool: asyncpg.Pool, rows: Sequence[tuple[Any, ...]]) -> None:
    """COPY rows into lead_activity_log (fast; no validation: tests build valid rows), then
    recount the counters, which only the product's write path keeps by itself."""
    async with pool.acquire() as conn:
        await conn.copy_records_to_table(
            "lead_activity_log", records=rows, columns=list(_COPY_COLUMNS)
        )
        await event_counts.rebuild(conn, compaction_cutoffs(datetime.now(UTC)))


def times(n: int, *, start: datetime | None = None, step_s: float = 1.0) -> list[datetime]:
    """`n` timestamps `step_s` apart, oldest first."""
    base = start or datetime(2026, 3, 1, tzinfo=UTC)
    return [base + timedelta(seconds=i * step_s) for i in range(n)]


UI_ADMIN_EMAIL = "ops@example.com"
UI_ADMIN_PASSWORD = "correct horse battery staple"


def form_token(html: str) -> str:
    """The CSRF token of the first form on an admin page."""
    match = re.search(r'name="_csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


async def sign_in_ui(pool: asyncpg.Pool, http: httpx.AsyncClient) -> None:
    """Create the UI's admin account and sign `http` in through the login form."""
    async with pool.acquire() as conn:
        await admin_users.upsert(conn, UI_ADMIN_EMAIL, hash_password(UI_ADMIN_PASSWORD))
    page = await http.get("/admin/login")
    response = await http.post(
        "/admin/login",
        data={
            "email": UI_ADMIN_EMAIL,
            "password": UI_ADMIN_PASSWORD,
            "next": "",
            "_csrf_token": form_token(page.text),
        },
    )
    assert response.status_code == 303, response.text
