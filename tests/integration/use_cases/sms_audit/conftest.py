"""Fixtures of the SMS_Audit tests: the portal's database, made by the test and dropped."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from activitylog_testing.databases import empty_database


@pytest_asyncio.fixture
async def portal_db(infra) -> AsyncIterator[str]:
    """An empty database standing in for the portal's (not migrated: it is not ours)."""
    async with empty_database(infra.admin_url, "portal_test") as url:
        yield url
