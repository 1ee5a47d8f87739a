"""An API replica started while PostgreSQL is down still accepts events from known keys
(their copies in Redis), refuses revoked ones, and stops trusting a copy after
API_KEY_OFFLINE_S."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest_asyncio

from activitylog.runtime.settings import Settings
from activitylog.use_cases.access.key_copies import copy_key
from activitylog.use_cases.access.keys import hash_key
from activitylog_testing.polling import wait_for
from activitylog_testing.ports import free_port
from cli_invoke import run
from support import event
from tcp_proxy import TcpProxy, proxy_for_database

PATH = "/api/internal/log-activity"


@pytest_asyncio.fixture
async def proxied(api_settings: Settings) -> AsyncIterator[tuple[TcpProxy, Settings]]:
    """Settings whose PostgreSQL is reached through a proxy the test can cut."""
    proxy, url = proxy_for_database(api_settings.database_url or "")
    await proxy.start()
    settings = api_settings.model_copy(
        update={
            "database_url": url,
            "api_db_connect_timeout_s": 1.0,
            "api_db_acquire_timeout_s": 1.5,
        }
    )
    try:
        yield proxy, settings
    finally:
        await proxy.cut()


@asynccontextmanager
async def replica(serve, settings: Settings):
    """Another API process's worth: its own port, an empty key cache."""
    async with serve(settings.model_copy(update={"api_port": free_port()})) as api:
        yield api


async def _cli_key(settings: Settings, role: str, name: str) -> str:
    created = await run(settings, "keys", "create", "--role", role, "--name", name)
    assert created.returncode == 0, created.stderr
    return created.stdout.rstrip("\n").splitlines()[-1]


async def test_a_replica_started_during_an_outage_accepts_known_keys(
    proxied, serve, make_key, api_settings, redis
) -> None:
    proxy, settings = proxied
    used = await make_key("ingest", name="n8n")  # verified by a replica before the outage
    created = await _cli_key(api_settings, "ingest", "created-by-cli")  # never used before it
    unseen = await make_key("ingest", name="written-to-the-table-only")
    revoked = await _cli_key(api_settings, "ingest", "revoked-by-cli")
    async with replica(serve, settings) as first, first.client(used) as http:
        assert (await http.post(PATH, json=event(1))).status_code == 202
    assert (await run(api_settings, "keys", "revoke", "revoked-by-cli")).returncode == 0

    await proxy.cut()
    async with replica(serve, settings) as cold:
        answers = {}
        for name, key in (("used", used), ("created", created)):
            async with cold.client(key) as http:
                answers[name] = await http.post(PATH, json=event(len(answers) + 2))
        for name, response in answers.items():
            assert response.status_code == 202, (name, response.text)
            assert response.json()["queued"] is True
        async with cold.client(revoked) as http:
            refused = await http.post(PATH, json=event(9))
        assert refused.status_code == 401, refused.text
        # A key no replica ever checked, and no copy: it cannot be verified.
        async with cold.client(unseen) as http:
            unknown = await http.post(PATH, json=event(10))
        assert unknown.status_code == 503
        assert "retry-after" in unknown.headers
    assert await redis.xlen(settings.activity_stream) == 3


async def test_a_key_revoked_in_postgresql_is_refused_by_a_replica_started_later(
    proxied, serve, make_key, pool, redis
) -> None:
    proxy, settings = proxied
    key = await make_key("ingest", name="n8n")
    async with replica(serve, settings) as first, first.client(key) as http:
        assert (await http.post(PATH, json=event(1))).status_code == 202
        # Revoked behind the CLI's back: the replica finds out on its next check
        # (API_KEY_CACHE_S, 0.2 s here) and marks the copy in Redis revoked.
        await pool.execute("UPDATE api_keys SET revoked_at = now()")

        async def refused() -> bool:
            return (await http.post(PATH, json=event(2))).status_code == 401

        await wait_for(refused, timeout=10, message="the revoked key refused")
    marked = await redis.get(copy_key(settings.activity_stream, hash_key(key)))
    assert marked == b"revoked"

    await proxy.cut()
    async with replica(serve, settings) as cold, cold.client(key) as http:
        response = await http.post(PATH, json=event(3))
    assert response.status_code == 401, response.text


async def test_a_copy_is_trusted_for_api_key_offline_s_only(
    proxied, serve, make_key, redis
) -> None:
    proxy, settings = proxied
    settings = settings.model_copy(update={"api_key_offline_s": 2.0})
    key = await make_key("ingest", name="n8n")
    async with replica(serve, settings) as first, first.client(key) as http:
        assert (await http.post(PATH, json=event(1))).status_code == 202
        await proxy.cut()
        # Within the window this replica and its copy keep working ...
        assert (await http.post(PATH, json=event(2))).status_code == 202

        copy = copy_key(settings.activity_stream, hash_key(key))

        async def copy_gone() -> bool:
            return not await redis.exists(copy)

        await wait_for(copy_gone, timeout=10, message="the copy to expire")

        # ... past it, neither the copy nor the replica's own last answer admits the key.
        async def unavailable() -> bool:
            return (await http.post(PATH, json=event(3))).status_code == 503

        await wait_for(unavailable, timeout=10, message="the key no longer trusted")
    async with replica(serve, settings) as cold, cold.client(key) as http:
        assert (await http.post(PATH, json=event(4))).status_code == 503
