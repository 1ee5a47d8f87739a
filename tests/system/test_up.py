"""`activitylog up` with nothing configured: embedded servers, accepts an XADD, stores it."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import httpx
import orjson
import redis as redis_sync

from activitylog_testing.polling import wait_for
from activitylog_testing.ports import free_port
from support import REPO, event


async def test_up_with_embedded_servers_stores_an_xadd(tmp_path: Path, artifacts: Path) -> None:
    redis_port, api_port = free_port(), free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "ACTIVITY_STREAM"}
    }
    env |= {
        "DATA_DIR": str(tmp_path / "data"),
        "EMBEDDED_REDIS_PORT": str(redis_port),
        "API_PORT": str(api_port),
        "METRICS_PORT": "0",
    }
    log_path = artifacts / "up.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "activitylog_cli", "up"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )
    try:

        async def started() -> bool:
            assert proc.poll() is None, log_path.read_text()[-3000:]
            return "running; Ctrl-C stops everything cleanly" in log_path.read_text()

        await wait_for(started, timeout=120, message="`up` to start")
        client = redis_sync.Redis(port=redis_port)
        client.xadd("activity:events", {"payload": orjson.dumps(event(7))})
        client.close()
        pg_url = next(
            line.split()[2]
            for line in log_path.read_text().splitlines()
            if line.startswith("embedded PostgreSQL:")
        )

        async def stored() -> int:
            conn = await asyncpg.connect(pg_url)
            try:
                return int(await conn.fetchval("SELECT count(*) FROM lead_activity_log"))
            finally:
                await conn.close()

        assert await wait_for(stored, timeout=60, message="the event in PostgreSQL") == 1
        # The API runs in the same process and sees what the ingest stored.
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{api_port}") as http:
            assert (await http.get("/health/live")).status_code == 200
            health = (await http.get("/api/internal/activity-health")).json()
        assert health["events_last_hour"] == 1
    finally:
        started_at = time.monotonic()
        proc.send_signal(signal.SIGINT)
        code = await asyncio.to_thread(proc.wait, 30)
    assert code == 0, log_path.read_text()[-3000:]
    assert time.monotonic() - started_at < 15
    assert "stopped" in log_path.read_text()
