"""Fixtures of the API tests: the real app under uvicorn on a free port, keys, fast inserts."""

from __future__ import annotations

import contextlib
import functools
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import asyncpg
import httpx
import pytest
import pytest_asyncio
from api_support import free_port

from activitylog.access.keys import Role, generate_key, hash_key, key_prefix
from activitylog.runtime.settings import Settings
from activitylog.storage import api_keys
from activitylog_api.service import run_api
from support import running, wait_for


@dataclass
class Api:
    """A running API: its settings, base URL and an HTTP client on it."""

    settings: Settings
    url: str
    http: httpx.AsyncClient

    def client(self, key: str | None) -> httpx.AsyncClient:
        """A client sending `key` as x-api-key (or no key)."""
        headers = {"x-api-key": key} if key else {}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=60)


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


async def _serve(settings: Settings) -> AsyncIterator[Api]:
    url = f"http://127.0.0.1:{settings.api_port}"
    async with (
        running(functools.partial(run_api, settings)),
        httpx.AsyncClient(base_url=url, timeout=60) as http,
    ):

        async def up() -> bool:
            try:
                return (await http.get("/health/live")).status_code == 200
            except httpx.TransportError:
                return False

        await wait_for(up, timeout=20, message="the API to listen")
        yield Api(settings, url, http)


@pytest_asyncio.fixture
async def api(api_settings: Settings, pool: asyncpg.Pool) -> AsyncIterator[Api]:
    """The API for this test's settings, served over real HTTP."""
    async for handle in _serve(api_settings):
        yield handle


@pytest.fixture
def serve() -> Callable[[Settings], contextlib.AbstractAsyncContextManager[Api]]:
    """Serve the API with other settings (Redis or PostgreSQL elsewhere) in a test."""
    return contextlib.asynccontextmanager(_serve)


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
