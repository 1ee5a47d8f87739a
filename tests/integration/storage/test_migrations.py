"""Migrations: applied once, safe when several replicas run them at the same time."""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import asyncpg
import pytest

from activitylog.runtime.migrate import MigrationChanged, available, migrate, pending
from support import run_cli

if TYPE_CHECKING:
    from conftest import Infra


async def test_concurrent_migrate_applies_each_version_once(infra: Infra) -> None:
    name = f"activitylog_mig_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(infra.admin_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = urlsplit(infra.admin_url)._replace(path=f"/{name}").geturl()
    try:
        results = await asyncio.gather(*(migrate(url) for _ in range(5)))
        applied = [len(r) for r in results]
        assert sorted(applied) == [0, 0, 0, 0, len(available())]
        assert await pending(url) == []
        conn = await asyncpg.connect(url)
        try:
            versions = await conn.fetch("SELECT version FROM schema_migrations ORDER BY 1")
            indexes = {
                r["indexname"]
                for r in await conn.fetch(
                    "SELECT indexname FROM pg_indexes WHERE tablename = 'lead_activity_log'"
                )
            }
        finally:
            await conn.close()
        assert [r["version"] for r in versions] == [m.version for m in available()]
        assert {
            "activity_lead_time_idx",
            "activity_time_idx",
            "activity_type_time_idx",
            "activity_category_time_idx",
            "activity_client_time_idx",
            "activity_source_time_idx",
            "activity_execution_idx",
            "activity_search_idx",
        } <= indexes
        assert await migrate(url) == []
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def test_timeline_query_uses_the_lead_time_index(infra: Infra, pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await conn.execute("SET enable_seqscan = off")
        lines = await conn.fetch(
            """
            EXPLAIN SELECT id FROM lead_activity_log
            WHERE lead_id = $1 AND ("timestamp", id) < (now(), $1)
            ORDER BY "timestamp" DESC, id DESC LIMIT 100
            """,
            uuid.uuid4(),
        )
    plan = "\n".join(r[0] for r in lines)
    # Each month's copy of activity_lead_time_idx (PostgreSQL names a partition's index
    # after its table and columns).
    assert "_lead_id_timestamp_id_idx" in plan
    assert "Seq Scan" not in plan


async def test_an_applied_file_that_changed_refuses_to_migrate(infra: Infra, settings) -> None:
    name = f"activitylog_mig_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(infra.admin_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = urlsplit(infra.admin_url)._replace(path=f"/{name}").geturl()
    try:
        await migrate(url)
        conn = await asyncpg.connect(url)
        try:
            # A database migrated before checksums were kept records them on the next run.
            await conn.execute("UPDATE schema_migrations SET checksum = NULL")
            assert await migrate(url) == []
            recorded = dict(await conn.fetch("SELECT version, checksum FROM schema_migrations"))
            assert recorded == {m.version: m.checksum for m in available()}
            # What an edited 0002 looks like from the database's side.
            await conn.execute("UPDATE schema_migrations SET checksum = 'x' WHERE version = 2")
        finally:
            await conn.close()
        with pytest.raises(MigrationChanged, match=r"0002_api\.sql"):
            await migrate(url)
        with pytest.raises(MigrationChanged):
            await pending(url)
        result = run_cli(settings.model_copy(update={"database_url": url}), "migrate")
        assert result.returncode == 1
        assert "changed since they were applied: 0002_api.sql" in result.stderr
        assert "Traceback" not in result.stderr
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
