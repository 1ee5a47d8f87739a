"""`activitylog partitions migrate` killed mid-copy and run again: it resumes, nothing lost or
doubled; `activitylog retention`, `archive list` and `archive restore` as an operator runs
them, and a recount refused while months are archived."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg

from activitylog.runtime.migrate import migrate
from activitylog.runtime.settings import Settings
from activitylog_testing.databases import database_url
from support import REPO, at_version, run_cli, settings_env

if TYPE_CHECKING:
    from conftest import Infra


async def test_a_killed_migration_resumes_and_loses_nothing(
    infra: Infra, settings: Settings
) -> None:
    name = f"activitylog_partcli_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(infra.admin_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = database_url(infra.admin_url, name)
    try:
        await at_version(url, 18)
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(
                """
                INSERT INTO leads (id, airtable_record_id) VALUES (gen_random_uuid(), 'recOld');
                INSERT INTO lead_activity_log
                    (id, event_type, event_category, lead_id, description, source, "timestamp")
                SELECT gen_random_uuid(), 'MESSAGE_SENT', 'SMS',
                       (SELECT id FROM leads), 'old ' || i, 'n8n:old',
                       '2024-01-01Z'::timestamptz + i * interval '10 minutes'
                FROM generate_series(1, 20000) AS i;
                """
            )
            await migrate(url)
            before = {r["id"] for r in await conn.fetch("SELECT id FROM lead_activity_log")}
        finally:
            await conn.close()
        mine = settings.model_copy(update={"database_url": url})
        proc = subprocess.Popen(
            [sys.executable, "-m", "activitylog_cli", "partitions", "migrate", "--batch", "500"],
            env=settings_env(mine),
            cwd=REPO,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stderr is not None
        deadline = time.monotonic() + 120
        for line in proc.stderr:
            if line.startswith("copied 2,") or time.monotonic() > deadline:
                break
        proc.kill()  # mid-copy, no chance to clean up
        proc.wait()
        conn = await asyncpg.connect(url)
        try:
            copied = await conn.fetchval("SELECT copied FROM activity_log_migration")
            assert 0 < copied < 20000
        finally:
            await conn.close()

        resumed = run_cli(mine, "partitions", "migrate", "--batch", "5000", timeout=180)
        assert resumed.returncode == 0, resumed.stderr
        assert "done: 20,000 rows copied" in resumed.stdout
        again = run_cli(mine, "partitions", "migrate")
        assert "partitioned already" in again.stdout
        conn = await asyncpg.connect(url)
        try:
            after = [r["id"] for r in await conn.fetch("SELECT id FROM lead_activity_log")]
            months = await conn.fetchval(
                "SELECT count(*) FROM pg_partition_tree('lead_activity_log') WHERE isleaf"
            )
        finally:
            await conn.close()
        assert len(after) == len(set(after)) == 20000
        assert set(after) == before
        assert months >= 5  # 2024-01 … 2024-04, the default, and the months ahead
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def test_retention_archive_and_restore_from_the_command_line(
    pool: asyncpg.Pool, settings: Settings, tmp_path: Path
) -> None:
    await pool.execute(
        """
        SELECT activity_log_add_month('2021-01-01');
        INSERT INTO leads (id, airtable_record_id) VALUES (gen_random_uuid(), 'recCli');
        INSERT INTO lead_activity_log
            (id, event_type, event_category, lead_id, description, source, "timestamp")
        SELECT gen_random_uuid(), 'MESSAGE_SENT', 'SMS', (SELECT id FROM leads),
               'old ' || i, 'n8n:old', '2021-01-01Z'::timestamptz + i * interval '1 hour'
        FROM generate_series(1, 300) AS i;
        INSERT INTO lead_activity_ids SELECT id, "timestamp" FROM lead_activity_log;
        -- The followers past these rows (following them for real waits for every
        -- transaction on the server to end).
        INSERT INTO log_followers (name, tx, position)
        SELECT f, (SELECT max(tx) FROM lead_activity_log), 1e12
        FROM unnest(ARRAY['counters', 'analytics']) AS f
        ON CONFLICT (name) DO UPDATE SET tx = EXCLUDED.tx, position = EXCLUDED.position;
        """
    )
    mine = settings.model_copy(update={"retention_months": 24, "archive_url": tmp_path.as_uri()})
    dry = run_cli(mine, "retention", "--dry-run")
    assert "would archive and drop 2021-01" in dry.stdout, dry.stderr
    assert await pool.fetchval("SELECT count(*) FROM lead_activity_log") == 300
    done = run_cli(mine, "retention")
    assert "archived 300 rows" in done.stdout, done.stderr
    assert await pool.fetchval("SELECT to_regclass('lead_activity_log_y2021m01')") is None
    listed = run_cli(mine, "archive", "list")
    assert "2021-01\t1 file(s)\t300 rows" in listed.stdout, listed.stderr
    refused = run_cli(mine, "counters", "rebuild")
    assert refused.returncode != 0
    assert "--forget-archived" in refused.stderr
    restored = run_cli(mine, "archive", "restore", "2021-01")
    assert "300 rows restored" in restored.stdout, restored.stderr
    twice = run_cli(mine, "archive", "restore", "2021-01")
    assert "0 rows restored" in twice.stdout
    assert await pool.fetchval("SELECT count(*) FROM lead_activity_log") == 300
