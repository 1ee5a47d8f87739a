"""Fixtures of the API tests: the real app under uvicorn on a free port, keys, fast inserts."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest
import pytest_asyncio

from activitylog.runtime.settings import Settings
from activitylog.storage import api_keys
from activitylog.use_cases.access.keys import Role, generate_key, hash_key, key_prefix
from activitylog_testing.ports import free_port
from activitylog_testing.serving import ServedApi, serving_api


@pytest.fixture
def api_settings(settings: Settings) -> Settings:
    """The test's settings with its own port and a short key cache (revocation tests)."""
    return settings.model_copy(
        update={
            "api_port": free_port(),
            "api_key_cache_s": 0.2,
            "api_backend_timeout_s": 1.0,
            # Exact counts however loaded the test machine is; the budget has its own test.
            "api_count_budget_ms": 60_000,
        }
    )


@pytest_asyncio.fixture
async def api(api_settings: Settings, pool: asyncpg.Pool) -> AsyncIterator[ServedApi]:
    """The API for this test's settings, served over real HTTP."""
    async with serving_api(api_settings) as served:
        yield served


@pytest.fixture
def serve() -> Callable[[Settings], contextlib.AbstractAsyncContextManager[ServedApi]]:
    """Serve the API with other settings (Redis or PostgreSQL elsewhere) in a test."""
    return serving_api


MakeKey = Callable[..., Awaitable[str]]


@pytest.fixture
def make_key(pool: asyncpg.Pool) -> MakeKey:
    """Create an API key directly in the table and return the key."""

    async def make(role: Role | str, client_id: uuid.UUID | None = None, name: str = "t") -> str:
        key = generate_key()
        async with pool.acquire() as conn:
            await api_keys.create(
                conn,
                name=name,
                role=str(role),
                client_id=client_id,
                key_hash=hash_key(key),
                key_prefix=key_prefix(key),
            )
        return key

    return make


@pytest_asyncio.fixture
async def admin_key(make_key: MakeKey) -> str:
    return await make_key(Role.ADMIN, name="admin")


@pytest_asyncio.fixture
async def ingest_key(make_key: MakeKey) -> str:
    return await make_key(Role.INGEST, name="n8n")
