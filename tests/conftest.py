"""Test infrastructure: a fresh database and Redis key prefix per run, cleaned up after.

Real servers first (TEST_DATABASE_URL / TEST_REDIS_URL, else 127.0.0.1); where they are
not reachable, testcontainers if Docker works, else the embedded servers.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio
import redis as redis_sync
import redis.asyncio as aioredis

from activitylog.runtime.db import create_pool
from activitylog.runtime.settings import Settings
from activitylog.storage.stream import redis_client
from activitylog_testing.databases import create_database, database_url, drop_database

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"


@dataclass(frozen=True)
class Infra:
    admin_url: str  # a database we may connect to in order to create/drop others
    database_url: str  # this run's own database
    redis_url: str
    prefix: str  # every Redis key this run creates starts with it


def _pg_reachable(url: str) -> bool:
    async def probe() -> bool:
        try:
            conn = await asyncpg.connect(url, timeout=3)
        except (OSError, asyncpg.PostgresError):
            return False
        await conn.close()
        return True

    return asyncio.run(probe())


def _redis_reachable(url: str) -> bool:
    try:
        client = redis_sync.Redis.from_url(url, socket_connect_timeout=2)
        client.ping()
        client.close()
    except (redis_sync.RedisError, OSError):
        return False
    return True


def _docker_works() -> bool:
    if not shutil.which("docker"):
        return False
    return subprocess.run(["docker", "info"], capture_output=True, check=False).returncode == 0


@contextlib.contextmanager
def _servers() -> Iterator[tuple[str, str]]:
    pg_url = os.environ.get("TEST_DATABASE_URL", DEFAULT_PG)
    redis_url = os.environ.get("TEST_REDIS_URL", DEFAULT_REDIS)
    with contextlib.ExitStack() as stack:
        if not _pg_reachable(pg_url) or not _redis_reachable(redis_url):
            if _docker_works():
                from testcontainers.postgres import PostgresContainer
                from testcontainers.redis import RedisContainer

                pg = stack.enter_context(PostgresContainer("postgres:16-alpine", driver=None))
                rd = stack.enter_context(RedisContainer("redis:7-alpine"))
                pg_url = pg.get_connection_url()
                redis_url = f"redis://{rd.get_container_host_ip()}:{rd.get_exposed_port(6379)}/0"
            else:
                from activitylog.runtime.embedded import EmbeddedPostgres, EmbeddedRedis

                base = Path(tempfile.mkdtemp(prefix="activitylog-test-"))
                stack.callback(shutil.rmtree, base, True)
                epg = EmbeddedPostgres(base / "pg")
                stack.callback(epg.stop)
                pg_url = epg.start("postgres")
                erd = EmbeddedRedis(base / "redis", 16390 + os.getpid() % 1000)
                stack.callback(erd.stop)
                redis_url = erd.start()
        yield pg_url, redis_url


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    run = uuid.uuid4().hex[:10]
    with _servers() as (admin_url, redis_url):
        name = f"activitylog_test_{run}"
        asyncio.run(create_database(admin_url, name))
        prefix = f"test-{run}:"
        try:
            yield Infra(admin_url, database_url(admin_url, name), redis_url, prefix)
        finally:
            asyncio.run(drop_database(admin_url, name))
            client = redis_sync.Redis.from_url(redis_url)
            keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
            if keys:
                client.delete(*keys)
            client.close()


async def _empty(conn: asyncpg.Connection) -> None:
    """Every table emptied and every sequence restarted, as a fresh database has them.

    DELETE rather than TRUNCATE: a test leaves a few rows, and TRUNCATE of the ~30 tables
    (new files for each of their ~180 relations, fsynced at commit) took 0.3-1.3 s per
    test against 10-50 ms for the DELETEs, most of the quick lanes' time. Foreign keys are
    not checked meanwhile (replica role), so the order does not matter.
    """
    tables = await conn.fetch(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
        "AND tablename <> 'schema_migrations'"
    )
    sequences = await conn.fetch(
        "SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'"
    )
    async with conn.transaction():
        await conn.execute("SET LOCAL session_replication_role = replica")
        for table in tables:
            await conn.execute(f'DELETE FROM ONLY "{table["tablename"]}"')
        for sequence in sequences:
            await conn.execute(f'ALTER SEQUENCE "{sequence["sequencename"]}" RESTART')


@pytest_asyncio.fixture
async def pool(infra: Infra) -> AsyncIterator[asyncpg.Pool]:
    """A pool on this run's database, emptied before each test."""
    pool = await create_pool(infra.database_url, min_size=1, max_size=5)
    async with pool.acquire() as conn:
        await _empty(conn)
    try:
        yield pool
    finally:
        await pool.close()


@pytest_asyncio.fixture
async def redis(infra: Infra) -> AsyncIterator[aioredis.Redis]:
    client = redis_client(infra.redis_url)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
def settings(infra: Infra) -> Settings:
    """Settings for one test: its own stream, fast claims and back-off."""
    key = f"{infra.prefix}{uuid.uuid4().hex[:8]}"
    return Settings(
        database_url=infra.database_url,
        redis_url=infra.redis_url,
        activity_stream=f"{key}:events",
        ingest_consumer=f"{key}-worker",
        ingest_block_ms=200,
        claim_idle_ms=2_000,
        backoff_initial_s=0.05,
        backoff_max_s=0.5,
        consumer_lease_ttl_s=3,
        stream_trim_interval_s=1,
        pending_retry_delay_s=0,
        retry_poll_interval_s=0.2,
        alert_min_interval_s=0,
    )


@pytest.fixture
def artifacts(request: pytest.FixtureRequest) -> Path:
    """A folder for this test's logs and screenshots (printed by CI)."""
    base = Path(os.environ.get("TEST_ARTIFACTS", Path(__file__).parent.parent / "test-artifacts"))
    path = base / request.node.name.replace("/", "_")[:80]
    path.mkdir(parents=True, exist_ok=True)
    return path
